"""A profile's activity state and its O(1) update with one event (SPEC §4).

For each scope the state keeps the four decayed sums anchored at a reference
time ``t_ref``. An event at ``t_e`` with weight ``w`` and value ``v`` adds
``w · 2^(−(t_ref − t_e)/h)`` when it is older than the anchor, or first moves
the anchor forward (decaying the sums) when it is newer. The result does not
depend on the order in which events arrive, up to rounding, and equals the
batch sums of :mod:`clm.scores.activity` evaluated at the same time. Times are
integer microseconds since the epoch, as in the batch.

A state is a plain ``dict`` from scope to that scope's sums packed in 40 bytes
(:data:`PACKED`; :func:`unpack` gives them as a :class:`Decayed`). Neither bytes
nor a dict holding only strings and bytes is tracked by CPython's cyclic garbage
collector, so a consumer can keep a million states in memory and apply events
to them without the collector scanning them: with a dict of named tuples per
state, three quarters of the update's time went to the collector
(benchmarks/RESULTS.md).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, TypeAlias

from clm.scores import formulas
from clm.scores.calibration import ActivityCalibration

ALL = "all"
PURCHASE = "purchase"
MICROS_PER_DAY = 86_400_000_000.0

#: One scope's sums as bytes: ``t_ref`` (int64 µs), S_hs, S_hl, V_hs, V_hl (float64).
PACKED = struct.Struct("<qdddd")
_pack, _unpack = PACKED.pack, PACKED.unpack

ActivityState: TypeAlias = dict[str, bytes]
"""Every scope of one profile: scope → its packed sums. ``ActivityState()`` is empty."""


class Decayed(NamedTuple):
    """The decayed sums of one scope, valued at ``t_ref`` (µs since the epoch)."""

    t_ref: int
    s_short: float = 0.0
    s_long: float = 0.0
    v_short: float = 0.0
    v_long: float = 0.0


def pack(d: Decayed) -> bytes:
    """A scope's sums as stored in an :data:`ActivityState`."""
    return _pack(*d)


def unpack(packed: bytes) -> Decayed:
    """A scope's sums from an :data:`ActivityState`."""
    return Decayed(*_unpack(packed))


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
_MICROSECOND = timedelta(microseconds=1)


def micros(ts: datetime | int) -> int:
    """Microseconds since the epoch of a UTC time (naive times are UTC; ints pass through)."""
    if isinstance(ts, int):
        return ts
    return (ts - (_EPOCH if ts.tzinfo is None else _EPOCH_UTC)) // _MICROSECOND


def decay_rate(half_life: float) -> float:
    """``ln2 / h`` per microsecond: ``2^(−age/h) = exp(−age_µs · rate)``."""
    return formulas.LN2 / (half_life * MICROS_PER_DAY)


def weight_and_value(
    event_type: str, amount: float | None, weights: dict[str, float]
) -> tuple[float, float]:
    """``(w_e, v_e)``: purchase lines count when positive; other types by their weight."""
    if event_type == PURCHASE:
        if amount is not None and amount > 0:
            return weights.get(PURCHASE, 1.0), float(amount)
        return 0.0, 0.0
    return weights.get(event_type, 0.0), 0.0


def add(packed: bytes, t_e: int, w: float, v: float, rate_s: float, rate_l: float) -> bytes:
    """One event into one scope's packed sums, in O(1), in any arrival order;
    ``rate_s`` and ``rate_l`` are :func:`decay_rate` of the two half-lives."""
    t_ref, s_s, s_l, v_s, v_l = _unpack(packed)
    if t_e <= t_ref:
        k_s, k_l = math.exp((t_e - t_ref) * rate_s), math.exp((t_e - t_ref) * rate_l)
        return _pack(t_ref, s_s + w * k_s, s_l + w * k_l, v_s + v * k_s, v_l + v * k_l)
    k_s, k_l = math.exp((t_ref - t_e) * rate_s), math.exp((t_ref - t_e) * rate_l)
    return _pack(t_e, s_s * k_s + w, s_l * k_l + w, v_s * k_s + v, v_l * k_l + v)


def combine(a: bytes, b: bytes, rate_s: float, rate_l: float) -> bytes:
    """Two packed sums of one scope added (a profile made of a customer's and a linked
    visitor's events): both valued at the later anchor, then summed."""
    ta, *sa = _unpack(a)
    tb, *sb = _unpack(b)
    if ta < tb:
        ta, sa, tb, sb = tb, sb, ta, sa
    k_s, k_l = math.exp((tb - ta) * rate_s), math.exp((tb - ta) * rate_l)
    return _pack(
        ta, sa[0] + sb[0] * k_s, sa[1] + sb[1] * k_l, sa[2] + sb[2] * k_s, sa[3] + sb[3] * k_l
    )


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
    rate_s, rate_l = decay_rate(half_life_short), decay_rate(half_life_long)
    new = state.copy()
    for scope in (ALL, category) if category else (ALL,):
        old = state.get(scope)
        new[scope] = _pack(t_e, w, w, v, v) if old is None else add(old, t_e, w, v, rate_s, rate_l)
    return new


def apply_in_place(
    state: ActivityState,
    t_e: int,
    event_type: str,
    category: str | None,
    amount: float | None,
    weights: dict[str, float],
    rate_s: float,
    rate_l: float,
) -> None:
    """:func:`apply_event` changing ``state`` itself, with the decay rates given (the
    live state's hot path): both scopes' new sums are computed before either is stored."""
    w, v = weight_and_value(event_type, amount, weights)
    old = state.get(ALL)
    new = _pack(t_e, w, w, v, v) if old is None else add(old, t_e, w, v, rate_s, rate_l)
    if category:
        old_c = state.get(category)
        new_c = _pack(t_e, w, w, v, v) if old_c is None else add(old_c, t_e, w, v, rate_s, rate_l)
        state[category] = new_c
    state[ALL] = new


def value_at(d: Decayed, t: int, h_s: float, h_l: float) -> Decayed:
    """The sums of a scope valued at time ``t`` (events after ``t`` are not expected)."""
    k_s = math.exp((d.t_ref - t) * decay_rate(h_s))
    k_l = math.exp((d.t_ref - t) * decay_rate(h_l))
    return Decayed(t, d.s_short * k_s, d.s_long * k_l, d.v_short * k_s, d.v_long * k_l)


def evaluate(state: ActivityState, at: datetime, cal: ActivityCalibration) -> list[ScopeScores]:
    """Activity, trend, affinity and rising of every scope at time ``at``."""
    t = micros(at)
    h_s, h_l = cal.half_life_short, cal.half_life_long
    valued = {s: value_at(unpack(p), t, h_s, h_l) for s, p in state.items()}
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
