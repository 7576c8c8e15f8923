"""Measurement units (the contract with the reports): one row per enrolment."""

from __future__ import annotations

import json
from datetime import datetime

from clm import Workspace
from clm.automation.measure import units_query
from tests.automation.world import automation, events, people, quiet_settings

COLUMNS = {
    "automation": "VARCHAR", "version": "INTEGER", "enrolment_id": "VARCHAR",
    "customer_id": "VARCHAR", "arm": "VARCHAR", "variant": "VARCHAR",
    "enrolled_at": "TIMESTAMP", "sent": "BOOLEAN", "delivered": "BOOLEAN",
    "opened": "BOOLEAN", "clicked": "BOOLEAN", "converted": "BOOLEAN",
    "converted_at": "TIMESTAMP", "revenue": "DOUBLE", "cost": "DOUBLE",
    "incentive_cost": "DOUBLE",
}  # fmt: skip
OFFER = """
name: offer
holdout: 0.5
trigger: {event: {type: ping}}
goal: {event: purchase, window: 7d}
steps:
  - id: mail
    type: send
    channel: email
    variants:
      - {name: A, template: {subject: a, text: a}}
      - {name: B, template: {subject: b, text: b}}
measurement: {margin: 0.4, incentive_cost: 5, message_cost: {email: 0.25}}
"""


def test_units_per_enrolment_with_outcomes_revenue_and_costs(ws: Workspace) -> None:
    ids = [f"p{i}" for i in range(40)]
    people(ws, [(c, f"{c}@example.com", None, "UTC", True, None) for c in ids])
    quiet_settings(ws)
    automation(ws, "offer", OFFER)
    events(ws, [(c, "ping", "2024-03-01T10:00:00") for c in ids])
    buys = [(c, "purchase", "2024-03-03T10:00:00") for c in ids[:10]]
    late = [(ids[0], "purchase", "2024-03-20T10:00:00")]  # after the window: not counted
    events(ws, buys + late, amount=[20.0] * 10 + [99.0])
    ws.run("2024-03-15", since="2024-03-01")
    sent = ws.con.execute(
        "SELECT message_id FROM decisions WHERE kind = 'sent' ORDER BY message_id LIMIT 1"
    ).fetchall()[0][0]
    ws.con.execute(
        "INSERT INTO events (event_id, customer_id, type, ts, properties) "
        "SELECT 'open-1', customer_id, 'message_opened', TIMESTAMP '2024-03-02', ? "
        "FROM decisions WHERE message_id = ?",
        [json.dumps({"message_id": sent}), sent],
    )
    sql, params = units_query("offer")
    cursor = ws.con.execute(sql, params)
    assert {d[0]: str(d[1]) for d in cursor.description} == COLUMNS
    units = {r[3]: dict(zip(COLUMNS, r, strict=True)) for r in cursor.fetchall()}
    assert set(units) == set(ids)
    arms = {u["arm"] for u in units.values()}
    assert arms == {"treatment", "control"}
    for cid, u in units.items():
        bought = cid in ids[:10]
        treated = u["arm"] == "treatment"
        assert u["enrolled_at"] == datetime(2024, 3, 1, 10)
        assert u["converted"] is bought and u["revenue"] == (20.0 if bought else 0.0)
        assert u["incentive_cost"] == (5.0 if bought else 0.0)
        assert u["sent"] is treated and u["cost"] == (0.25 if treated else 0.0)
        assert (u["variant"] in ("A", "B")) is treated
        assert u["opened"] is (treated and u["enrolment_id"] in _enrolment_of(ws, sent))
    assert sum(u["opened"] for u in units.values()) == 1
    everything, _ = units_query()
    assert len(ws.con.execute(everything, [None]).fetchall()) == 40


def _enrolment_of(ws: Workspace, message_id: str) -> set[str]:
    rows = ws.con.execute(
        "SELECT enrolment_id FROM decisions WHERE message_id = ?", [message_id]
    ).fetchall()
    return {str(r[0]) for r in rows}
