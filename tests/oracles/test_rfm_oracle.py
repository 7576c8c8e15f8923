"""Hand-computed cases that check the pandas oracle itself against SPEC §1–3.

Every expected number below is worked out by hand in the comments, from SPEC.md alone.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from tests.oracles.rfm import cut_points, percentile_disc, rfm_oracle

Line = tuple[str, str, float, str | None]


def lines(rows: list[Line]) -> pd.DataFrame:
    """Purchase lines from ``(customer_id, ts, amount, order_id)`` tuples.

    Times are parsed as UTC (a time with an offset is converted), so the oracle also sees
    zone-aware input here.
    """
    frame = pd.DataFrame(rows, columns=["customer_id", "ts", "amount", "order_id"])
    frame["ts"] = pd.to_datetime(frame["ts"], format="ISO8601", utc=True)
    return frame


def visits(rows: list[tuple[str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "ts"])
    frame["ts"] = pd.to_datetime(frame["ts"], format="ISO8601")
    return frame


# -- PERCENTILE_DISC (SPEC §2) -----------------------------------------------------------------


def test_percentile_disc_five_values_p02_picks_the_first() -> None:
    # n = 5: the cumulative share of v_i is i/5; p = 0.2 is reached by v_1 already (1/5 ≥ 0.2).
    values = np.array([50, 10, 40, 20, 30])
    assert percentile_disc(values, Fraction(1, 5)) == 10
    # 0.4 -> v_2 (2/5), 0.6 -> v_3 (3/5 ≥ 0.6 holds with equality), 0.8 -> v_4.
    assert list(cut_points(values)) == [10, 20, 30, 40]


def test_percentile_disc_other_sizes_and_ties() -> None:
    # n = 4: ceil(0.8) = 1, ceil(1.6) = 2, ceil(2.4) = 3, ceil(3.2) = 4.
    assert list(cut_points(np.array([4, 3, 2, 1]))) == [1, 2, 3, 4]
    # n = 10: ceil(2, 4, 6, 8) -> v_2, v_4, v_6, v_8 (equality again: 6/10 ≥ 0.6).
    assert list(cut_points(np.arange(1, 11))) == [2, 4, 6, 8]
    # n = 3: ceil(0.6, 1.2, 1.8, 2.4) = 1, 2, 2, 3.
    assert list(cut_points(np.array([-90, -59, -85]))) == [-90, -85, -85, -59]
    # Ties: [1, 1, 1, 2, 3]; the value 1 has cumulative share 3/5, so it answers 0.2, 0.4, 0.6.
    assert list(cut_points(np.array([3, 1, 2, 1, 1]))) == [1, 1, 1, 2]
    # One value answers every quantile.
    assert list(cut_points(np.array([7]))) == [7, 7, 7, 7]
    with pytest.raises(ValueError):
        percentile_disc(np.array([]), Fraction(1, 5))


def test_five_buyers_monetary_scores_one_to_five() -> None:
    # Five one-order buyers spending 10..50: m cuts = (10, 20, 30, 40) and
    # M = 1 + #{c < m} = 1, 2, 3, 4, 5.
    frame = lines([(f"c{i}", "2020-06-01 12:00", 10.0 * i, None) for i in range(1, 6)])
    result = rfm_oracle(frame, "2020-06-30")
    assert result.m_cuts == (10.0, 20.0, 30.0, 40.0)
    assert list(result.scores["m_score"]) == [1, 2, 3, 4, 5]
    # All bought on the same day: every -recency is -29, every R cut is -29, R = 1 for all.
    assert result.r_cuts == (-29.0, -29.0, -29.0, -29.0)
    assert list(result.scores["r_score"]) == [1] * 5


# -- Orders, refunds, the window (SPEC §1, §2) ------------------------------------------------


# a: one order of 100 on Jun 1, then a refund of 30 (a line of its own) on Jun 29.
#    recency = Jun 30 - Jun 1 = 29 (the refund is not an order), F = 1, M = 70.
# r: only a refund -> no positive order: not a buyer, M = -10, Prospect.
# z: an order whose lines sum to 0 (2.55 - 2.55) and one of 0.1 + 0.2 - 0.3 = 0 (exactly, at 4
#    decimals; floats would say 5.5e-17 > 0): no positive order.
# n: an order of +50 and -20 in the same order is positive (30 > 0): F = 1, M = 30.
REFUND_ROWS: list[Line] = [
    ("a", "2020-06-01 10:00", 100.0, "o1"),
    ("a", "2020-06-29 10:00", -30.0, None),
    ("r", "2020-06-15 10:00", -10.0, None),
    ("z", "2020-06-10 10:00", 2.55, "z1"),
    ("z", "2020-06-10 10:00", -2.55, "z1"),
    ("z", "2020-06-11 10:00", 0.1, "z2"),
    ("z", "2020-06-11 10:00", 0.2, "z2"),
    ("z", "2020-06-11 10:00", -0.3, "z2"),
    ("n", "2020-06-20 10:00", 50.0, "n1"),
    ("n", "2020-06-21 10:00", -20.0, "n1"),
]


def test_refunds_lower_m_and_never_count_for_r_or_f() -> None:
    s = rfm_oracle(lines(REFUND_ROWS), "2020-06-30").scores
    assert s.loc["a", ["recency_days", "frequency", "n_orders_life"]].tolist() == [29, 1, 1]
    assert s.loc["a", "monetary"] == pytest.approx(70.0)
    assert s.loc["r", "n_orders_life"] == 0 and s.loc["r", "frequency"] == 0
    assert pd.isna(s.loc["r", "recency_days"]) and pd.isna(s.loc["r", "r_score"])
    assert s.loc["r", "monetary"] == pytest.approx(-10.0)
    assert (s.loc["r", "segment"], s.loc["r", "phase"]) == ("Prospect", None)
    assert s.loc["z", "n_orders_life"] == 0 and s.loc["z", "monetary"] == 0.0
    assert s.loc["n", ["recency_days", "frequency", "n_orders_life"]].tolist() == [10, 1, 1]
    assert s.loc["n", "monetary"] == pytest.approx(30.0)


# b: order o7 has lines on Jun 10, Jun 1 and Jun 20 -> one order at Jun 1 08:00:
#    recency 29 (not 10), F = 1, M = 10 + 5 + 1 = 16.
# c: the same order id at another customer is another order.
# d: two identical lines without order id are two orders.
ORDER_ROWS: list[Line] = [
    ("b", "2020-06-10 12:00", 10.0, "o7"),
    ("b", "2020-06-01 08:00", 5.0, "o7"),
    ("b", "2020-06-20 09:00", 1.0, "o7"),
    ("c", "2020-06-25 09:00", 3.0, "o7"),
    ("d", "2020-06-30 09:00", 4.0, None),
    ("d", "2020-06-30 09:00", 4.0, None),
]


def test_an_order_of_several_lines_counts_once_at_its_earliest_line() -> None:
    s = rfm_oracle(lines(ORDER_ROWS), "2020-06-30").scores
    cols = ["recency_days", "frequency", "n_orders_life", "monetary"]
    assert s.loc["b", cols].tolist() == [29, 1, 1, 16.0]
    assert s.loc["c", cols].tolist() == [5, 1, 1, 3.0]
    assert s.loc["d", cols].tolist() == [0, 2, 2, 8.0]


# D = 2020-06-30, W = 30: the window is 2020-06-01 00:00 <= ts < 2020-07-01 00:00.
# in: orders exactly at the window start and at D 23:59:59 both count.
# out: a second before the window start (life only) and D + 1 00:00 (not at all).
#      recency = Jun 30 - May 31 = 30, F = 0, M = 0, n_orders_life = 1.
# straddle: one order starting a second before the window: its time is outside (F = 0) but its
#      line inside W counts for M (5).
# late: an order on D + 1 does not exist as of D, nor does its customer.
# tz: 23:30 at UTC-2 on D is 01:30 UTC on D + 1: excluded too.
BOUNDARY_ROWS: list[Line] = [
    ("in", "2020-06-01 00:00:00", 10.0, None),
    ("in", "2020-06-30 23:59:59", 20.0, None),
    ("out", "2020-05-31 23:59:59", 10.0, None),
    ("out", "2020-07-01 00:00:00", 20.0, None),
    ("straddle", "2020-05-31 23:59:59", 10.0, "s1"),
    ("straddle", "2020-06-01 00:00:00", 5.0, "s1"),
    ("late", "2020-07-01 00:00:00", 20.0, None),
    ("tz", "2020-06-30 23:30:00-02:00", 20.0, None),
]
BOUNDARY_VISITS = [
    ("v_start", "2020-06-01 00:00:00"),  # in W
    ("v_last", "2020-06-30 23:59:59"),  # in W
    ("v_out", "2020-05-31 23:59:59"),  # before W
    ("v_out", "2020-07-01 00:00:00"),  # after D
    ("v_future", "2020-07-01 00:00:00"),  # after D, and nothing before
]


def test_window_boundaries() -> None:
    seen = visits(BOUNDARY_VISITS)
    s = rfm_oracle(lines(BOUNDARY_ROWS), "2020-06-30", window_days=30, visits=seen).scores
    cols = ["recency_days", "frequency", "n_orders_life", "monetary"]
    assert s.loc["in", cols].tolist() == [0, 2, 2, 30.0]
    assert s.loc["out", cols].tolist() == [30, 0, 1, 0.0]
    assert s.loc["straddle", cols].tolist() == [30, 0, 1, 5.0]
    assert s.loc["out", "f_score"] == 1  # frequency 0 -> F = 1
    # Customers first seen after D do not exist yet as of D.
    assert "late" not in s.index and "tz" not in s.index and "v_future" not in s.index
    assert s.loc["v_start", "segment"] == "Engaged Visitors"
    assert s.loc["v_last", "segment"] == "Engaged Visitors"
    assert (s.loc["v_out", "segment"], s.loc["v_out", "phase"]) == ("Prospect", None)


# D = 2020-06-30: D + 1 - 365 days = 2019-07-02 (2020 has Feb 29).
DEFAULT_WINDOW_ROWS: list[Line] = [
    ("a", "2019-07-02 00:00:00", 10.0, None),
    ("b", "2019-07-01 23:59:59", 10.0, None),
]


def test_default_window_is_365_days() -> None:
    s = rfm_oracle(lines(DEFAULT_WINDOW_ROWS), "2020-06-30").scores
    assert s.loc["a", ["frequency", "monetary", "recency_days"]].tolist() == [1, 10.0, 364]
    assert s.loc["b", ["frequency", "monetary", "recency_days"]].tolist() == [0, 0.0, 365]


# -- Segments (SPEC §3) ------------------------------------------------------------------------

# D = 2020-12-31, W = 365 (window from 2020-01-02). Ten buyers with distinct recency and distinct
# monetary, so R and M scores go by rank in pairs: with n = 10 the cut points are the sorted
# values v_2, v_4, v_6, v_8, and 1 + #{c < x} gives ranks 1-2 -> 1, 3-4 -> 2, ..., 9-10 -> 5.
#
# customer    orders (date: amount)                             rec  F(n)  M    R F M  segment
# first       12-31: 21                                         0    1(1)  21   5 1 2  First-time
# champ       12-30: 10, 12-29..12-25: 8 each                   1    5(6)  50   5 5 5  Champions
# potential   12-26: 15, 12-01: 15                              5    2(2)  30   4 2 3  Pot. Loyal.
# recent      12-25: 5, 11-21: 5                                6    2(2)  10   4 2 1  Recent
# loyal       12-21: 11, 12-11, 12-01, 11-21, 11-11: 10 each    10   4(5)  51   3 4 5  Loyal Cust.
# promising   12-20: 10, 11-01: 10                              11   2(2)  20   3 2 2  Promising
# atrisk      12-11: 14, 12-01: 14, 11-21: 13                   20   3(3)  41   2 3 4  At Risk
# asleep      12-10: 11                                         21   1(1)  11   2 1 1  Falling Asl.
# cannotlose  09-22, 08-03, 06-14, 04-25: 10 each               100  4(4)  40   1 4 4  Cannot-lose
# asleep1     09-21: 11, 09-02: 10, 08-13: 10                   101  3(3)  31   1 3 3  Falling Asl.
#
# -recency sorted: -101 -100 -21 -20 -11 -10 -6 -5 -1 0 -> r cuts (-100, -20, -10, -5).
# monetary sorted: 10 11 20 21 30 31 40 41 50 51 -> m cuts (11, 21, 31, 41).
# F fixed: 1->1, 2->2, 3->3, 4..5->4, 6->5.
# Row by row: first has n=1 and R>=3; asleep has n=1 but R=2, so it falls through. champ
# R,F,M >= 4. loyal R=3 F=4. potential R>=3 F>=2 M>=3. recent R>=4 (M=1). promising R=3.
# cannotlose R=1, fantastic (F,M >= 3, F+M = 8). atrisk R=2, fantastic at F+M = 7 exactly.
# asleep1 R=1 with F+M = 6: not fantastic. Non-buyers: lv has an email (and a visit: the email
# row wins), ev a visit in W, pr only a refund and a visit before W -> Prospect (no phase).
SEGMENT_CASES = {
    "first": ([("12-31", 21.0)], (0, 1, 21.0), (5, 1, 2), "First-time Customers", "Retention"),
    "champ": (
        [("12-30", 10.0)] + [(f"12-{d}", 8.0) for d in (29, 28, 27, 26, 25)],
        (1, 6, 50.0),
        (5, 5, 5),
        "Champions",
        "Veneration",
    ),
    "potential": (
        [("12-26", 15.0), ("12-01", 15.0)],
        (5, 2, 30.0),
        (4, 2, 3),
        "Potential Loyalists",
        "Increased Value",
    ),
    "recent": (
        [("12-25", 5.0), ("11-21", 5.0)],
        (6, 2, 10.0),
        (4, 2, 1),
        "Recent Customers",
        "Retention",
    ),
    "loyal": (
        [("12-21", 11.0)] + [(d, 10.0) for d in ("12-11", "12-01", "11-21", "11-11")],
        (10, 5, 51.0),
        (3, 4, 5),
        "Loyal Customers",
        "Veneration",
    ),
    "promising": (
        [("12-20", 10.0), ("11-01", 10.0)],
        (11, 2, 20.0),
        (3, 2, 2),
        "Promising Customers",
        "Increased Value",
    ),
    "atrisk": (
        [("12-11", 14.0), ("12-01", 14.0), ("11-21", 13.0)],
        (20, 3, 41.0),
        (2, 3, 4),
        "At Risk Customers",
        "Reactivation",
    ),
    "asleep": (
        [("12-10", 11.0)],
        (21, 1, 11.0),
        (2, 1, 1),
        "Falling Asleep Customers",
        "Reactivation",
    ),
    "cannotlose": (
        [(d, 10.0) for d in ("09-22", "08-03", "06-14", "04-25")],
        (100, 4, 40.0),
        (1, 4, 4),
        "Cannot-lose Customers",
        "Reactivation",
    ),
    "asleep1": (
        [("09-21", 11.0), ("09-02", 10.0), ("08-13", 10.0)],
        (101, 3, 31.0),
        (1, 3, 3),
        "Falling Asleep Customers",
        "Reactivation",
    ),
}


def segment_population() -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    rows: list[Line] = [
        (cid, f"2020-{day} 12:00", amount, None)
        for cid, (orders, *_) in SEGMENT_CASES.items()
        for day, amount in orders
    ]
    rows.append(("pr", "2020-11-15 12:00", -5.0, None))
    seen = visits([("lv", "2020-12-01 12:00"), ("ev", "2020-03-01 12:00"), ("pr", "2019-12-01")])
    return lines(rows), seen, ["lv", "champ"]


def test_every_segment_row_is_reached() -> None:
    purchases, seen, emails = segment_population()
    result = rfm_oracle(purchases, "2020-12-31", visits=seen, emails=emails)
    assert result.r_cuts == (-100.0, -20.0, -10.0, -5.0)
    assert result.m_cuts == (11.0, 21.0, 31.0, 41.0)
    assert result.f_cuts == (2.0, 3.0, 4.0, 6.0)
    s = result.scores
    for cid, (_, (rec, freq, mon), rfm, segment, phase) in SEGMENT_CASES.items():
        assert s.loc[cid, ["recency_days", "frequency"]].tolist() == [rec, freq], cid
        assert s.loc[cid, "monetary"] == pytest.approx(mon), cid
        assert tuple(s.loc[cid, ["r_score", "f_score", "m_score"]]) == rfm, cid
        assert (s.loc[cid, "segment"], s.loc[cid, "phase"]) == (segment, phase), cid
    assert (s.loc["lv", "segment"], s.loc["lv", "phase"]) == ("Loyal Visitors", "Acquisition")
    assert (s.loc["ev", "segment"], s.loc["ev", "phase"]) == ("Engaged Visitors", "Acquisition")
    assert (s.loc["pr", "segment"], s.loc["pr", "phase"]) == ("Prospect", None)
    assert s.loc["pr", "monetary"] == -5.0
    expected = {segment for _, _, _, segment, _ in SEGMENT_CASES.values()}
    expected |= {"Loyal Visitors", "Engaged Visitors", "Prospect"}
    assert set(s["segment"]) == expected and len(expected) == 12


def test_frequency_quantile_option() -> None:
    # Frequencies of the segment population sorted: 1 1 2 2 2 3 3 4 5 6 -> cuts v_2, v_4, v_6,
    # v_8 = (1, 2, 3, 4); then loyal's 5 orders score 5 (fixed thresholds: 4).
    purchases, seen, emails = segment_population()
    result = rfm_oracle(purchases, "2020-12-31", visits=seen, emails=emails, frequency="quantile")
    assert result.f_cuts == (1.0, 2.0, 3.0, 4.0)
    assert result.scores.loc["loyal", "f_score"] == 5
    assert result.scores.loc["cannotlose", "f_score"] == 4
    # Five buyers with 1, 1, 1, 1, 2 orders: cuts (1, 1, 1, 1); F = 5 for 2 orders (fixed: 2).
    rows: list[Line] = [(f"c{i}", "2020-06-01 12:00", 10.0, None) for i in range(5)]
    rows.append(("c4", "2020-06-02 12:00", 10.0, None))
    frame = lines(rows)
    quantile = rfm_oracle(frame, "2020-06-30", frequency="quantile")
    assert quantile.f_cuts == (1.0, 1.0, 1.0, 1.0)
    assert list(quantile.scores["f_score"]) == [1, 1, 1, 1, 5]
    assert list(rfm_oracle(frame, "2020-06-30").scores["f_score"]) == [1, 1, 1, 1, 2]
