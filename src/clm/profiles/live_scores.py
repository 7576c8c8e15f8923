"""A live profile's scores from its facts and the stored calibration (SPEC §2–4).

These are the batch's definitions for one profile, in plain Python: RFM inputs as of
a date with the window, scores against the calibration's cut points, the segment by
the same rules (:data:`clm.scores.segments.RULES`), the activity family by the same
formulas (:mod:`clm.scores.formulas` through :mod:`clm.profiles.activity_state`), and
the next best categories from the run's lift matrix, ranked as the batch ranks them.
Tests compare every profile with ``clm score`` on the same events and calibration.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from clm.profiles import activity_state
from clm.profiles.activity_state import ActivityState, ScopeScores
from clm.profiles.ledger import Categories, Ledger, Order
from clm.profiles.live import MICROS_PER_DAY, Facts, Traits
from clm.scores.calibration import Calibration
from clm.scores.segments import PHASE_OF, RULES

_EPOCH = datetime(1970, 1, 1)
LATEST_ORDERS = 10


@dataclass(frozen=True)
class LiveCalibration:
    """The latest scoring run's calibration, with its lift gains for the next best."""

    run_id: int
    calibration: Calibration
    gains: dict[tuple[str, str], float]
    next_best: int

    @property
    def as_of(self) -> date:
        return self.calibration.rfm.as_of


def to_datetime(us: int) -> datetime:
    """A naive UTC time from µs since the epoch."""
    return _EPOCH + timedelta(microseconds=us)


def day_end(as_of: date) -> int:
    """µs of the first instant after the as-of date."""
    return (as_of - date(1970, 1, 1)).days * MICROS_PER_DAY + MICROS_PER_DAY


def _purchases(parts: list[Facts]) -> list[Ledger]:
    return [f.purchases for f in parts if f.purchases is not None]


def kept_orders(ledgers: list[Ledger]) -> dict[str, Order]:
    """The kept orders of a profile's ids; an order key kept under two ids is one order
    (such keys are never folded, :attr:`clm.profiles.live.LiveState.shared`)."""
    if len(ledgers) == 1:
        return ledgers[0].orders()
    out: dict[str, Order] = {}
    for part in ledgers:
        for key, o in part.orders().items():
            known = out.get(key)
            out[key] = (
                o
                if known is None
                else Order(
                    min(known.ts, o.ts),
                    known.amount + o.amount,
                    known.lines + o.lines,
                    known.mask | o.mask,
                )
            )
    return out


def rfm_inputs(
    parts: list[Facts], traits: Traits | None, as_of: date, window_days: int
) -> dict[str, Any]:
    """recency_days, frequency, monetary, n_orders_life, has_email, visited (SPEC §2–3):
    kept orders counted one by one, folded ones from their aggregates (whole days: the
    window starts and ends at midnight)."""
    end = day_end(as_of)
    start = end - window_days * MICROS_PER_DAY
    first_day, end_day = start // MICROS_PER_DAY, end // MICROS_PER_DAY
    bought = _purchases(parts)
    kept = kept_orders(bought) if bought else {}
    positive = [o.ts for o in kept.values() if o.amount > 0 and o.ts < end]
    latest = [ts for ts in (max(positive, default=None),) if ts is not None]
    latest += [p.folded_last for p in bought if p.folded_last is not None]
    n_orders = len(positive) + sum(p.folded for p in bought)
    frequency = sum(1 for ts in positive if ts >= start)
    frequency += sum(p.folded_in(first_day, end_day) for p in bought)
    monetary_units = sum(p.line_sum(first_day, end_day) for p in bought)
    visits = [f.last_visit for f in parts if f.last_visit is not None]
    has_email = any(f.signed_up for f in parts) or (
        traits is not None
        and traits.has_email
        and (traits.signup_at is None or traits.signup_at < end)
    )
    return {
        "recency_days": (as_of - to_datetime(max(latest)).date()).days if latest else None,
        "frequency": frequency,
        "monetary": monetary_units / 10_000,
        "n_orders_life": n_orders,
        "has_email": bool(has_email),
        "visited": bool(visits) and max(visits) >= start,
    }


def _score(value: float, cuts: tuple[float, ...], strict: bool = True) -> int:
    """``1 + #{k : value > cut_k}`` (``>=`` when not strict), as :func:`clm.scores.rfm._score`."""
    return 1 + sum(1 for c in cuts if (value > c if strict else value >= c))


