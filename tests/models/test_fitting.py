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
