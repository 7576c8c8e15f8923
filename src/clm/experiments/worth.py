"""Campaign worth (SPEC §6): incremental conversions, revenue and profit with 95% intervals.

A campaign's worth is what it added over what would have happened anyway: the difference
between the treated and the control arm's mean outcome per unit, scaled to the treated
population. Engines aggregate, Python decides: a query returns per arm the addable sufficient
statistics of :class:`Outcomes` (``n`` and ``Σy``, ``Σy²`` of each outcome, built on
:class:`~clm.experiments.statistics.SampleStats`); the pure functions here turn them into
increments.

Method
------
For an outcome ``y`` the incremental total over a treated population of ``N`` units is
``N·(ȳ₁ − ȳ₀)``, the difference-in-means estimator of the average treatment effect on the
treated scaled to a total (Neyman 1923; Imbens & Rubin 2015, *Causal Inference for
Statistics, Social, and Biomedical Sciences*, §6.4–6.5). Its standard error is ``N`` times the
Neyman standard error ``√(s₁²/n₁ + s₀²/n₀)`` (conservative for a finite population), and the
interval uses Welch's t quantile with Welch–Satterthwaite degrees of freedom, exactly as the
absolute effect of :func:`clm.experiments.statistics.welch` (Welch 1947). Conversions are 0/1
and take the variance ``p(1 − p)`` (SPEC §6); revenue and profit the sample variance.

Profit of one unit is ``revenue × margin − incentive cost − message cost`` (SPEC §6), computed
per unit before aggregating, so its variance includes the covariance of revenue and costs.
``N`` is the number of treated units measured unless a larger rollout population is given.

Expected conditions (an empty arm, fewer than two units, zero variance in both arms, a control
mean of 0 or below for the relative lift) come back as
:class:`~clm.experiments.statistics.Undefined` with a reason, never as exceptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import accumulate

import numpy as np
import numpy.typing as npt

from clm.experiments import statistics as st

QUANTITIES = ("conversions", "revenue", "profit")


@dataclass(frozen=True)
class Outcomes:
    """Addable sufficient statistics of one arm: conversions, revenue, profit, and costs.

    ``conversions`` holds the 0/1 conversion indicator (so ``sum_sq == sum``), ``revenue``
    the goal-window revenue and ``profit`` the per-unit profit (zeros included); ``cost``
    is the summed message and incentive costs, reported but not tested.
    """

    conversions: st.SampleStats = field(default_factory=st.SampleStats)
    revenue: st.SampleStats = field(default_factory=st.SampleStats)
    profit: st.SampleStats = field(default_factory=st.SampleStats)
    cost: float = 0.0

    def __add__(self, other: Outcomes) -> Outcomes:
        return Outcomes(
            self.conversions + other.conversions,
            self.revenue + other.revenue,
            self.profit + other.profit,
            self.cost + other.cost,
        )

    @property
    def n(self) -> int:
        return self.conversions.n

    def of(self, quantity: str) -> st.SampleStats:
        """The statistics of ``conversions``, ``revenue`` or ``profit``."""
        value: st.SampleStats = getattr(self, quantity)
        return value


@dataclass(frozen=True)
class Increment:
    """An incremental total over the treated population with its interval.

    ``per_unit`` is the difference in means (Welch); ``estimate``, ``se`` and ``ci`` are it
    times ``population``; ``relative`` is the lift over control, undefined at a control
    mean of 0.
    """

    estimate: float
    se: float
    ci: tuple[float, float]
    p_value: float
    population: int
    per_unit: st.Absolute
    relative: st.Relative | st.Undefined


@dataclass(frozen=True)
class Worth:
    """A campaign's worth: increments of conversions, revenue and profit over control."""

    treated: int
    control: int
    population: int
    cost: float
    conversions: Increment | st.Undefined
    revenue: Increment | st.Undefined
    profit: Increment | st.Undefined

    def of(self, quantity: str) -> Increment | st.Undefined:
        """The increment of ``conversions``, ``revenue`` or ``profit``."""
        value: Increment | st.Undefined = getattr(self, quantity)
        return value


def unit_profit(
    revenue: npt.ArrayLike,
    incentive_cost: npt.ArrayLike,
    message_cost: npt.ArrayLike,
    margin: float,
) -> npt.NDArray[np.float64]:
    """Profit of each unit: ``revenue × margin − incentive cost − message cost`` (SPEC §6)."""
    r = np.asarray(revenue, dtype=np.float64)
    return (
        r * margin - np.asarray(incentive_cost, np.float64) - np.asarray(message_cost, np.float64)
    )


def _sums(values: npt.NDArray[np.float64]) -> st.SampleStats:
    return st.SampleStats(int(values.size), float(values.sum()), float((values * values).sum()))


def outcomes(
    converted: npt.ArrayLike,
    revenue: npt.ArrayLike,
    incentive_cost: npt.ArrayLike,
    message_cost: npt.ArrayLike,
    margin: float,
) -> Outcomes:
    """The sufficient statistics of one arm from per-unit arrays (the reference aggregation)."""
    c = np.asarray(converted, dtype=np.float64)
    r = np.asarray(revenue, dtype=np.float64)
    inc = np.asarray(incentive_cost, dtype=np.float64)
    msg = np.asarray(message_cost, dtype=np.float64)
    return Outcomes(
        _sums(c),
        _sums(r),
        _sums(unit_profit(r, inc, msg, margin)),
        float(inc.sum() + msg.sum()),
    )


