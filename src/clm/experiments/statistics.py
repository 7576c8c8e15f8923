"""Experiment statistics over frozen, addable sufficient statistics (SPEC §6).

Engines aggregate, Python decides: a query returns per arm ``n``, ``Σy``, ``Σy²`` (and for
CUPED ``Σx``, ``Σx²``, ``Σxy``); the small pure functions here turn those into effects.
Statistics of two disjoint samples add up to the statistics of their union, so daily or
per-shard aggregates combine exactly (after gbstats' ``models/statistics.py``).

Expected conditions (an arm with fewer than two units, zero variance in both arms, a control
mean of 0) come back as :class:`Undefined` with a reason, never as exceptions.

Methods (SPEC §6 where it speaks; the standard choice, cited, where it is silent):

- Variance: a 0/1 metric ``p(1 − p)``; any other metric the sample variance (``n − 1``).
- Absolute effect: Welch's t with Welch–Satterthwaite degrees of freedom; two-sided p-value
  ``2·t.sf(|t|, ν)`` and the 95% CI with the quantile ``t.isf(α/2, ν)`` (Welch 1947).
- Relative effect: ``m₁/m₀ − 1`` with a delta-method standard error
  ``√(v₁/(n₁m₀²) + m₁²v₀/(n₀m₀⁴))`` and the same t quantile (Casella & Berger 2002, §5.5.4;
  as gbstats' frequentist relative test).
- Chance to win: ``Φ(Δ / SE)``, the posterior probability that the variant beats control under
  a Gaussian likelihood with a flat prior.
- Sample-ratio mismatch: Pearson's χ² of the arm sizes against the expected split, flagged at
  ``p < 0.001`` (Fabijan et al. 2019, "Diagnosing Sample Ratio Mismatch", KDD).
- CUPED (SPEC silent on θ's estimator beyond "pooled over arms"): θ is the within-arm pooled
  ``Cov(x, y) / Var(x)``, which is the covariate's coefficient in the ANCOVA regression
  ``y ~ arm + x``; each arm's mean is adjusted to ``ȳ − θ(x̄ − x̄_all)`` and its variance is the
  sample variance of ``y − θx`` (Deng, Xu, Kohavi & Walker 2013, "Improving the Sensitivity of
  Online Controlled Experiments by Utilizing Pre-Experiment Data", WSDM).
- Sequential (SPEC silent on the method): the asymptotic confidence sequence of Waudby-Smith,
  Arbour, Sinha, Kennedy & Ramdas (2024, "Time-uniform central limit theory and asymptotic
  confidence sequences", Ann. Statist.), a normal-mixture boundary whose mixing parameter ρ is
  tuned to be tightest at ``tuning_n`` units (Howard, Ramdas, McAuliffe & Sekhon 2021, eq. (14));
  the same boundary GrowthBook uses. It stays valid however often the results are looked at.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

ALPHA = 0.05
SRM_THRESHOLD = 0.001
SEQUENTIAL_TUNING_N = 5000


@dataclass(frozen=True)
class Undefined:
    """A quantity that cannot be computed here, and why."""

    reason: str


@dataclass(frozen=True)
class SampleStats:
    """Sufficient statistics of one metric in one arm: ``n``, ``Σy``, ``Σy²``."""

    n: int = 0
    sum: float = 0.0
    sum_sq: float = 0.0

    def __add__(self, other: SampleStats) -> SampleStats:
        return SampleStats(self.n + other.n, self.sum + other.sum, self.sum_sq + other.sum_sq)

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else math.nan


@dataclass(frozen=True)
class CovariateStats:
    """Sufficient statistics of a metric ``y`` with a pre-period covariate ``x`` (CUPED)."""

    n: int = 0
    sum_y: float = 0.0
    sum_y_sq: float = 0.0
    sum_x: float = 0.0
    sum_x_sq: float = 0.0
    sum_xy: float = 0.0

    def __add__(self, other: CovariateStats) -> CovariateStats:
        return CovariateStats(
            self.n + other.n,
            self.sum_y + other.sum_y,
            self.sum_y_sq + other.sum_y_sq,
            self.sum_x + other.sum_x,
            self.sum_x_sq + other.sum_x_sq,
            self.sum_xy + other.sum_xy,
        )

    @property
    def y(self) -> SampleStats:
        return SampleStats(self.n, self.sum_y, self.sum_y_sq)


@dataclass(frozen=True)
class Moments:
    """What a test needs of one arm: size, mean and variance of the metric."""

    n: int
    mean: float
    variance: float


@dataclass(frozen=True)
class Absolute:
    """Variant minus control: estimate, standard error, Welch df, CI, two-sided p-value."""

    estimate: float
    se: float
    df: float
    ci: tuple[float, float]
    p_value: float


@dataclass(frozen=True)
class Relative:
    """Variant over control minus one, with its delta-method standard error and CI."""

    estimate: float
    se: float
    ci: tuple[float, float]


@dataclass(frozen=True)
class Comparison:
    """One variant against control on one metric."""

    absolute: Absolute | Undefined
    relative: Relative | Undefined
    chance_to_win: float | Undefined


@dataclass(frozen=True)
class SampleRatio:
    """Pearson's χ² test of the arm sizes against the expected shares."""

    statistic: float
    p_value: float
    flag: bool


