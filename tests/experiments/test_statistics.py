"""Experiment statistics against hand arithmetic, scipy as a second implementation, and
simulation (coverage of the fixed and of the always-valid intervals)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from clm.experiments import statistics as s
from clm.experiments.statistics import (
    Absolute,
    CovariateStats,
    Moments,
    Relative,
    SampleStats,
    Undefined,
)


def of(values: list[float]) -> SampleStats:
    return SampleStats(len(values), float(sum(values)), float(sum(v * v for v in values)))


def covariate_of(y: list[float], x: list[float]) -> CovariateStats:
    return CovariateStats(
        len(y),
        sum(y),
        sum(v * v for v in y),
        sum(x),
        sum(v * v for v in x),
        sum(a * b for a, b in zip(x, y, strict=True)),
    )


TREATMENT = [1.0, 2.0, 3.0, 4.0]
CONTROL = [2.0, 4.0, 6.0]


def test_welch_by_hand() -> None:
    # treatment: n 4, mean 2.5, variance ((1.5² + 0.5²)·2)/3 = 5/3
    # control:   n 3, mean 4,   variance (2² + 0 + 2²)/2 = 4
    # a = (5/3)/4 = 5/12, b = 4/3; SE² = 5/12 + 16/12 = 21/12 = 1.75
    # ν = 1.75² / ((5/12)²/3 + (4/3)²/2) = 3.0625 / (25/432 + 8/9) = 3.0625 / (409/432)
    #   = 1323/409 ≈ 3.23472
    t, c = s.moments(of(TREATMENT), False), s.moments(of(CONTROL), False)
    assert (t.mean, t.variance) == pytest.approx((2.5, 5 / 3))
    assert (c.mean, c.variance) == pytest.approx((4.0, 4.0))
    a = s.welch(t, c)
    assert isinstance(a, Absolute)
    assert a.estimate == pytest.approx(-1.5)
    assert a.se == pytest.approx(math.sqrt(1.75))
    assert a.df == pytest.approx(1323 / 409)
    # second implementation: scipy's Welch test on the raw values
    ref = stats.ttest_ind(TREATMENT, CONTROL, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert a.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert a.df == pytest.approx(ref.df, rel=1e-12)
    assert a.ci == pytest.approx((ci.low, ci.high), rel=1e-12)


def test_relative_and_chance_to_win_by_hand() -> None:
    # lift = 2.5/4 − 1 = −0.375
    # SE² = v₁/(n₁m₀²) + m₁²v₀/(n₀m₀⁴) = (5/3)/(4·16) + 6.25·4/(3·256)
    #     = 0.0260417 + 0.0325521 = 0.0585938
    t, c = s.moments(of(TREATMENT), False), s.moments(of(CONTROL), False)
    result = s.compare(t, c)
    r = result.relative
    assert isinstance(r, Relative) and isinstance(result.absolute, Absolute)
    assert r.estimate == pytest.approx(-0.375)
    assert r.se == pytest.approx(math.sqrt(5 / 192 + 25 / 768))
    q = stats.t.ppf(0.975, 1323 / 409)  # the same Welch t quantile as the absolute CI
    assert r.ci == pytest.approx((-0.375 - q * r.se, -0.375 + q * r.se))
    # Φ(−1.5 / √1.75) = Φ(−1.13389) ≈ 0.12842
    assert result.chance_to_win == pytest.approx(stats.norm.cdf(-1.5 / math.sqrt(1.75)))
    assert result.chance_to_win == pytest.approx(0.12842, abs=1e-5)
    swapped = s.compare(c, t).chance_to_win
    assert isinstance(swapped, float)
    assert swapped == pytest.approx(1 - 0.12842, abs=1e-5)


def test_conversion_variance_is_p_one_minus_p() -> None:
    # 3 of 10 converted: p = 0.3, p(1 − p) = 0.21 (not the n − 1 sample variance 0.2333)
    assert s.variance(SampleStats(10, 3.0, 3.0), conversion=True) == pytest.approx(0.21)
    assert s.variance(SampleStats(10, 3.0, 3.0), conversion=False) == pytest.approx(0.7 * 3 / 9)


def test_conversion_welch_matches_scipy_from_stats() -> None:
    t = s.moments(SampleStats(1000, 120.0, 120.0), True)
    c = s.moments(SampleStats(900, 90.0, 90.0), True)
    a = s.welch(t, c)
    ref = stats.ttest_ind_from_stats(
        0.12, math.sqrt(0.12 * 0.88), 1000, 0.1, math.sqrt(0.09), 900, equal_var=False
    )
    assert isinstance(a, Absolute)
    assert a.estimate / a.se == pytest.approx(ref.statistic, rel=1e-12)
    assert a.p_value == pytest.approx(ref.pvalue, rel=1e-10)


@pytest.mark.parametrize(
    ("treatment", "control", "reason"),
    [
        (SampleStats(), of(CONTROL), "an arm has fewer than 2 units"),
        (of([5.0]), of(CONTROL), "an arm has fewer than 2 units"),
        (of([1.0, 1.0, 1.0]), of([2.0, 2.0]), "zero variance in both arms"),
    ],
)
def test_expected_conditions_are_typed_results(
    treatment: SampleStats, control: SampleStats, reason: str
) -> None:
    result = s.compare(s.moments(treatment, False), s.moments(control, False))
    assert result.absolute == Undefined(reason)
    assert result.relative == Undefined(reason)
    assert result.chance_to_win == Undefined(reason)


def test_control_mean_zero_leaves_the_absolute_effect() -> None:
    # control never converts: the difference is defined (one arm varies), the lift is not
    result = s.compare(
        s.moments(SampleStats(100, 5.0, 5.0), True), s.moments(SampleStats(100, 0.0, 0.0), True)
    )
    assert isinstance(result.absolute, Absolute)
    assert result.absolute.estimate == pytest.approx(0.05)
    assert result.relative == Undefined("the control mean is 0")


def test_sample_ratio_by_hand() -> None:
    # Hillstrom's arm sizes against a 1/3 split: expected 64,000/3 = 21,333.33 each
    # χ² = (27.333² + 26.333² + 53.667²) / 21,333.33 = 4,320.67 / 21,333.33 = 0.2025313
    # with 2 df the survival function is exp(−χ²/2) = exp(−0.1012656) = 0.903693
    srm = s.sample_ratio([21306, 21307, 21387])
    assert srm.statistic == pytest.approx(0.20253125, rel=1e-6)
    assert srm.p_value == pytest.approx(math.exp(-0.20253125 / 2), rel=1e-6)
    assert not srm.flag
    ref = stats.chisquare([21306, 21307, 21387])
    assert srm.p_value == pytest.approx(ref.pvalue, rel=1e-12)


def test_sample_ratio_flags_below_one_in_a_thousand() -> None:
    # 1000 vs 1200 on 50/50: χ² = 2·100²/1100 = 18.18, p = 2.0e-5 < 0.001
    assert s.sample_ratio([1000, 1200]).flag
    # the same sizes on a configured 10/12 split fit exactly
    assert s.sample_ratio([1000, 1200], [10, 12]).p_value == pytest.approx(1.0)


floats = st.floats(-1e3, 1e3, allow_nan=False)


@given(st.lists(st.tuples(floats, floats), max_size=40), st.integers(0, 40))
def test_statistics_of_two_halves_add_up_to_the_whole(
    rows: list[tuple[float, float]], cut: int
) -> None:
    ys, xs = [r[0] for r in rows], [r[1] for r in rows]
    k = min(cut, len(rows))
    whole = covariate_of(ys, xs)
    halves = covariate_of(ys[:k], xs[:k]) + covariate_of(ys[k:], xs[k:])
    assert halves.n == whole.n
    for name in ("sum_y", "sum_y_sq", "sum_x", "sum_x_sq", "sum_xy"):
        assert getattr(halves, name) == pytest.approx(getattr(whole, name), rel=1e-9, abs=1e-6)
    added, direct = of(ys[:k]) + of(ys[k:]), of(ys)
    assert added.n == direct.n
    assert (added.sum, added.sum_sq) == pytest.approx((direct.sum, direct.sum_sq), abs=1e-6)


def _simulate(
    rng: np.random.Generator, n: tuple[int, int], draw: str
) -> tuple[Moments, Moments, float]:
    if draw == "normal":  # unequal variances: Welch's home ground
        t, c = rng.normal(1.2, 3.0, n[0]), rng.normal(1.0, 1.0, n[1])
        conversion, truth = False, 0.2
    else:
        t, c = rng.random(n[0]) < 0.12, rng.random(n[1]) < 0.10
        conversion, truth = True, 0.02
    mt = s.moments(of(t.astype(float).tolist()), conversion)
    mc = s.moments(of(c.astype(float).tolist()), conversion)
    return mt, mc, truth


@pytest.mark.parametrize(("draw", "n"), [("normal", (30, 60)), ("conversion", (2000, 2000))])
def test_ci_covers_the_true_difference_about_95_percent(draw: str, n: tuple[int, int]) -> None:
    rng = np.random.default_rng(20261122)
    runs, covered = 1000, 0
    for _ in range(runs):
        mt, mc, truth = _simulate(rng, n, draw)
        a = s.welch(mt, mc)
        assert isinstance(a, Absolute)
        covered += a.ci[0] <= truth <= a.ci[1]
    # binomial sd at 95% over 1000 runs is 0.69 points; allow about 3 sd
    assert 0.93 <= covered / runs <= 0.97


def test_relative_ci_covers_the_true_lift() -> None:
    rng = np.random.default_rng(7)
    covered = 0
    for _ in range(1000):
        t, c = rng.exponential(1.25, 400), rng.exponential(1.0, 500)
        r = s.compare(s.moments(of(t.tolist()), False), s.moments(of(c.tolist()), False)).relative
        assert isinstance(r, Relative)
        covered += r.ci[0] <= 0.25 <= r.ci[1]
    assert 0.93 <= covered / 1000 <= 0.97


def test_cuped_theta_and_effect_equal_the_ancova_regression() -> None:
    rng = np.random.default_rng(3)
    arms = []
    for shift, n in [(0.0, 300), (0.5, 250), (0.2, 280)]:
        x = rng.normal(10, 2, n)
        arms.append((x, 2 + 0.8 * x + shift + rng.normal(0, 1, n)))
    per_arm = [covariate_of(y.tolist(), x.tolist()) for x, y in arms]
    theta = s.cuped_theta(per_arm)
    # oracle: least squares of y on arm dummies and x (ANCOVA with a common slope)
    y = np.concatenate([a[1] for a in arms])
    x = np.concatenate([a[0] for a in arms])
    arm = np.concatenate([np.full(len(a[0]), i) for i, a in enumerate(arms)])
    design = np.column_stack([np.ones_like(y), arm == 1, arm == 2, x])
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    assert theta == pytest.approx(coef[3], rel=1e-9)
    assert isinstance(theta, float)
    grand = x.mean()
    control = s.cuped_moments(per_arm[0], theta, grand)
    variant = s.cuped_moments(per_arm[1], theta, grand)
    adjusted = s.welch(variant, control)
    plain = s.welch(s.moments(per_arm[1].y, False), s.moments(per_arm[0].y, False))
    assert isinstance(adjusted, Absolute) and isinstance(plain, Absolute)
    assert adjusted.estimate == pytest.approx(coef[1], rel=1e-9)
    # the variance of y − θx per arm, by numpy
    resid = arms[1][1] - theta * arms[1][0]
    assert variant.variance == pytest.approx(resid.var(ddof=1), rel=1e-9)
    assert adjusted.se < plain.se / 2  # x explains most of y here


def test_cuped_without_covariate_variation_is_undefined() -> None:
    flat = covariate_of([1.0, 2.0, 3.0], [5.0, 5.0, 5.0])
    assert s.cuped_theta([flat, flat]) == Undefined("the covariate does not vary within arms")


def test_sequential_multiplier_by_hand() -> None:
    # α = 0.05, tuning n = n = 5000:
    # ρ² = (−2 ln 0.05 + ln(1 − 2 ln 0.05)) / 5000 = (5.99146 + 1.94470) / 5000 = 0.00158723
    # nρ² = 7.93616; k² = n · 2(nρ² + 1)/(n²ρ²) · ln(√(nρ² + 1)/α)
    #     = 2 · 8.93616 / 7.93616 · ln(2.98934 / 0.05) = 2.25200 · 4.09077 = 9.21242
    assert s.sequential_multiplier(5000) == pytest.approx(math.sqrt(9.21242), rel=1e-5)
    assert s.sequential_multiplier(5000) > stats.norm.isf(0.025)


def test_sequential_intervals_stay_valid_under_continuous_peeking() -> None:
    # 400 A/A experiments of N(0, 1) units, peeked at every 50 units up to 5,000: the
    # always-valid interval excludes the true 0 at some peek in at most ~5% of them, the
    # fixed 1.96 interval in far more.
    rng = np.random.default_rng(11)
    peeks = np.arange(50, 5001, 50)
    k = np.array([s.sequential_multiplier(int(2 * n)) for n in peeks])
    t = rng.normal(0, 1, (400, 5000)).cumsum(axis=1)[:, peeks - 1] / peeks
    c = rng.normal(0, 1, (400, 5000)).cumsum(axis=1)[:, peeks - 1] / peeks
    z = np.abs(t - c) / np.sqrt(2 / peeks)
    assert (z > k).any(axis=1).mean() <= 0.06
    assert (z > 1.96).any(axis=1).mean() > 0.2


def test_sequential_widens_the_intervals_only() -> None:
    fixed = s.compare(s.moments(of(TREATMENT), False), s.moments(of(CONTROL), False))
    seq = s.sequential(fixed, 7)
    assert isinstance(seq.absolute, Absolute) and isinstance(fixed.absolute, Absolute)
    assert seq.absolute.estimate == fixed.absolute.estimate
    assert seq.absolute.ci[0] < fixed.absolute.ci[0] and seq.absolute.ci[1] > fixed.absolute.ci[1]
