"""Hand-computed checks of the activity oracle (SPEC §4) before it judges clm."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from tests.oracles.activity import (
    ActivityOracle,
    ActivitySettings,
    activity_oracle,
    evaluation_time,
    next_best,
)

D = date(2024, 6, 30)
T = evaluation_time(D)  # 2024-07-01 00:00 UTC
VIEWS = ActivitySettings(weights={"purchase": 1.0, "product_view": 0.2})


def event(
    who: str,
    days_before_t: float,
    *,
    type: str = "purchase",
    amount: float | None = None,
    category: str | None = None,
    order: str | None = None,
    anonymous: str | None = None,
) -> dict[str, object]:
    """One event ``days_before_t`` days before ``t = D + 1 day``."""
    return {
        "customer_id": who or None,
        "anonymous_id": anonymous,
        "type": type,
        "ts": T - timedelta(days=days_before_t),
        "amount": amount,
        "category": category,
        "order_id": order,
    }


def run(rows: list[dict[str, object]], settings: ActivitySettings | None = None) -> ActivityOracle:
    return activity_oracle(pd.DataFrame(rows), D, settings)


def row(result: ActivityOracle, customer: str, scope: str) -> pd.Series:
    return result.activity.loc[("c:" + customer, scope)]


def test_evaluation_time_is_midnight_after_d() -> None:
    assert evaluation_time(D) == datetime(2024, 7, 1)


def test_one_purchase_one_half_life_ago_gives_one_half() -> None:
    result = run([event("c1", 30, amount=40.0, category="x")])
    r = row(result, "c1", "all")
    assert r["s_short"] == pytest.approx(0.5, rel=1e-15)
    assert r["s_long"] == pytest.approx(2 ** (-30 / 180), rel=1e-15)
    assert r["v_short"] == pytest.approx(20.0, rel=1e-15)
    # r_h = S_h · ln2 / h
    assert r["r_short"] == pytest.approx(0.5 * math.log(2) / 30, rel=1e-15)
    assert row(result, "c1", "x")["s_short"] == pytest.approx(0.5, rel=1e-15)
    result = run([event("c1", 180, amount=40.0)])
    assert row(result, "c1", "all")["s_long"] == pytest.approx(0.5, rel=1e-15)
    assert row(result, "c1", "all")["v_long"] == pytest.approx(20.0, rel=1e-15)


def test_as_of_d_excludes_midnight_after_d_and_counts_microseconds() -> None:
    rows = [
        event("c1", 0, amount=10.0),  # ts = D + 1 day: not as of D
        event("c1", -5, amount=10.0),  # later
        {**event("c1", 0, amount=10.0), "ts": T - timedelta(microseconds=1)},
        event("c2", -1, amount=10.0, category="z"),  # only later events: no row
    ]
    result = run(rows)
    assert list(result.activity.index) == [("c:c1", "all")]
    age = 1 / 86_400_000_000
    assert row(result, "c1", "all")["s_short"] == pytest.approx(2 ** (-age / 30), rel=1e-15)
    assert row(result, "c1", "all")["s_short"] < 1.0
    assert result.relations.empty


def test_weights_refunds_views_and_rows_of_weight_zero() -> None:
    rows = [
        event("c1", 30, amount=-15.0, category="x"),  # refund: weight 0, no V, still a row
        event("c1", 30, amount=0.0, category="y"),  # zero amount: weight 0
        event("c1", 30, type="product_view", category="w"),
        event("c1", 30, type="visit"),
        event("", 30, type="visit", anonymous="v1"),
    ]
    result = run(rows, VIEWS)
    assert set(result.activity.index) == {
        ("c:c1", "all"),
        ("c:c1", "w"),
        ("c:c1", "x"),
        ("c:c1", "y"),
        ("a:v1", "all"),
    }
    assert row(result, "c1", "all")["s_short"] == pytest.approx(0.2 * 0.5, rel=1e-15)
    assert row(result, "c1", "w")["s_short"] == pytest.approx(0.1, rel=1e-15)
    for scope in ("x", "y"):
        r = row(result, "c1", scope)
        assert (r["s_short"], r["s_long"], r["v_short"], r["v_long"]) == (0, 0, 0, 0)
        assert r["activity"] == 0.0 and r["trend"] == 50.0  # T = 100·ε / 2ε
    visitor = result.activity.loc[("a:v1", "all")]
    assert visitor["anonymous_id"] == "v1" and pd.isna(visitor["customer_id"])
    assert visitor["s_long"] == 0.0
    # without the product_view weight the view weighs nothing
    assert row(run(rows), "c1", "w")["s_short"] == 0.0


def test_anonymous_events_belong_to_the_linked_customer() -> None:
    rows = [
        event("", 10, type="visit", category="x", anonymous="v1"),
        event("c1", 5, type="visit", anonymous="v1"),  # links v1 to c1
        event("", 10, type="visit", anonymous="v2"),
    ]
    result = run(rows)
    assert set(result.activity.index) == {("c:c1", "all"), ("c:c1", "x"), ("a:v2", "all")}


def test_steady_stream_has_trend_50_and_a_new_stream_rises() -> None:
    # One purchase a day for ten years, at ages 0.5, 1.5, ...: both rates are ≈ 1 per day
    # (midpoint rule), so T = 100·(1 + ε)/(2 + 2ε) ≈ 50.
    steady = [event("c1", k + 0.5, amount=1.0) for k in range(3650)]
    # The same stream for the last 20 days only: r_s ≫ r_l.
    new = [event("c2", k + 0.5, amount=1.0) for k in range(20)]
    result = run(steady + new)
    r = row(result, "c1", "all")
    assert r["r_short"] == pytest.approx(1.0, abs=1e-3)
    assert r["r_long"] == pytest.approx(1.0, abs=1e-3)
    assert r["trend"] == pytest.approx(50.0, abs=0.05)
    assert not r["rising"]  # T < 60
    r = row(result, "c2", "all")
    assert r["trend"] > 70 and r["s_long"] >= 3
    assert r["rising"]
    # rising needs S_hl ≥ 3 as well: two recent purchases are not enough
    result = run([event("c3", 1, amount=1.0), event("c3", 2, amount=1.0)])
    r = row(result, "c3", "all")
    assert r["trend"] > 60 and r["s_long"] < 3 and not r["rising"]


def test_the_median_active_profile_has_activity_50() -> None:
    # S_hl ≥ 1 needs two recent purchases; c4 (one purchase) is not active and does not count.
    rows = [
        *[event("c1", d, amount=1.0) for d in (1, 2)],
        *[event("c2", d, amount=1.0) for d in (30, 30)],  # S_hs = 1 exactly
        *[event("c3", d, amount=1.0) for d in (60, 60, 60, 60, 60)],  # S_hs = 5/4
        event("c4", 1, amount=1.0),
    ]
    result = run(rows)
    ln2 = math.log(2)
    s_c1 = 2 ** (-1 / 30) + 2 ** (-2 / 30)
    # three active profiles: the median r_hs is c3's, r = (5/4)·ln2/30, so κ = 5/4
    assert result.n_active == 3
    assert result.r_ref["all"] == pytest.approx(1.25 * ln2 / 30, rel=1e-15)
    assert result.kappa["all"] == pytest.approx(1.25, rel=1e-15)
    assert row(result, "c3", "all")["activity"] == pytest.approx(50.0, rel=1e-14)
    assert row(result, "c2", "all")["activity"] == pytest.approx(100 * 1 / 2.25, rel=1e-14)
    assert row(result, "c1", "all")["activity"] == pytest.approx(
        100 * s_c1 / (s_c1 + 1.25), rel=1e-14
    )
    # an even count takes the mean of the two middle values
    result = run([*rows, *[event("c5", 90, amount=1.0) for _ in range(8)]])  # S_hs = 1
    assert result.n_active == 4
    assert result.kappa["all"] == pytest.approx((1.0 + 1.25) / 2, rel=1e-15)


def test_a_scope_without_active_profiles_uses_the_kappa_of_all() -> None:
    rows = [
        *[event("c1", 30, amount=1.0, category="x") for _ in range(4)],  # S_hs = 2 in all and x
        event("c2", 30, type="product_view", category="w"),
    ]
    result = run(rows, VIEWS)
    assert result.r_ref.keys() == {"all", "x"}
    assert result.kappa["w"] == result.kappa["all"] == pytest.approx(2.0, rel=1e-15)
    assert row(result, "c2", "w")["activity"] == pytest.approx(100 * 0.1 / 2.1, rel=1e-14)
    # nobody active at all: κ = 1
    result = run([event("c2", 30, type="product_view", category="w")], VIEWS)
    assert result.r_ref == {} and result.kappa == {"all": 1.0, "w": 1.0}


def test_affinity_by_hand() -> None:
    # Every line 180 days before t (decay 1/2):
    #   c1: order o1 = x 100 + y 100;  c2: x 200, and a refund of 50 in y (its own order).
    #   V_long: c1 x 50, y 50, all 100; c2 x 100, all 100 (the refund has no V).
    #   π_x = 150/200 = 0.75, π_y = 50/200 = 0.25.
    #   Positive orders: o1 = 200 and c2's 200 → mean 200, m = 600.
    #   I(c1, y) = 100·((50 + 600·0.25)/(100 + 600))/0.25 = 100·(200/700)/0.25 = 114.2857…
    #   I(c1, x) = 100·((50 + 450)/700)/0.75 = 95.238…;  I(c2, x) = 100·((100 + 450)/700)/0.75.
    #   I(c2, y) = 100·((0 + 150)/700)/0.25 = 85.714… (a row from the refund).
    rows = [
        event("c1", 180, amount=100.0, category="x", order="o1"),
        event("c1", 180, amount=100.0, category="y", order="o1"),
        event("c2", 180, amount=200.0, category="x"),
        event("c2", 180, amount=-50.0, category="y"),
    ]
    result = run(rows)
    assert result.pi == pytest.approx({"x": 0.75, "y": 0.25}, rel=1e-15)
    assert result.m == pytest.approx(600.0, rel=1e-15)
    assert row(result, "c1", "y")["affinity"] == pytest.approx(100 * (200 / 700) / 0.25)
    assert row(result, "c1", "x")["affinity"] == pytest.approx(100 * (500 / 700) / 0.75)
    assert row(result, "c2", "x")["affinity"] == pytest.approx(100 * (550 / 700) / 0.75)
    assert row(result, "c2", "y")["affinity"] == pytest.approx(100 * (150 / 700) / 0.25)
    assert np.isnan(row(result, "c1", "all")["affinity"])


def test_affinity_is_null_where_pi_is_zero_and_100_without_spend() -> None:
    rows = [
        event("c1", 10, amount=10.0, category="x"),
        event("c2", 10, type="product_view", category="w"),
        event("c3", 10, type="product_view", category="x"),
    ]
    result = run(rows, VIEWS)
    assert result.pi == {"w": 0.0, "x": 1.0}
    assert np.isnan(row(result, "c2", "w")["affinity"])
    # no spend at all: ((0 + m·π)/(0 + m))/π = 1
    assert row(result, "c3", "x")["affinity"] == pytest.approx(100.0, rel=1e-15)


def test_lift_two_customers_two_categories() -> None:
    # c1 buys twice in x and twice in y (S_hl ≈ 2 in x, y and 4 in all);
    # c2 buys twice in x and once in y (S_hl ≈ 1 in y: one purchase, not active there).
    #   N = 2 (both active in all), n_x = 2, n_y = 1, n_xy = 1.
    #   lift(x, y) = N·n_xy/(n_x·n_y) = 2·1/(2·1) = 1;  lift(y, y) = 2·1/(1·1) = 2;
    #   lift(x, x) = 2·2/(2·2) = 1.
    rows = [
        *[event("c1", d, amount=10.0, category=c) for d in (1, 2) for c in ("x", "y")],
        *[event("c2", d, amount=10.0, category="x") for d in (1, 2)],
        event("c2", 3, amount=10.0, category="y"),
    ]
    result = run(rows)
    rel = result.relations.set_index(["a", "b"])
    assert result.n_active == 2
    assert list(rel.index) == [("x", "x"), ("x", "y"), ("y", "x"), ("y", "y")]
    assert rel.loc[("x", "y"), ["n_a", "n_b", "n_ab"]].tolist() == [2, 1, 1]
    assert rel.loc[("x", "x"), "n_ab"] == 2  # the diagonal: n_aa = n_a
    assert rel["lift"].tolist() == [1.0, 1.0, 1.0, 2.0]


def test_lift_is_null_where_a_category_has_no_active_profile() -> None:
    rows = [*[event("c1", d, amount=1.0, category="x") for d in (1, 2)]]
    rows.append(event("c1", 1, amount=1.0, category="y"))
    rel = run(rows).relations.set_index(["a", "b"])
    assert rel.loc[("x", "x"), "lift"] == 1.0
    assert np.isnan(rel.loc[("x", "y"), "lift"]) and np.isnan(rel.loc[("y", "x"), "lift"])
    assert rel.loc[("y", "y"), "n_a"] == 0 and np.isnan(rel.loc[("y", "y"), "lift"])


def test_correlation_over_buyers_with_zeros() -> None:
    # Amounts 2·(e^k − 1) 180 days before t give V_long = e^k − 1, so log1p(V) = k:
    #   buyer b1: x 1, y 1;  b2: x 2, y 3;  b3: x 3, y 2;  b4: bought without a category (0, 0).
    #   A visitor of x who never bought is not a buyer. Means 1.5, 1.5;
    #   deviations x (−.5, .5, 1.5, −1.5), y (−.5, 1.5, .5, −1.5);
    #   Σdxdy = .25 + .75 + .75 + 2.25 = 4, Σdx² = Σdy² = 5 → r = 0.8.
    def spend(k: int) -> float:
        return 2 * math.expm1(k)

    rows = [
        event("b1", 180, amount=spend(1), category="x"),
        event("b1", 180, amount=spend(1), category="y"),
        event("b2", 180, amount=spend(2), category="x"),
        event("b2", 180, amount=spend(3), category="y"),
        event("b3", 180, amount=spend(3), category="x"),
        event("b3", 180, amount=spend(2), category="y"),
        event("b4", 180, amount=5.0),
        event("v", 1, type="product_view", category="x"),
    ]
    rel = run(rows, VIEWS).relations.set_index(["a", "b"])["correlation"]
    # amounts are rounded to 4 decimals, so log1p(V) is k only to about 1e-5
    assert rel[("x", "y")] == pytest.approx(0.8, abs=1e-4)
    assert rel[("y", "x")] == rel[("x", "y")]
    assert rel[("x", "x")] == pytest.approx(1.0, rel=1e-15)


def test_correlation_is_null_for_a_constant_category() -> None:
    rows = [
        event("b1", 10, amount=10.0, category="x"),
        event("b2", 10, amount=20.0, category="x"),
        event("b2", 10, amount=-5.0, category="y"),  # a row in y, but no V there
    ]
    rel = run(rows).relations.set_index(["a", "b"])["correlation"]
    assert rel[("x", "x")] == pytest.approx(1.0)
    assert rel[[("x", "y"), ("y", "x"), ("y", "y")]].isna().all()


def test_next_best_by_hand() -> None:
    # Active (S_hl ≥ 1) sets: c1 {x, y}, c2 {x, y}, c3 {z}, c4 {x}; all four active in all.
    #   N = 4, n_x = 3, n_y = 2, n_z = 1, n_xy = 2, n_xz = n_yz = 0.
    #   lift(x, y) = 4·2/(3·2) = 4/3, lift(y, y) = 4·2/(2·2) = 2, lift(x, z) = 0,
    #   lift(z, z) = 4, lift(x, x) = 4·3/9 = 4/3.
    # c4 also viewed y once (a row in y with S_hl = 0.2·decay < 1), so for c4:
    #   score(y) = A_x·(4/3 − 1) + A_y·(2 − 1)  (a = c included);  score(z) = A_x·0 = 0.
    # c3: score(x) = A_z·max(0 − 1, 0) = 0, same for y: no next best.
    def twice(who: str, category: str) -> list[dict[str, object]]:
        return [event(who, d, amount=5.0, category=category) for d in (3, 4)]

    rows = [
        *twice("c1", "x"),
        *twice("c1", "y"),
        *twice("c2", "x"),
        *twice("c2", "y"),
        *twice("c3", "z"),
        *twice("c4", "x"),
        event("c4", 1, type="product_view", category="y"),
    ]
    result = run(rows, VIEWS)
    lift = result.relations.set_index(["a", "b"])["lift"]
    assert lift[("x", "y")] == pytest.approx(4 / 3) and lift[("y", "y")] == 2.0
    assert lift[("x", "z")] == 0.0 and lift[("z", "z")] == 4.0
    a_x, a_y = row(result, "c4", "x")["activity"], row(result, "c4", "y")["activity"]
    assert a_y > 0
    [(category, score)] = result.next_best["c:c4"]
    assert category == "y"
    assert score == pytest.approx(a_x * (4 / 3 - 1) + a_y * 1.0, rel=1e-14)
    assert result.next_best["c:c3"] == []
    assert result.next_best["c:c1"] == []  # active in x and y; z has lift 0 with both


def test_next_best_keeps_the_top_three_and_breaks_ties_by_name() -> None:
    categories = ["a", "b", "c", "d", "e"]
    index = pd.MultiIndex.from_tuples([("p", "all"), ("p", "a")], names=["profile", "scope"])
    scored = pd.DataFrame({"activity": [10.0, 10.0], "s_long": [5.0, 5.0]}, index=index)
    lift = pd.DataFrame(1.0, index=categories, columns=categories)
    lift.loc["a"] = [9.0, 1.5, 2.0, 1.5, 1.5]  # b, d and e tie below c; a itself is active
    best = next_best(scored, lift, categories, top=3)
    assert best == {"p": [("c", 10.0), ("b", 5.0), ("d", 5.0)]}
