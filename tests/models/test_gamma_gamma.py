"""Gamma-Gamma against the published fit and conditional expectations, and simulation."""

from __future__ import annotations

import numpy as np
import pytest

from clm.errors import ScoringError
from clm.models import gamma_gamma
from tests.models.cdnow import prepare

# Fader & Hardie (2013), on the CDNOW sample's 946 repeat buyers.
PUBLISHED = {"p": 6.25, "q": 3.74, "gamma": 15.44}
PUBLISHED_LL = -4055.918


def test_fit_on_cdnow_sample_matches_the_note() -> None:
    data = prepare()
    fit = gamma_gamma.fit(data.x, data.zbar)
    assert fit.n_customers == 946
    for name, value in PUBLISHED.items():
        assert fit.params[name] == pytest.approx(value, abs=0.005), name
    assert fit.log_likelihood == pytest.approx(PUBLISHED_LL, abs=1e-3)
    # The conditional expected spend of customers 1–10 and the population mean.
    spend = gamma_gamma.conditional_expected_spend(fit.values(), data.x[:10], data.zbar[:10])
    expected = [24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17]
    np.testing.assert_allclose(spend, expected, atol=0.005)
    assert gamma_gamma.population_mean_spend(fit.values()) == pytest.approx(35.17, abs=0.005)


def test_weights_fit_like_repeated_rows() -> None:
    """Every repeat buyer of the sample three times, or once with weight 3."""
    data = prepare()
    weighted = gamma_gamma.fit(data.x, data.zbar, np.full(len(data.x), 3.0))
    plain = gamma_gamma.fit(np.tile(data.x, 3), np.tile(data.zbar, 3))
    for name in gamma_gamma.PARAMS:
        assert weighted.params[name] == pytest.approx(plain.params[name], rel=1e-7)
    assert weighted.n_customers == plain.n_customers == 3 * 946


def test_one_time_buyers_are_left_out_and_none_left_is_an_error() -> None:
    with pytest.raises(ScoringError, match="no repeat buyers"):
        gamma_gamma.fit([0, 0], [0.0, 0.0])


def test_fit_recovers_simulated_parameters() -> None:
    """Spend drawn from the model's story: ν ~ Gamma(q, γ), each z ~ Gamma(p, ν)."""
    truth = (5.0, 4.0, 20.0)
    p, q, g = truth
    rng = np.random.default_rng(3)
    n = 20_000
    x = rng.integers(1, 10, n)
    nu = rng.gamma(q, 1 / g, n)
    zbar = rng.gamma(p * x, 1 / nu) / x  # the mean of x draws of Gamma(p, ν)
    fit = gamma_gamma.fit(x, zbar)
    for (name, value), true in zip(fit.params.items(), truth, strict=True):
        se = fit.stderr[name]
        assert se is not None
        assert abs(value - true) < 3 * se, (name, value, true, se)
