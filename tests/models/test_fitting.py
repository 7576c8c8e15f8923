"""The shared maximum likelihood machinery: standard errors and its time budget."""

from __future__ import annotations

import numpy as np
import pytest

from clm.errors import ScoringError
from clm.models import fitting


def normal_loglik(p: tuple[np.ndarray, ...], data: np.ndarray) -> np.ndarray:
    """ln N(data | μ, σ) per point (both parameters positive here)."""
    mu, sigma = p
    return np.asarray(-0.5 * ((data - mu) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi))


def test_normal_mle_and_standard_errors_match_the_closed_form() -> None:
    """The MLE of a normal is the mean and the (biased) standard deviation; their standard
    errors are σ/√n and σ/√(2n)."""
    data = np.random.default_rng(1).normal(10.0, 2.0, 5_000)
    fit = fitting.maximize(
        "normal", ("mu", "sigma"), lambda p: normal_loglik(p, data), np.ones_like(data), (1, 1)
    )
    n, sigma = len(data), data.std()
    assert fit.params["mu"] == pytest.approx(data.mean(), rel=1e-6)
    assert fit.params["sigma"] == pytest.approx(sigma, rel=1e-6)
    assert fit.stderr["mu"] == pytest.approx(sigma / np.sqrt(n), rel=1e-4)
    assert fit.stderr["sigma"] == pytest.approx(sigma / np.sqrt(2 * n), rel=1e-4)


def test_a_fit_past_its_time_budget_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fitting, "BUDGET_SECONDS", 0.0)
    data = np.arange(10.0)
    with pytest.raises(ScoringError, match=r"normal: no maximum within 0 s"):
        fitting.maximize(
            "normal", ("mu", "sigma"), lambda p: normal_loglik(p, data), np.ones(10), (1, 1)
        )


def test_no_customers_is_an_error() -> None:
    with pytest.raises(ScoringError, match="no customers"):
        fitting.maximize("m", ("a",), lambda p: np.zeros(0), np.zeros(0), (1.0,))


def test_a_line_search_stop_at_the_maximum_is_a_converged_fit() -> None:
    """Gamma-Gamma on 5,000 simulated repeat buyers (seed 0): L-BFGS-B ends with
    ABNORMAL_TERMINATION_IN_LNSRCH on the flat q–γ ridge, at the maximum. The fit is
    converged with standard errors, took no simplex restart (its iterations are L-BFGS-B's
    only), and agrees with an independent Nelder-Mead search of the same likelihood."""
    from scipy import optimize

    from clm.models import gamma_gamma

    rng = np.random.default_rng(0)
    x = 1 + rng.poisson(1.5, 5_000)
    z = rng.gamma(1.3 * x, 1 / rng.gamma(76.0, 1 / 3841.0, 5_000)) / x
    lbfgs = optimize.minimize(
        lambda t: -float(gamma_gamma.log_likelihood(tuple(np.exp(t)), x, z).sum()),
        np.zeros(3),
        method="L-BFGS-B",
        options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 2_000},
    )
    assert not lbfgs.success  # the situation this test is about

    fit = gamma_gamma.fit(x, z)
    assert fit.converged
    assert fit.iterations < 200
    assert all(fit.stderr[name] is not None for name in gamma_gamma.PARAMS)
    simplex = optimize.minimize(
        lambda t: -float(gamma_gamma.log_likelihood(tuple(np.exp(t)), x, z).sum()),
        np.log([fit.params[name] for name in gamma_gamma.PARAMS]) + 0.05,
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 5_000, "maxfev": 10_000},
    )
    # At least as high a likelihood, and the same point to a thousandth of a standard
    # error (along the ridge the likelihood is too flat for more digits from the simplex).
    assert fit.log_likelihood >= -simplex.fun - 1e-7
    for name, value in zip(gamma_gamma.PARAMS, np.exp(simplex.x), strict=True):
        assert abs(fit.params[name] - value) < 1e-3 * fit.stderr[name], name