def variance(s: SampleStats, conversion: bool) -> float:
    """``p(1 − p)`` for a 0/1 metric, else the sample variance with ``n − 1``."""
    if conversion:
        p = s.mean
        return p * (1.0 - p)
    if s.n < 2:
        return math.nan
    return max((s.sum_sq - s.sum * s.sum / s.n) / (s.n - 1), 0.0)


def moments(s: SampleStats, conversion: bool) -> Moments:
    """Size, mean and variance of one arm."""
    return Moments(s.n, s.mean, variance(s, conversion))


def welch(treatment: Moments, control: Moments, alpha: float = ALPHA) -> Absolute | Undefined:
    """Welch's t test of the difference in means (Welch 1947), two-sided."""
    if treatment.n < 2 or control.n < 2:
        return Undefined("an arm has fewer than 2 units")
    a, b = treatment.variance / treatment.n, control.variance / control.n
    if a + b <= 0.0:
        return Undefined("zero variance in both arms")
    se = math.sqrt(a + b)
    df = (a + b) ** 2 / (a * a / (treatment.n - 1) + b * b / (control.n - 1))
    d = treatment.mean - control.mean
    q = float(stats.t.isf(alpha / 2, df))
    p = float(2.0 * stats.t.sf(abs(d) / se, df))
    return Absolute(d, se, df, (d - q * se, d + q * se), min(p, 1.0))


def relative(
    treatment: Moments, control: Moments, absolute: Absolute | Undefined, alpha: float = ALPHA
) -> Relative | Undefined:
    """Relative lift ``m₁/m₀ − 1`` with a delta-method CI on the Welch t quantile."""
    if isinstance(absolute, Undefined):
        return absolute
    m0, m1 = control.mean, treatment.mean
    if m0 == 0.0:
        return Undefined("the control mean is 0")
    lift = m1 / m0 - 1.0
    se = math.sqrt(
        treatment.variance / (treatment.n * m0**2) + m1**2 * control.variance / (control.n * m0**4)
    )
    q = float(stats.t.isf(alpha / 2, absolute.df))
    return Relative(lift, se, (lift - q * se, lift + q * se))


def chance_to_win(absolute: Absolute | Undefined) -> float | Undefined:
    """``Φ(Δ / SE)``: the Gaussian posterior's probability that the variant beats control."""
    if isinstance(absolute, Undefined):
        return absolute
    return float(stats.norm.cdf(absolute.estimate / absolute.se))


def compare(treatment: Moments, control: Moments, alpha: float = ALPHA) -> Comparison:
    """Absolute and relative effect and chance to win of a variant against control."""
    absolute = welch(treatment, control, alpha)
    return Comparison(
        absolute, relative(treatment, control, absolute, alpha), chance_to_win(absolute)
    )


