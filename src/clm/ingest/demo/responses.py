"""How the demo world's customers respond to the seed programmes, with known true effects.

For each enrolment, the customer converts within the automation's goal window with
probability ``base`` (control arms, and treated customers who were sent nothing) or
``base + lift`` (treated customers who were sent a message): ``lift`` is the true absolute
effect of a message on the conversion rate, which the automation reports should recover.
A conversion is the automation's goal event at a uniform time in the window (a purchase in
the goal's category, with a lognormal amount, or an ``offer_accepted`` event).

Draws are a hash of the seed and the enrolment id (as in :mod:`clm.experiments.assignment`),
and every simulated event id is derived from the enrolment, so simulating again adds nothing.
Simulate after each ``run``: the engine sees the responses when its clock reaches them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from statistics import NormalDist
from typing import Any

import pandas as pd

from clm.automation.durations import parse_duration
from clm.experiments.assignment import unit
from clm.workspace import Workspace


@dataclass(frozen=True)
class Effect:
    """The truth of one automation: conversion rates without and with its message."""

    base: float
    lift: float
    median_amount: float = 40.0
    properties: dict[str, Any] = field(default_factory=dict)


#: The spread (σ of the log) of a simulated purchase amount.
SIGMA = 0.5

TRUE_EFFECTS: dict[str, Effect] = {
    "beauty-double-points": Effect(0.06, 0.08, 30.0),
    "premium-card": Effect(0.02, 0.05, properties={"offer": "premium-card"}),
    "beauty-follow-up": Effect(0.03, 0.02, 30.0),
    "premium-follow-up": Effect(0.01, 0.02, properties={"offer": "premium-card"}),
    "welcome": Effect(0.10, 0.06, 45.0),
    "win-back": Effect(0.08, 0.07, 60.0),
    "first-purchase": Effect(0.05, 0.10, 55.0),
}


def simulate(ws: Workspace, *, seed: int = 7, effects: dict[str, Effect] | None = None) -> int:
    """Add the goal events of the enrolments that convert; return how many were added."""
    truth = TRUE_EFFECTS if effects is None else effects
    rows = ws.con.execute(
        """
        SELECT en.enrolment_id, en.customer_id, en.automation, en.enrolled_at, en.arm,
               v.definition,
               EXISTS (SELECT 1 FROM decisions d WHERE d.enrolment_id = en.enrolment_id
                       AND d.kind = 'sent') AS messaged
        FROM enrolments en JOIN automation_versions v
          ON v.automation = en.automation AND v.version = en.version
        WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = 'sim:' || en.enrolment_id)
        """
    ).fetchall()
    purchases: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for eid, cid, name, enrolled_at, arm, definition, messaged in rows:
        effect, goal = truth.get(name), json.loads(definition).get("goal")
        if effect is None or goal is None:
            continue
        at = conversion_time(
            effect, goal, eid, enrolled_at, arm == "treatment" and bool(messaged), seed
        )
        if at is None:
            continue
        row = goal_event(eid, cid, goal, at, effect, seed)
        (purchases if goal["event"] == "purchase" else others).append(row)
    if purchases:
        ws.import_transactions(pd.DataFrame(purchases))
    if others:
        frame = pd.DataFrame(others)
        props = [c for c in frame.columns if c not in ("event_id", "customer_id", "ts", "type")]
        ws.import_events(frame, type_column="type", properties=props)
    return len(purchases) + len(others)


def conversion_time(
    effect: Effect,
    goal: dict[str, Any],
    eid: str,
    enrolled_at: datetime,
    messaged: bool,
    seed: int,
) -> datetime | None:
    """When the enrolment converts (uniform in its goal window), or None if it does not.

    ``messaged`` is whether it is treated and was sent a message: it converts with
    probability ``base + lift`` then, else ``base``.
    """
    p = effect.base + (effect.lift if messaged else 0.0)
    if unit(f"{seed}|convert", eid) >= p:
        return None
    return enrolled_at + unit(f"{seed}|when", eid) * parse_duration(goal["window"])


def amount(effect: Effect, eid: str, seed: int) -> float:
    """A simulated purchase's amount: lognormal with median ``median_amount`` and σ = 0.5."""
    z = NormalDist().inv_cdf(min(max(unit(f"{seed}|amount", eid), 1e-9), 1 - 1e-9))
    return round(effect.median_amount * math.exp(SIGMA * z), 2)


def mean_amount(effect: Effect) -> float:
    """The expected simulated purchase amount: ``median × exp(σ²/2)`` (lognormal mean)."""
    return effect.median_amount * math.exp(SIGMA * SIGMA / 2)


def goal_event(
    eid: str, cid: str, goal: dict[str, Any], at: datetime, effect: Effect, seed: int
) -> dict[str, Any]:
    """The simulated goal event of a conversion: a purchase row (``amount``, ``category``)
    or an event row (``type`` and its properties), with the id ``sim:<enrolment id>``."""
    where = goal.get("where") or {}
    row: dict[str, Any] = {"event_id": f"sim:{eid}", "customer_id": cid, "ts": at}
    if goal["event"] == "purchase":
        row["amount"] = amount(effect, eid, seed)
        if "category" in where:
            row["category"] = _first(where["category"])
        return row
    row["type"] = goal["event"]
    for key, value in {**effect.properties, **where}.items():
        row[key] = _first(value)
    return row


def _first(value: Any) -> Any:
    """A filter's value, or the first of its list of values."""
    return value[0] if isinstance(value, list) else value
