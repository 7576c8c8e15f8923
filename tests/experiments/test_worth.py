"""Campaign worth against hand arithmetic, scipy's Welch test, and simulated coverage."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as hs
from scipy import stats

from clm.experiments import statistics as st
from clm.experiments import worth as wt
from clm.experiments.worth import Increment, Outcomes

# treated: 4 units, margin 0.4, incentive 5 when converted, message cost 1 each
T_CONV, T_REV, T_INC, T_MSG = [1, 0, 1, 0], [50.0, 0.0, 30.0, 0.0], [5, 0, 5, 0], [1, 1, 1, 1]
# control: 3 units, no messages and no incentives
C_CONV, C_REV, C_INC, C_MSG = [1, 0, 0], [40.0, 0.0, 0.0], [0, 0, 0], [0, 0, 0]
MARGIN = 0.4


def golden() -> wt.Worth:
    treated = wt.outcomes(T_CONV, T_REV, T_INC, T_MSG, MARGIN)
    control = wt.outcomes(C_CONV, C_REV, C_INC, C_MSG, MARGIN)
    return wt.worth(treated, control)


def welch_df(a: float, b: float, n1: int, n0: int) -> float:
    return (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n0 - 1))


def test_profit_per_unit_by_hand() -> None:
    # 50·0.4 − 5 − 1 = 14; 0 − 0 − 1 = −1; 30·0.4 − 5 − 1 = 6; −1
    assert wt.unit_profit(T_REV, T_INC, T_MSG, MARGIN).tolist() == pytest.approx([14, -1, 6, -1])
    out = wt.outcomes(T_CONV, T_REV, T_INC, T_MSG, MARGIN)
    assert out.profit == st.SampleStats(4, 18.0, 196.0 + 1 + 36 + 1)
    assert out.conversions == st.SampleStats(4, 2.0, 2.0)
    assert out.cost == 14.0  # incentives 10 + messages 4


def test_incremental_conversions_by_hand() -> None:
    # p₁ = 2/4 = 0.5, v₁ = 0.25; p₀ = 1/3, v₀ = 2/9 (p(1 − p), SPEC §6)
    # a = 0.25/4 = 1/16, b = (2/9)/3 = 2/27; SE = √(1/16 + 2/27) = √0.1365741 = 0.369559
    # Δ = 1/2 − 1/3 = 1/6 per unit; 4 treated units: 4/6 = 0.666667 conversions
    # ν = (59/432)² / ((1/16)²/3 + (2/27)²/2) = (3481/186624) / (2265/559872) = 10443/2265
    w = golden().conversions
    assert isinstance(w, Increment)
    a, b = 1 / 16, 2 / 27
    se, df = math.sqrt(a + b), welch_df(a, b, 4, 3)
    assert df == pytest.approx(10443 / 2265)
    q = stats.t.isf(0.025, df)
    assert w.per_unit.estimate == pytest.approx(1 / 6)
    assert w.estimate == pytest.approx(4 / 6)
    assert w.se == pytest.approx(4 * se)
    assert w.ci == pytest.approx((4 * (1 / 6 - q * se), 4 * (1 / 6 + q * se)))
    assert w.p_value == pytest.approx(2 * stats.t.sf((1 / 6) / se, df))
    # relative: 0.5 / (1/3) − 1 = 0.5
    assert isinstance(w.relative, st.Relative)
    assert w.relative.estimate == pytest.approx(0.5)


def test_incremental_revenue_by_hand_and_by_scipy() -> None:
    # treated mean 20, variance (30² + 20² + 10² + 20²)/3 = 1800/3 = 600
    # control mean 40/3, variance ((80/3)² + 2·(40/3)²)/2 = (3200/3)/2 = 1600/3
    # Δ = 20 − 40/3 = 20/3 per unit; × 4 = 80/3 = 26.667
    w = golden().revenue
    assert isinstance(w, Increment)
    a, b = 600 / 4, (1600 / 3) / 3
    assert w.per_unit.estimate == pytest.approx(20 / 3)
    assert w.estimate == pytest.approx(80 / 3)
    assert w.se == pytest.approx(4 * math.sqrt(a + b))
    ref = stats.ttest_ind(T_REV, C_REV, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert w.per_unit.df == pytest.approx(welch_df(a, b, 4, 3))
    assert w.ci == pytest.approx((4 * ci.low, 4 * ci.high), rel=1e-12)
    assert w.p_value == pytest.approx(ref.pvalue, rel=1e-12)


def test_incremental_profit_by_hand() -> None:
    # treated profits 14, −1, 6, −1: mean 4.5, variance (9.5² + 5.5² + 1.5² + 5.5²)/3 = 153/3 = 51
    # control profits 16, 0, 0: mean 16/3, variance ((32/3)² + 2·(16/3)²)/2 = 256/3
    # Δ = 4.5 − 16/3 = −5/6 per unit; × 4 = −10/3; lift 4.5/(16/3) − 1 = −5/32
    w = golden().profit
    assert isinstance(w, Increment)
    a, b = 51 / 4, (256 / 3) / 3
    assert w.estimate == pytest.approx(-10 / 3)
    assert w.se == pytest.approx(4 * math.sqrt(a + b))
    assert w.per_unit.df == pytest.approx(welch_df(a, b, 4, 3))
    assert isinstance(w.relative, st.Relative)
    assert w.relative.estimate == pytest.approx(-5 / 32)
    ref = stats.ttest_ind([14, -1, 6, -1], [16, 0, 0], equal_var=False)
    assert w.p_value == pytest.approx(ref.pvalue, rel=1e-12)


def test_scaled_to_a_larger_rollout_population() -> None:
    treated = wt.outcomes(T_CONV, T_REV, T_INC, T_MSG, MARGIN)
    control = wt.outcomes(C_CONV, C_REV, C_INC, C_MSG, MARGIN)
    w = wt.worth(treated, control, population=1000)
    assert (w.treated, w.control, w.population) == (4, 3, 1000)
    assert isinstance(w.revenue, Increment)
    assert w.revenue.estimate == pytest.approx(1000 * 20 / 3)


@pytest.mark.parametrize(
    ("treated", "control", "reason"),
    [
        (Outcomes(), wt.outcomes(C_CONV, C_REV, C_INC, C_MSG, 1.0), "no treated units"),
        (wt.outcomes(T_CONV, T_REV, T_INC, T_MSG, 1.0), Outcomes(), "no control units"),
        (
            wt.outcomes([1], [5.0], [0], [0], 1.0),
            wt.outcomes(C_CONV, C_REV, C_INC, C_MSG, 1.0),
            "an arm has fewer than 2 units",
        ),
        (
            wt.outcomes([0, 0], [0.0, 0.0], [0, 0], [0, 0], 1.0),
            wt.outcomes([0, 0, 0], [0.0] * 3, [0] * 3, [0] * 3, 1.0),
            "zero variance in both arms",
        ),
    ],
)
def test_expected_conditions_are_typed_results(
    treated: Outcomes, control: Outcomes, reason: str
) -> None:
    w = wt.worth(treated, control)
    for quantity in wt.QUANTITIES:
        assert w.of(quantity) == st.Undefined(reason)


def test_a_control_that_never_converts_leaves_the_totals_defined() -> None:
    # control: 3 units, nothing bought; the increment is defined, the lift is not
    w = wt.worth(
        wt.outcomes(T_CONV, T_REV, T_INC, T_MSG, MARGIN),
        wt.outcomes([0, 0, 0], [0.0] * 3, [0] * 3, [0] * 3, MARGIN),
    )
    assert isinstance(w.revenue, Increment)
    assert w.revenue.estimate == pytest.approx(4 * 20.0)
    assert w.revenue.relative == st.Undefined("the control mean is 0")


def test_a_loss_making_control_has_no_lift() -> None:
    # control profits −2, 0, −1 (incentives, no revenue; mean −1); treated 1, 3 (mean 2):
    # Δ = 3 per unit, 2 treated units → 6
    control = wt.outcomes([0, 0, 0], [0.0, 0.0, 0.0], [2, 0, 1], [0, 0, 0], 1.0)
    treated = wt.outcomes([0, 0], [1.0, 3.0], [0, 0], [0, 0], 1.0)
    inc = wt.increment(treated.profit, control.profit, False, 2)
    assert isinstance(inc, Increment)
    assert inc.estimate == pytest.approx(6.0)
    assert inc.relative == st.Undefined("the control mean is negative")


rows = hs.lists(
    hs.tuples(hs.booleans(), hs.floats(0, 500), hs.floats(0, 10), hs.floats(0, 2)), max_size=30
)


@given(rows, hs.integers(0, 30), hs.floats(0.05, 1.0))
def test_outcomes_of_two_parts_add_up_to_the_whole(
    data: list[tuple[bool, float, float, float]], cut: int, margin: float
) -> None:
    cols = [list(c) for c in zip(*data, strict=True)] if data else [[], [], [], []]
    k = min(cut, len(data))
    whole = wt.outcomes(*cols, margin)
    parts = wt.outcomes(*(c[:k] for c in cols), margin) + wt.outcomes(
        *(c[k:] for c in cols), margin
    )
    assert parts.n == whole.n
    for q in wt.QUANTITIES:
        a, b = parts.of(q), whole.of(q)
        assert (a.sum, a.sum_sq) == pytest.approx((b.sum, b.sum_sq), rel=1e-9, abs=1e-6)


def test_cumulative_adds_up_the_days_in_order() -> None:
    day1 = (date(2026, 1, 1), wt.outcomes([1, 0], [10.0, 0.0], [0, 0], [0, 0], 1.0))
    day2 = (date(2026, 1, 2), wt.outcomes([1, 1], [20.0, 5.0], [0, 0], [0, 0], 1.0))
    c1 = wt.outcomes([0, 0], [0.0, 0.0], [0, 0], [0, 0], 1.0)
    c2 = wt.outcomes([1, 0], [8.0, 0.0], [0, 0], [0, 0], 1.0)
    series = wt.cumulative([(day2[0], day2[1], c2), (day1[0], day1[1], c1)])
    assert [p.day for p in series] == [day1[0], day2[0]]
    # day 1 alone: treated revenue mean 5, control 0 → +5 per unit, 2 treated units
    first = series[0].worth.revenue
    assert isinstance(first, Increment) and first.estimate == pytest.approx(10.0)
    # both days: treated mean 35/4, control mean 8/4 = 2 → Δ 6.75, 4 units → 27
    last = series[1].worth
    assert last.treated == 4 and last.control == 4
    assert last == wt.worth(day1[1] + day2[1], c1 + c2)
    assert isinstance(last.revenue, Increment) and last.revenue.estimate == pytest.approx(27.0)


def test_intervals_cover_the_true_worth_about_95_percent() -> None:
    """1,000 simulated campaigns; the truth is N·(μ₁ − μ₀) for each quantity.

    Treated convert at 12%, control at 10%; a converter spends Gamma(4, 20) (mean 80); margin
    0.3; a treated converter costs an incentive of 5 and every treated unit a message of 0.1.
    Per unit: conversions +0.02; revenue 80·0.02 = +1.6; profit
    (0.3·80·0.12 − 5·0.12 − 0.1) − 0.3·80·0.10 = 2.18 − 2.4 = −0.22.
    """
    rng = np.random.default_rng(20261201)
    runs, n, margin = 1000, 2000, 0.3
    truth = {"conversions": 0.02 * n, "revenue": 1.6 * n, "profit": -0.22 * n}
    covered = dict.fromkeys(truth, 0)
    for _ in range(runs // 100):
        arms = []
        for p, incentive, message in ((0.12, 5.0, 0.1), (0.10, 0.0, 0.0)):
            conv = rng.random((100, n)) < p
            rev = np.where(conv, rng.gamma(4.0, 20.0, (100, n)), 0.0)
            profit = rev * margin - incentive * conv - message
            arms.append((conv.sum(1), rev.sum(1), (rev * rev).sum(1), profit, conv))
        for i in range(100):
            t, c = (_outcomes_row(a, i) for a in arms)
            w = wt.worth(t, c)
            for q, true_total in truth.items():
                inc = w.of(q)
                assert isinstance(inc, Increment)
                covered[q] += inc.ci[0] <= true_total <= inc.ci[1]
    # under 95% coverage the count is Binomial(1000, 0.95); fail only outside its 99.9% range
    lo, hi = stats.binom.interval(0.999, runs, 0.95)
    for q in truth:
        assert lo <= covered[q] <= hi, (q, covered[q])


def _outcomes_row(arm: tuple[np.ndarray, ...], i: int) -> Outcomes:
    conv_sum, rev_sum, rev_sq, profit, conv = arm
    n = conv.shape[1]
    return Outcomes(
        st.SampleStats(n, float(conv_sum[i]), float(conv_sum[i])),
        st.SampleStats(n, float(rev_sum[i]), float(rev_sq[i])),
        st.SampleStats(n, float(profit[i].sum()), float((profit[i] ** 2).sum())),
    )


def _arm(n: int, converted: int) -> Outcomes:
    flags = [1] * converted + [0] * (n - converted)
    return wt.outcomes(flags, [20.0 * f for f in flags], [0] * n, [0] * n, 1.0)


@pytest.mark.parametrize(
    ("treated", "control", "expected"),
    [
        ((1_000, 120), (200, 12), None),  # 12 and 188 in control: enough of each
        ((1_000, 120), (29, 10), "control has 29 units (fewer than 30)"),
        ((1_000, 120), (200, 9), "control has 9 conversions (fewer than 10)"),
        ((1_000, 995), (200, 50), "treated has 5 non-conversions (fewer than 10)"),
        (
            (20, 1),
            (100, 3),
            "control has 3 conversions (fewer than 10); treated has 20 units (fewer than 30)",
        ),
    ],
)
def test_small_arms_are_flagged(
    treated: tuple[int, int], control: tuple[int, int], expected: str | None
) -> None:
    """The rule of thumb n·p ≥ 10 and n·(1 − p) ≥ 10 per arm, plus 30 units, by hand."""
    note = wt.caution(_arm(*treated), _arm(*control))
    if expected is None:
        assert note is None
    else:
        assert note is not None and note.startswith(expected + ":")
