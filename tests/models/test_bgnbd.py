"""BG/NBD against the paper, its spreadsheet's numbers, a direct formula and simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from clm.models import bgnbd, summary
from tests.models.cdnow import prepare

# Fader, Hardie & Lee (2005), Table 1 / the spreadsheet, full precision.
PUBLISHED = {"r": 0.2425945, "alpha": 4.4136019, "a": 0.7929199, "b": 2.4258881}
PUBLISHED_LL = -9582.429
PAPER = tuple(PUBLISHED.values())


def direct_log_likelihood(p: tuple[float, ...], x: int, t_x: float, T: float) -> float:
    """Eq. (6) written naively with gamma and beta functions (fine for small x)."""
    r, alpha, a, b = p
    head = special.gamma(r + x) * alpha**r / special.gamma(r)
    first = special.beta(a, b + x) / special.beta(a, b) / (alpha + T) ** (r + x)
    second = 0.0
    if x > 0:
        second = special.beta(a + 1, b + x - 1) / special.beta(a, b) / (alpha + t_x) ** (r + x)
    return float(np.log(head * (first + second)))


def test_one_customer_log_likelihood_matches_published_values() -> None:
    p = (0.25, 4.0, 0.8, 2.5)
    assert bgnbd.log_likelihood(p, 0, 0, 40) == pytest.approx(-0.59947382, abs=1e-8)
    # x = 200 overflows a direct implementation; log space gives the spreadsheet's value.
    assert bgnbd.log_likelihood(p, 200, 38, 40) == pytest.approx(100.7957, abs=1e-4)


@pytest.mark.parametrize(("x", "t_x", "T"), [(0, 0.0, 12.5), (1, 3.0, 30.0), (7, 25.2, 38.9)])
def test_log_likelihood_equals_the_direct_formula(x: int, t_x: float, T: float) -> None:
    p = (0.3, 5.0, 1.2, 2.0)
    assert bgnbd.log_likelihood(p, x, t_x, T) == pytest.approx(
        direct_log_likelihood(p, x, t_x, T), rel=1e-12
    )


def test_fit_on_cdnow_sample_matches_the_paper() -> None:
    data = prepare()
    patterns, _ = summary.compress(data.x, data.t_x_days, data.t_days, "week")
    assert (patterns.n_customers, patterns.n_repeat_buyers) == (2357, 946)
    assert float((patterns.x * patterns.weight).sum()) == 2457
    fit = bgnbd.fit(patterns)
    assert fit.converged
    for name, value in PUBLISHED.items():
        assert fit.params[name] == pytest.approx(value, rel=1e-4), name
    assert fit.log_likelihood == pytest.approx(PUBLISHED_LL, abs=1e-3)
    assert all(se is not None and se > 0 for se in fit.stderr.values())


def test_weighted_patterns_fit_like_every_customer() -> None:
    data = prepare()
    patterns, _ = summary.compress(data.x, data.t_x_days, data.t_days, "week")
    everyone = summary.from_days(data.x, data.t_x_days, data.t_days, "week")
    assert len(patterns.x) < len(everyone.x) / 2
    weighted, plain = bgnbd.fit(patterns), bgnbd.fit(everyone)
    for name in bgnbd.PARAMS:
        assert weighted.params[name] == pytest.approx(plain.params[name], rel=1e-9)
    assert weighted.log_likelihood == pytest.approx(plain.log_likelihood, rel=1e-12)


def test_expected_purchases_match_the_spreadsheet() -> None:
    got = bgnbd.expected_purchases(PAPER, np.array([1.0, 3.0, 32.0]))
    np.testing.assert_allclose(got, [0.0532, 0.1506, 1.0437], atol=5e-5)
    # The README's 1.8576 at 78 weeks comes from rounded inputs; eq. (9) at the
    # full-precision parameters gives 1.85796, and the sum over P(X(t) = n) agrees below.
    assert float(bgnbd.expected_purchases(PAPER, 78.0)) == pytest.approx(1.8576, abs=5e-4)


@pytest.mark.parametrize("t", [1.0, 39.0, 78.0])
def test_expected_purchases_equal_the_mean_of_the_distribution(t: float) -> None:
    n = np.arange(0, 4000)
    pmf = bgnbd.pmf(PAPER, t, n)
    assert float(pmf.sum()) == pytest.approx(1.0, abs=1e-9)
    assert float((n * pmf).sum()) == pytest.approx(
        float(bgnbd.expected_purchases(PAPER, t)), rel=1e-9
    )


def test_probabilities_match_btyd() -> None:
    """BTYD's documented values (at its rounded parameters)."""
    btyd = (0.243, 4.414, 0.793, 2.426)
    assert float(bgnbd.pmf(btyd, 39.0, 0)) == pytest.approx(0.5737864, abs=1e-7)
    assert float(bgnbd.pmf(btyd, 2.0, 10)) == pytest.approx(1.07869e-07, rel=1e-4)


