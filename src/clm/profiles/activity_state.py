"""A profile's activity state and its O(1) update with one event (SPEC §4).

For each scope the state keeps the four decayed sums anchored at a reference
time ``t_ref``. An event at ``t_e`` with weight ``w`` and value ``v`` adds
``w · 2^(−(t_ref − t_e)/h)`` when it is older than the anchor, or first moves
the anchor forward (decaying the sums) when it is newer. The result does not
depend on the order in which events arrive, up to rounding, and equals the
batch sums of :mod:`clm.scores.activity` evaluated at the same time. Times are
integer microseconds since the epoch, as in the batch.

A consumer that keeps many states in memory (a stream processor) should call
``gc.freeze()`` after loading them: each update allocates a few small objects,
and with 100,000 live states CPython's full collections took three quarters of
the time (benchmarks/RESULTS.md: 59,000 events/s, 235,000 with the collector
kept off the loop).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from clm.scores import formulas
from clm.scores.calibration import ActivityCalibration

ALL = "all"
PURCHASE = "purchase"
MICROS_PER_DAY = 86_400_000_000.0


class Decayed(NamedTuple):
    """The decayed sums of one scope, valued at ``t_ref`` (µs since the epoch)."""

    t_ref: int
    s_short: float = 0.0
    s_long: float = 0.0
    v_short: float = 0.0
    v_long: float = 0.0


@dataclass(frozen=True, slots=True)
class ActivityState:
    """Every scope of one profile."""

    scopes: dict[str, Decayed] = field(default_factory=dict)


@dataclass(frozen=True)
class ScopeScores:
    """The activity family of one scope, evaluated at a time."""

    scope: str
    s_short: float
    s_long: float
    v_short: float
    v_long: float
    activity: float
    trend: float
    affinity: float | None
    rising: bool


_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)


def micros(ts: datetime | int) -> int:
    """Microseconds since the epoch of a UTC time (naive times are UTC; ints pass through)."""
    if isinstance(ts, int):
        return ts
    delta = ts - (_EPOCH if ts.tzinfo is None else _EPOCH_UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def weight_and_value(
    event_type: str, amount: float | None, weights: dict[str, float]
) -> tuple[float, float]:
    """``(w_e, v_e)``: purchase lines count when positive; other types by their weight."""
    if event_type == PURCHASE:
        if amount is not None and amount > 0:
            return weights.get(PURCHASE, 1.0), float(amount)
        return 0.0, 0.0
    return weights.get(event_type, 0.0), 0.0


def _factor(age_micros: int, half_life: float) -> float:
    """``2^(−age/h)`` with the age in days (as in the batch)."""
    return math.pow(2.0, -(age_micros / MICROS_PER_DAY) / half_life)


def add(d: Decayed, t_e: int, w: float, v: float, h_s: float, h_l: float) -> Decayed:
    """One event into one scope's sums, in O(1), in any arrival order."""
    t_ref, s_s, s_l, v_s, v_l = d
    if t_e <= t_ref:
        k_s, k_l = _factor(t_ref - t_e, h_s), _factor(t_ref - t_e, h_l)
        return Decayed(t_ref, s_s + w * k_s, s_l + w * k_l, v_s + v * k_s, v_l + v * k_l)
    k_s, k_l = _factor(t_e - t_ref, h_s), _factor(t_e - t_ref, h_l)
    return Decayed(t_e, s_s * k_s + w, s_l * k_l + w, v_s * k_s + v, v_l * k_l + v)


def apply_event(
    state: ActivityState,
    ts: datetime | int,
    event_type: str,
    category: str | None,
    amount: float | None,
    weights: dict[str, float],
    half_life_short: float,
    half_life_long: float,
) -> ActivityState:
    """The state after one event: the scope ``all`` and the event's category.

    ``ts`` is a UTC time or integer microseconds since the epoch. The state is not
    modified; the new one shares every untouched scope with it.
    """
    t_e = micros(ts)
    w, v = weight_and_value(event_type, amount, weights)
    scopes = state.scopes.copy()
    empty = Decayed(t_e)
    scopes[ALL] = add(scopes.get(ALL, empty), t_e, w, v, half_life_short, half_life_long)
    if category:
        scopes[category] = add(
            scopes.get(category, empty), t_e, w, v, half_life_short, half_life_long
        )
    return ActivityState(scopes)


def value_at(d: Decayed, t: int, h_s: float, h_l: float) -> Decayed:
    """The sums of a scope valued at time ``t`` (events after ``t`` are not expected)."""
    k_s, k_l = _factor(t - d.t_ref, h_s), _factor(t - d.t_ref, h_l)
    return Decayed(t, d.s_short * k_s, d.s_long * k_l, d.v_short * k_s, d.v_long * k_l)


def evaluate(state: ActivityState, at: datetime, cal: ActivityCalibration) -> list[ScopeScores]:
    """Activity, trend, affinity and rising of every scope at time ``at``."""
    t = micros(at)
    h_s, h_l = cal.half_life_short, cal.half_life_long
    valued = {s: value_at(d, t, h_s, h_l) for s, d in state.scopes.items()}
    v_all = valued[ALL].v_long if ALL in valued else 0.0
    out = []
    for scope, d in sorted(valued.items()):
        trend = formulas.trend(d.s_short, d.s_long, h_s, h_l)
        share = cal.pi.get(scope, 0.0)
        affinity = (
            formulas.affinity(d.v_long, v_all, share, cal.m) if scope != ALL and share > 0 else None
        )
        out.append(
            ScopeScores(
                scope,
                d.s_short,
                d.s_long,
                d.v_short,
                d.v_long,
                formulas.activity(d.s_short, cal.kappa(scope)),
                trend,
                affinity,
                bool(formulas.rising(trend, d.s_long, cal.rising_trend, cal.rising_min_long)),
            )
        )
    return out