def scores(inputs: dict[str, Any], cal: Calibration | None) -> dict[str, Any]:
    """R, F, M (None for non-buyers or without a calibration), segment and phase."""
    out = dict(inputs)
    buyer = inputs["n_orders_life"] >= 1
    if buyer and cal is not None:
        rfm = cal.rfm
        out["r_score"] = _score(-float(inputs["recency_days"]), rfm.r_cuts)
        out["f_score"] = _score(float(inputs["frequency"]), rfm.f_cuts, rfm.f_mode != "fixed")
        out["m_score"] = _score(inputs["monetary"], rfm.m_cuts)
    else:
        out["r_score"] = out["f_score"] = out["m_score"] = None
    out["segment"] = segment(out) if (not buyer or cal is not None) else None
    out["phase"] = PHASE_OF.get(out["segment"]) if out["segment"] else None
    return out


def segment(row: dict[str, Any]) -> str:
    """The first matching rule of SPEC §3 (the batch's own rules, on Python values)."""
    profile = SimpleNamespace(**row)
    for rule in RULES[:-1]:
        if rule.condition(profile):
            return rule.segment
    return RULES[-1].segment


def merged_activity(parts: list[Facts], h_short: float, h_long: float) -> ActivityState:
    """The activity sums of a profile's parts added scope by scope (order-free)."""
    if len(parts) == 1:
        return parts[0].activity
    rate_s = activity_state.decay_rate(h_short)
    rate_l = activity_state.decay_rate(h_long)
    out: ActivityState = {}
    for facts in parts:
        for scope, packed in facts.activity.items():
            known = out.get(scope)
            out[scope] = (
                packed if known is None else activity_state.combine(known, packed, rate_s, rate_l)
            )
    return out


def activity_rows(state: ActivityState, as_of: date, cal: Calibration | None) -> list[ScopeScores]:
    """The activity family per scope at the end of the as-of date, as the batch orders it."""
    if cal is None or cal.activity is None or not state:
        return []
    rows = activity_state.evaluate(state, to_datetime(day_end(as_of)), cal.activity)
    return sorted(rows, key=lambda r: (r.scope != "all", -r.activity, r.scope))


def next_best(rows: list[ScopeScores], live_cal: LiveCalibration) -> list[dict[str, Any]]:
    """The top categories the profile is not active in, by ``Σ_a A_a · max(lift(a,c) − 1, 0)``,
    ties by name (SPEC §4; ranked exactly as :func:`clm.scores.relations._ordered`)."""
    cal = live_cal.calibration.activity
    if cal is None:
        return []
    by_scope = {r.scope: r for r in rows if r.scope != "all"}
    if not by_scope:
        return []
    categories = sorted(cal.pi)
    gain = live_cal.gains
    candidates = [c for c in categories if any((a, c) in gain for a in categories)]
    n = len(candidates)
    ranked = []
    for j, c in enumerate(candidates):
        row = by_scope.get(c)
        if row is not None and row.s_long >= 1.0:
            continue
        terms = [_activity_of(by_scope.get(a)) * g for a in categories if (g := gain.get((a, c)))]
        score = _sum(terms)
        if score > 0:
            ranked.append((round(math.log(score) * 1e9) * n + (n - 1 - j), c, score))
    ranked.sort(reverse=True)
    return [
        {"rank": i + 1, "category": c, "score": s}
        for i, (_, c, s) in enumerate(ranked[: live_cal.next_best])
    ]


def _activity_of(row: ScopeScores | None) -> float:
    return row.activity if row is not None else 0.0


def _sum(terms: list[float]) -> float:
    total = terms[0] if terms else 0.0
    for term in terms[1:]:
        total = total + term
    return total


def latest_purchases(parts: list[Facts], categories: Categories) -> list[dict[str, Any]]:
    """The latest orders, newest first, as ``clm customer`` lists them (every id keeps its
    newest orders, so the profile's newest are among the kept ones)."""
    bought = _purchases(parts)
    table = kept_orders(bought) if bought else {}
    newest = sorted(table.items(), key=lambda kv: kv[1].ts, reverse=True)[:LATEST_ORDERS]
    return [
        {
            "order_id": key[1:] if key.startswith("\0") else key,
            "ts": to_datetime(o.ts).isoformat(),
            "amount": o.amount / 10_000,
            "lines": o.lines,
            "categories": ", ".join(categories.names_of(o.mask)) or None,
        }
        for key, o in newest
    ]


def event_counts(parts: list[Facts]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for facts in parts:
        total.update(facts.counts)
    return dict(sorted(total.items()))