def test_conditional_expectation_and_p_alive() -> None:
    got = bgnbd.conditional_expected_purchases(PAPER, 39.0, 2, 30.43, 38.86)
    assert float(got) == pytest.approx(1.226, abs=5e-4)
    # No repeat purchase: BG/NBD's customer cannot have dropped out yet.
    assert float(bgnbd.p_alive(PAPER, 0, 0.0, 30.0)) == 1.0
    # A long silence after many purchases makes dropping out likely; large x stays finite.
    quiet, recent = bgnbd.p_alive(PAPER, [20, 20], [5.0, 38.0], [39.0, 39.0])
    assert 0.0 < quiet < 0.01 < 0.9 < recent <= 1.0
    assert np.isfinite(bgnbd.conditional_expected_purchases(PAPER, 39.0, 500, 38.0, 39.0))


def simulate(
    p: tuple[float, ...], T: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, ...]:
    """Customers drawn from the BG/NBD story (FHL 2005, §3), in days (1 unit = 1 day)."""
    r, alpha, a, b = p
    lam = rng.gamma(r, 1 / alpha, len(T))
    drop = rng.beta(a, b, len(T))
    x = np.zeros(len(T), dtype=np.int64)
    t_x = np.zeros(len(T))
    for i, horizon in enumerate(T):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > horizon:
                break
            x[i] += 1
            t_x[i] = t
            if rng.random() < drop[i]:
                break
    return x, t_x


def test_fit_recovers_simulated_parameters() -> None:
    truth = (0.6, 12.0, 0.9, 3.0)
    rng = np.random.default_rng(7)
    T = rng.uniform(100, 400, 20_000)
    x, t_x = simulate(truth, T, rng)
    fit = bgnbd.fit(summary.Summary(x.astype(float), t_x, T, np.ones(len(T))))
    for (name, value), true in zip(fit.params.items(), truth, strict=True):
        se = fit.stderr[name]
        assert se is not None
        assert abs(value - true) < 3 * se, (name, value, true, se)


def test_the_homogeneous_dropout_limit_is_the_limit_of_the_likelihood() -> None:
    """B(a, b + x)/B(a, b) → (1 − p)^x as a, b → ∞ with a/(a + b) = p: the gap to the
    limit shrinks like 1/(a + b)."""
    r, alpha, p = 0.4, 4.0, 0.05
    x, t_x, T = np.array([0, 1, 4, 12]), np.array([0.0, 3.0, 20.0, 37.0]), np.full(4, 40.0)
    limit = bgnbd.limit_log_likelihood((r, alpha, p / (1 - p)), x, t_x, T)
    gaps = [
        np.abs(bgnbd.log_likelihood((r, alpha, p * k, (1 - p) * k), x, t_x, T) - limit).max()
        for k in (1e3, 1e4, 1e5)
    ]
    assert gaps[0] > 5 * gaps[1] > 25 * gaps[2]
    assert gaps[2] < 1e-3


def test_homogeneous_dropout_data_fit_the_limit() -> None:
    """Simulated with one dropout probability for all (a Beta with a, b → ∞): the limit
    model recovers p, r and α."""
    rng = np.random.default_rng(5)
    n, p = 20_000, 0.1
    T = rng.uniform(100, 400, n)
    lam = rng.gamma(0.6, 1 / 12.0, n)
    x = np.zeros(n, dtype=np.int64)
    t_x = np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T[i]:
                break
            x[i] += 1
            t_x[i] = t
            if rng.random() < p:
                break
    data = summary.Summary(x.astype(float), t_x, T, np.ones(n))
    # On a finite sample the four-parameter maximum may be interior, far out on the ridge
    # with a flat likelihood (a, b in the thousands, huge standard errors); p is clear.
    four = bgnbd.fit(data)
    assert four.params["a"] / (four.params["a"] + four.params["b"]) == pytest.approx(p, abs=0.005)
    fit = bgnbd.fit_homogeneous_dropout(data, four)
    assert fit.extra["dropout"] == "homogeneous"
    assert abs(fit.extra["p"] - p) < 3 * fit.extra["p_stderr"]
    assert fit.params["a"] / (fit.params["a"] + fit.params["b"]) == pytest.approx(fit.extra["p"])
    assert fit.log_likelihood >= four.log_likelihood - 1e-3
    for name, true in (("r", 0.6), ("alpha", 12.0)):
        se = fit.stderr[name]
        assert se is not None and abs(fit.params[name] - true) < 3 * se, name
