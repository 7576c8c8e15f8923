"""Goal conversions in SQL (per version, for some enrolments, and every version in one
statement) against the definition worked out in Python on seeded random worlds.

The definition (module docstring of :mod:`clm.automation.goals`): the first goal event
of the enrolment's customer strictly after the enrolment time, not after the goal window
nor ``b``, of the goal's type and matching its filter, for enrolments still open
(active, waiting or completed) and not converted.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from clm import Workspace
from clm.automation import enrolments, goals
from clm.automation.definitions import Automation
from clm.automation.enrolments import Enrolment

T0 = datetime(2026, 5, 1)
CATEGORIES = ["beauty", "home", None]


def _automation(name: str, version: int, goal: dict[str, Any] | None) -> Automation:
    spec: dict[str, Any] = {
        "name": name,
        "trigger": {"event": {"type": "x"}},
        "steps": [{"id": "s", "type": "exit"}],
    }
    if goal is not None:
        spec["goal"] = goal
    return Automation.from_spec(spec, f"{name}.yaml", version)


AUTOMATIONS = [
    _automation("plain", 1, {"event": "purchase", "window": "7d"}),
    _automation("plain", 2, {"event": "purchase", "window": "7d"}),
    _automation(
        "beauty", 1, {"event": "purchase", "window": "3d", "where": {"category": "beauty"}}
    ),
    _automation("signup", 1, {"event": "email_signup", "window": "2d"}),
    _automation("no-goal", 1, None),
]


def _world(ws: Workspace, seed: int) -> tuple[list[Enrolment], list[tuple[Any, ...]]]:
    rng = random.Random(seed)
    people = [f"c{i}" for i in range(25)]
    rows: list[Enrolment] = []
    for i in range(120):
        a = rng.choice(AUTOMATIONS)
        at = T0 + timedelta(hours=rng.randrange(0, 240))
        state = rng.choice(["active", "waiting", "completed", "converted", "ended"])
        window = a.goal_window
        rows.append(
            Enrolment(
                f"e{i}",
                a.name,
                a.version,
                rng.choice(people),
                f"occ{i}",
                "treatment",
                at,
                state,
                goal_until=at + window if window else None,
                converted_at=at + timedelta(hours=1) if state == "converted" else None,
            )
        )
    enrolments.insert(ws.con, rows)
    events = [
        (
            f"v{i}",
            rng.choice(people),
            rng.choice(["purchase", "purchase", "email_signup", "cart_abandoned"]),
            T0 + timedelta(hours=rng.randrange(-48, 300), minutes=rng.randrange(60)),
            rng.choice(CATEGORIES),
        )
        for i in range(400)
    ]
    ws.con.executemany(
        "INSERT INTO events (event_id, customer_id, type, ts, category) VALUES (?, ?, ?, ?, ?)",
        events,
    )
    return rows, events


def _oracle(
    rows: list[Enrolment], events: list[tuple[Any, ...]], b: datetime
) -> dict[str, datetime]:
    by_key = {(a.name, a.version): a for a in AUTOMATIONS}
    out: dict[str, datetime] = {}
    for e in rows:
        goal = by_key[(e.automation, e.version)].goal
        if goal is None or e.converted_at is not None:
            continue
        if e.state not in ("active", "waiting", "completed"):
            continue
        until = min(e.goal_until, b) if e.goal_until else b
        where = goal.get("where") or {}
        hits = [
            ts
            for _, cid, kind, ts, category in events
            if cid == e.customer_id
            and kind == goal["event"]
            and e.enrolled_at < ts <= until
            and all(category == v for v in where.values())
        ]
        if hits:
            out[e.enrolment_id] = min(hits)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_conversions_in_sql_equal_the_definition(ws: Workspace, seed: int) -> None:
    rows, events = _world(ws, seed)
    found = 0
    for b in (T0 + timedelta(days=2), T0 + timedelta(days=6), T0 + timedelta(days=20)):
        expected = _oracle(rows, events, b)
        found += len(expected)
        per_version: dict[str, datetime] = {}
        for a in AUTOMATIONS:
            per_version |= goals.conversions(ws.con, a, b)
        assert per_version == expected
        by_key = {(a.name, a.version): a for a in AUTOMATIONS}
        pairs = goals.with_goal_windows(ws.con)
        versions = [(by_key[(name, version)], since) for name, version, since in pairs]
        assert goals.open_conversions(ws.con, versions, b) == expected
        some = rows[::3]
        among: dict[str, datetime] = {}
        for a in AUTOMATIONS:
            among |= goals.conversions(ws.con, a, b, among=some)
        ids = {e.enrolment_id for e in some}
        assert among == {k: v for k, v in expected.items() if k in ids}
    assert found  # the world has conversions to find
