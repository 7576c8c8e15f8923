"""Lifecycle segments and phases (SPEC §3), as one Ibis case expression.

The rules are data (:data:`RULES`): the first matching row wins. The order is
the specification's; tests check each row on hand-made profiles and compare the
whole assignment with an independent implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

ACQUISITION = "Acquisition"
RETENTION = "Retention"
INCREASED_VALUE = "Increased Value"
VENERATION = "Veneration"
REACTIVATION = "Reactivation"
PHASES = (ACQUISITION, RETENTION, INCREASED_VALUE, VENERATION, REACTIVATION)

PROSPECT = "Prospect"

CLM_LEVELS = {
    "Attract & acquire": (ACQUISITION,),
    "Activate & incentivize": (RETENTION, INCREASED_VALUE),
    "Maintain & retain": (VENERATION, REACTIVATION),
}

Condition = Callable[[ir.Table], ir.BooleanValue]


@dataclass(frozen=True)
class Rule:
    phase: str | None
    segment: str
    condition: Condition


def _fantastic(t: ir.Table) -> ir.BooleanValue:
    return (t.f_score >= 3) & (t.m_score >= 3) & ((t.f_score + t.m_score) >= 7)


RULES: tuple[Rule, ...] = (
    Rule(ACQUISITION, "Loyal Visitors", lambda t: (t.n_orders_life == 0) & t.has_email),
    Rule(ACQUISITION, "Engaged Visitors", lambda t: (t.n_orders_life == 0) & t.visited),
    Rule(None, PROSPECT, lambda t: t.n_orders_life == 0),
    Rule(RETENTION, "First-time Customers", lambda t: (t.n_orders_life == 1) & (t.r_score >= 3)),
    Rule(
        VENERATION,
        "Champions",
        lambda t: (t.r_score >= 4) & (t.f_score >= 4) & (t.m_score >= 4),
    ),
    Rule(VENERATION, "Loyal Customers", lambda t: (t.r_score >= 3) & (t.f_score >= 4)),
    Rule(
        INCREASED_VALUE,
        "Potential Loyalists",
        lambda t: (t.r_score >= 3) & (t.f_score >= 2) & (t.m_score >= 3),
    ),
    Rule(RETENTION, "Recent Customers", lambda t: t.r_score >= 4),
    Rule(INCREASED_VALUE, "Promising Customers", lambda t: t.r_score == 3),
    Rule(REACTIVATION, "Cannot-lose Customers", lambda t: (t.r_score == 1) & _fantastic(t)),
    Rule(REACTIVATION, "At Risk Customers", lambda t: (t.r_score == 2) & _fantastic(t)),
    Rule(REACTIVATION, "Falling Asleep Customers", lambda t: ibis.literal(True)),
)

SEGMENTS: tuple[str, ...] = tuple(r.segment for r in RULES if r.segment != PROSPECT)
PHASE_OF: dict[str, str | None] = {r.segment: r.phase for r in RULES}


def assign(scored: ir.Table) -> ir.Table:
    """Add ``segment`` and ``phase`` to a table with RFM scores and inputs."""
    segment = ibis.cases(
        *((r.condition(scored), r.segment) for r in RULES[:-1]), else_=RULES[-1].segment
    )
    with_segment = scored.mutate(segment=segment)
    phase = with_segment.segment.substitute(
        {seg: phase for seg, phase in PHASE_OF.items() if phase is not None},
        else_=ibis.null("string"),
    )
    return with_segment.mutate(phase=phase)