def sample_ratio(sizes: Sequence[int], shares: Sequence[float] | None = None) -> SampleRatio:
    """χ² goodness of fit of the arm sizes to ``shares`` (equal by default); flag ``p < 0.001``."""
    total = sum(sizes)
    weights = list(shares) if shares is not None else [1.0] * len(sizes)
    if len(sizes) < 2 or total == 0:
        return SampleRatio(0.0, 1.0, False)
    expected = [total * w / sum(weights) for w in weights]
    statistic = sum((o - e) ** 2 / e for o, e in zip(sizes, expected, strict=True))
    p = float(stats.chi2.sf(statistic, len(sizes) - 1))
    return SampleRatio(statistic, p, p < SRM_THRESHOLD)


def _centered(s: CovariateStats) -> tuple[float, float, float]:
    """Within-arm ``Sxx``, ``Sxy``, ``Syy`` (sums of centered squares and products)."""
    if s.n == 0:
        return 0.0, 0.0, 0.0
    sxx = s.sum_x_sq - s.sum_x**2 / s.n
    sxy = s.sum_xy - s.sum_x * s.sum_y / s.n
    syy = s.sum_y_sq - s.sum_y**2 / s.n
    return sxx, sxy, syy


def cuped_theta(arms: Sequence[CovariateStats]) -> float | Undefined:
    """θ = within-arm pooled ``Cov(x, y) / Var(x)`` (the ANCOVA slope of ``y ~ arm + x``)."""
    sxx = sum(_centered(s)[0] for s in arms)
    sxy = sum(_centered(s)[1] for s in arms)
    if sxx <= 0.0:
        return Undefined("the covariate does not vary within arms")
    return sxy / sxx


def cuped_moments(s: CovariateStats, theta: float, grand_mean_x: float) -> Moments:
    """One arm's CUPED-adjusted mean ``ȳ − θ(x̄ − x̄_all)`` and variance of ``y − θx``."""
    if s.n == 0:
        return Moments(0, math.nan, math.nan)
    sxx, sxy, syy = _centered(s)
    mean = (s.sum_y - theta * (s.sum_x - s.n * grand_mean_x)) / s.n
    var = (syy - 2 * theta * sxy + theta**2 * sxx) / (s.n - 1) if s.n > 1 else math.nan
    return Moments(s.n, mean, max(var, 0.0))


def sequential_multiplier(
    n: int, alpha: float = ALPHA, tuning_n: int = SEQUENTIAL_TUNING_N
) -> float:
    """Factor ``k`` that turns a standard error into an always-valid half-width ``k·SE``.

    The two-sided normal-mixture confidence sequence for a mean after ``n`` units has half-width
    ``σ·√(2(nρ² + 1)/(n²ρ²) · log(√(nρ² + 1)/α))`` (Waudby-Smith et al. 2024, Thm. 2.2), with
    ``ρ² = (−2 log α + log(−2 log α + 1)) / tuning_n`` (Howard et al. 2021, eq. (14)). For an
    estimator with standard error ``SE = σ/√n`` the factor is that half-width over ``σ/√n``.
    """
    rho_sq = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning_n
    width_sq = 2 * (n * rho_sq + 1) / (n * n * rho_sq) * math.log(math.sqrt(n * rho_sq + 1) / alpha)
    return math.sqrt(n * width_sq)


def sequential(
    comparison: Comparison, n: int, alpha: float = ALPHA, tuning_n: int = SEQUENTIAL_TUNING_N
) -> Comparison:
    """The comparison with always-valid intervals after ``n`` units (both arms together)."""
    k = sequential_multiplier(n, alpha, tuning_n)
    a, r = comparison.absolute, comparison.relative
    if not isinstance(a, Undefined):
        a = Absolute(
            a.estimate, a.se, a.df, (a.estimate - k * a.se, a.estimate + k * a.se), a.p_value
        )
    if not isinstance(r, Undefined):
        r = Relative(r.estimate, r.se, (r.estimate - k * r.se, r.estimate + k * r.se))
    return Comparison(a, r, comparison.chance_to_win)
