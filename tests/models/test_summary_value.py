"""Pattern compression is exact, and CLV discounts expected margin as documented."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clm.models import bgnbd, gamma_gamma, summary, value
from clm.models.fitting import Fit

days = st.integers(min_value=0, max_value=2000)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(days, days, days), min_size=1, max_size=200))
def test_compress_keeps_every_customer_on_its_pattern(rows: list[tuple[int, int, int]]) -> None:
    T = np.array([max(r) for r in rows])
    t_x = np.array([min(r[1], m) for r, m in zip(rows, T, strict=True)])
    x = np.array([min(r[0], t) for r, t in zip(rows, t_x, strict=True)])
    patterns, inverse = summary.compress(x, t_x, T, "week")
    assert patterns.n_customers == len(rows)
    np.testing.assert_array_equal(patterns.x[inverse], x)
    np.testing.assert_array_equal(patterns.t_x[inverse], t_x / 7)
    np.testing.assert_array_equal(patterns.T[inverse], T / 7)
    assert len(set(zip(x, t_x, T, strict=True))) == len(patterns.x)


def test_compress_refuses_negative_days() -> None:
    with pytest.raises(ValueError, match="pattern values"):
        summary.compress(np.array([0]), np.array([-1]), np.array([5]))


def fitted(model: str, params: dict[str, float]) -> Fit:
    return Fit(model, params, dict.fromkeys(params), 0.0, 1, True, 0, 0.0)


PURCHASES = fitted("bgnbd", {"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4})
SPEND = fitted("gamma_gamma", {"p": 6.25, "q": 3.74, "gamma": 15.44})
ONE = summary.from_days(np.array([2]), np.array([213]), np.array([272]), "week")


def test_clv_without_discounting_is_margin_times_spend_times_purchases() -> None:
    cfg = value.ValueSettings(horizon_days=90, margin=0.3, discount_rate=0.0, unit="week")
    outlook = value.outlook(PURCHASES, ONE, cfg)
    purchases = bgnbd.conditional_expected_purchases(
        PURCHASES.values(), 90 / 7, 2, 213 / 7, 272 / 7
    )
    assert outlook.expected_purchases[0] == pytest.approx(float(purchases), rel=1e-12)
    spend = value.expected_spend(SPEND, np.array([2.0]), np.array([22.35]))
    expected_spend = 6.25 * (15.44 + 2 * 22.35) / (6.25 * 2 + 3.74 - 1)
    assert spend[0] == pytest.approx(expected_spend, rel=1e-12)
    assert value.clv(outlook, spend, cfg)[0] == pytest.approx(
        0.3 * expected_spend * float(purchases)
    )


def test_clv_discounts_each_month_of_purchases() -> None:
    """By hand: purchases in months 1, 2, 3 (days 30, 60, 90), each discounted at its end."""
    cfg = value.ValueSettings(horizon_days=90, margin=1.0, discount_rate=0.25, unit="week")
    p = PURCHASES.values()
    cumulative = [
        0.0,
        *(
            float(bgnbd.conditional_expected_purchases(p, d / 7, 2, 213 / 7, 272 / 7))
            for d in (30, 60, 90)
        ),
    ]
    by_hand = sum(
        (cumulative[k + 1] - cumulative[k]) / 1.25 ** (d / 365) for k, d in enumerate((30, 60, 90))
    )
    outlook = value.outlook(PURCHASES, ONE, cfg)
    assert outlook.discounted_purchases[0] == pytest.approx(by_hand, rel=1e-12)
    assert outlook.discounted_purchases[0] < outlook.expected_purchases[0]


def test_one_time_buyers_get_the_population_mean_spend() -> None:
    spend = value.expected_spend(SPEND, np.array([0.0]), np.array([99.0]))
    assert spend[0] == pytest.approx(gamma_gamma.population_mean_spend(SPEND.values()))
    assert np.isnan(value.expected_spend(None, np.array([1.0]), np.array([5.0]))[0])


def test_patterns_and_fits_do_not_depend_on_row_order() -> None:
    """An engine returns customers in any order; the fit must come out bit for bit the same."""
    rng = np.random.default_rng(4)
    T = rng.integers(30, 400, 3000)
    t_x = (T * rng.random(3000)).astype(np.int64)
    x = np.minimum(rng.poisson(2, 3000), t_x)
    shuffled = rng.permutation(3000)
    first, _ = summary.compress(x, t_x, T)
    second, inverse = summary.compress(x[shuffled], t_x[shuffled], T[shuffled])
    for a, b in ((first.x, second.x), (first.T, second.T), (first.weight, second.weight)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(second.x[inverse], x[shuffled])
    assert bgnbd.fit(first).params == bgnbd.fit(second).params