def increment(
    treated: st.SampleStats,
    control: st.SampleStats,
    conversion: bool,
    population: int,
    alpha: float = st.ALPHA,
) -> Increment | st.Undefined:
    """``population × (ȳ₁ − ȳ₀)`` with a Welch interval (Imbens & Rubin 2015, §6.4).

    The relative lift is left undefined when the control mean is 0 or negative (a loss-making
    control profit): a ratio to a negative baseline flips its meaning.
    """
    if treated.n == 0:
        return st.Undefined("no treated units")
    if control.n == 0:
        return st.Undefined("no control units")
    t, c = st.moments(treated, conversion), st.moments(control, conversion)
    per_unit = st.welch(t, c, alpha)
    if isinstance(per_unit, st.Undefined):
        return per_unit
    lo, hi = per_unit.ci
    lift: st.Relative | st.Undefined = (
        st.Undefined("the control mean is negative")
        if c.mean < 0
        else st.relative(t, c, per_unit, alpha)
    )
    return Increment(
        population * per_unit.estimate,
        population * per_unit.se,
        (population * lo, population * hi),
        per_unit.p_value,
        population,
        per_unit,
        lift,
    )


def worth(
    treated: Outcomes,
    control: Outcomes,
    population: int | None = None,
    alpha: float = st.ALPHA,
) -> Worth:
    """Incremental conversions, revenue and profit of ``treated`` over ``control``.

    ``population`` is the number of treated units the totals are scaled to (default: the
    treated units measured, ``treated.n``).
    """
    size = treated.n if population is None else population
    return Worth(
        treated.n,
        control.n,
        size,
        treated.cost,
        increment(treated.conversions, control.conversions, True, size, alpha),
        increment(treated.revenue, control.revenue, False, size, alpha),
        increment(treated.profit, control.profit, False, size, alpha),
    )


# Below these counts the normal approximation behind the Welch intervals (SPEC §6) is poor
# for a 0/1 outcome: nominal 95% intervals cover the truth far less often (Newcombe 1998,
# "Interval estimation for the difference between independent proportions"; the usual
# rule asks n·p and n·(1 − p) ≥ 10 in each group). A one-off run of the demo world's
# many-seeds test (tests/experiments/test_demo_coverage.py) at the demo's 10% holdout,
# not part of the suite, which runs at 50%, saw 73–78% with control arms of 3–34 units.
MIN_ARM_UNITS = 30
MIN_ARM_EVENTS = 10


def caution(treated: Outcomes, control: Outcomes) -> str | None:
    """Why the intervals of a comparison should not be trusted yet, or ``None``.

    An arm with fewer than ``MIN_ARM_UNITS`` units, or fewer than ``MIN_ARM_EVENTS``
    conversions or non-conversions, gets the intervals computed as SPEC §6 says but
    flagged: they are likely narrower than the truth.
    """
    problems = []
    for arm, stats in (("control", control), ("treated", treated)):
        n, converted = stats.n, round(stats.conversions.sum)
        if n < MIN_ARM_UNITS:
            problems.append(f"{arm} has {n} units (fewer than {MIN_ARM_UNITS})")
        elif min(converted, n - converted) < MIN_ARM_EVENTS:
            what = "conversions" if converted < MIN_ARM_EVENTS else "non-conversions"
            count = converted if converted < MIN_ARM_EVENTS else n - converted
            problems.append(f"{arm} has {count} {what} (fewer than {MIN_ARM_EVENTS})")
    if not problems:
        return None
    return (
        "; ".join(problems)
        + ": the 95% intervals rest on a normal approximation that is poor for so few; "
        "read them as rough until the arms grow"
    )


@dataclass(frozen=True)
class SeriesPoint:
    """The campaign's worth over the units enrolled up to and including ``day``."""

    day: date
    worth: Worth


def cumulative(
    daily: Iterable[tuple[date, Outcomes, Outcomes]], alpha: float = st.ALPHA
) -> list[SeriesPoint]:
    """Worth over the units enrolled up to each day, from per-day ``(day, treated, control)``.

    The days are sorted and the statistics added (they are addable), so each point is the
    analysis one would have run on that day's cumulative enrolments; each point's interval is
    a fixed-horizon 95% interval, not an always-valid one (see
    :func:`clm.experiments.statistics.sequential` for peeking).
    """
    rows: Sequence[tuple[date, Outcomes, Outcomes]] = sorted(daily, key=lambda r: r[0])
    days = [r[0] for r in rows]
    treated = accumulate((r[1] for r in rows), lambda a, b: a + b)
    control = accumulate((r[2] for r in rows), lambda a, b: a + b)
    return [
        SeriesPoint(d, worth(t, c, alpha=alpha))
        for d, t, c in zip(days, treated, control, strict=True)
    ]
