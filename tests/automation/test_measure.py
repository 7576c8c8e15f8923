"""Measurement units (the contract with the reports): one row per enrolment."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import pytest

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


# The units query as it was before outcomes were reduced per message (kept as the oracle).
PREVIOUS_SQL = """
WITH en AS (
    SELECT * FROM enrolments WHERE ($1::VARCHAR IS NULL OR automation = $1::VARCHAR)
),
outcomes AS (
    SELECT json_extract_string(properties, '$.message_id') AS message_id, type
    FROM events
    WHERE type IN ('message_sent', 'message_delivered', 'message_opened', 'message_clicked')
),
messages AS (
    SELECT d.enrolment_id, d.message_id, coalesce(d.cost, 0) AS cost,
           coalesce(bool_or(o.type = 'message_sent'), false) AS sent,
           coalesce(bool_or(o.type = 'message_delivered'), false) AS delivered,
           coalesce(bool_or(o.type = 'message_opened'), false) AS opened,
           coalesce(bool_or(o.type = 'message_clicked'), false) AS clicked
    FROM decisions d LEFT JOIN outcomes o ON o.message_id = d.message_id
    WHERE d.kind = 'sent' AND d.enrolment_id IN (SELECT enrolment_id FROM en)
    GROUP BY d.enrolment_id, d.message_id, d.cost
),
per AS (
    SELECT enrolment_id, bool_or(sent) AS sent, bool_or(delivered) AS delivered,
           bool_or(opened) AS opened, bool_or(clicked) AS clicked,
           coalesce(sum(cost) FILTER (WHERE sent), 0) AS cost
    FROM messages GROUP BY enrolment_id
),
revenue AS (
    SELECT en.enrolment_id, sum(e.amount)::DOUBLE AS revenue
    FROM en JOIN events e
      ON e.customer_id = en.customer_id AND e.type = 'purchase'
     AND e.ts > en.enrolled_at AND e.ts <= en.goal_until
    GROUP BY en.enrolment_id
)
SELECT en.automation::VARCHAR AS automation,
       en.version::INTEGER AS version,
       en.enrolment_id::VARCHAR AS enrolment_id,
       en.customer_id::VARCHAR AS customer_id,
       en.arm::VARCHAR AS arm,
       (CASE WHEN en.arm = 'treatment' THEN en.variant END)::VARCHAR AS variant,
       en.enrolled_at::TIMESTAMP AS enrolled_at,
       coalesce(p.sent, false) AS sent,
       coalesce(p.delivered, false) AS delivered,
       coalesce(p.opened, false) AS opened,
       coalesce(p.clicked, false) AS clicked,
       en.converted_at IS NOT NULL AS converted,
       en.converted_at::TIMESTAMP AS converted_at,
       coalesce(r.revenue, 0)::DOUBLE AS revenue,
       coalesce(p.cost, 0)::DOUBLE AS cost,
       (CASE WHEN en.converted_at IS NOT NULL THEN coalesce(
            json_extract(v.definition, '$.measurement.incentive_cost')::DOUBLE, 0)
        ELSE 0 END)::DOUBLE AS incentive_cost
FROM en
LEFT JOIN per p ON p.enrolment_id = en.enrolment_id
LEFT JOIN revenue r ON r.enrolment_id = en.enrolment_id
LEFT JOIN automation_versions v ON v.automation = en.automation AND v.version = en.version
ORDER BY en.automation, en.enrolled_at, en.enrolment_id
"""


def _random_world(ws: Workspace, seed: int) -> None:
    """Enrolments, sent and other decisions, outcome events (repeated, missing, of other
    messages, without a message id) and purchases in and out of goal windows, at random."""
    rng = random.Random(seed)
    day = datetime(2024, 3, 1)
    kinds = ["message_sent", "message_delivered", "message_opened", "message_clicked"]
    ws.con.execute(
        "INSERT INTO automation_versions VALUES ('a', 1, 'h', 'a.yaml', ?, ?), "
        "('b', 1, 'h', 'b.yaml', '{}', ?)",
        [json.dumps({"measurement": {"incentive_cost": 2.5}}), day, day],
    )
    enrolments, decisions, events = [], [], []
    for i in range(rng.randint(20, 60)):
        at = day + timedelta(hours=rng.randint(0, 200))
        converted = at + timedelta(hours=5) if rng.random() < 0.3 else None
        customer = f"c{rng.randint(0, 15)}"
        arm = rng.choice(["treatment", "treatment", "holdout", "global_control"])
        enrolments.append(
            (f"e{i}", rng.choice("ab"), 1, customer, f"o{i}", arm, at, "active", None, None,
             None, at + timedelta(days=7), converted, None, rng.choice([None, "A", "B"]))
        )  # fmt: skip
        for j in range(rng.randint(0, 3) if arm == "treatment" else 0):
            message = f"m{i}-{j}" if rng.random() < 0.9 else None
            for k in range(rng.choice([1, 1, 2])):  # a message decided twice now and then
                cost = rng.choice([None, 0.0, 0.25])
                decisions.append(
                    (f"d{i}-{j}-{k}", at, "a", 1, f"e{i}", customer, "s", "sent", None,
                     "email", message, None, cost, None, None, at)
                )  # fmt: skip
            for kind in rng.sample(kinds, rng.randint(0, 4)) * rng.choice([1, 2]):
                props = {"message_id": message} if rng.random() < 0.95 else {}
                events.append((customer, kind, at + timedelta(hours=1), json.dumps(props), None))
        decisions.append(
            (f"x{i}", at, "a", 1, f"e{i}", customer, "s", "skipped", "quiet", None, None,
             None, 1.0, None, None, at)
        )  # fmt: skip
    for _ in range(rng.randint(10, 80)):
        when = day + timedelta(hours=rng.randint(0, 400))
        events.append((f"c{rng.randint(0, 15)}", "purchase", when, "{}", rng.randint(1, 90)))
    events.append(("c1", "message_opened", day, json.dumps({"message_id": "elsewhere"}), None))
    ws.con.executemany("INSERT INTO enrolments VALUES (" + ", ".join("?" * 15) + ")", enrolments)
    if decisions:
        ws.con.executemany("INSERT INTO decisions VALUES (" + ", ".join("?" * 16) + ")", decisions)
    ws.con.executemany(
        "INSERT INTO events (event_id, customer_id, type, ts, properties, amount) "
        "VALUES (uuid()::VARCHAR, ?, ?, ?, ?, ?)",
        events,
    )


@pytest.mark.parametrize("seed", range(4))
def test_the_units_query_gives_what_the_previous_one_gave(ws: Workspace, seed: int) -> None:
    _random_world(ws, seed)
    for automation_name in (None, "a", "b"):
        sql, params = units_query(automation_name)
        new = ws.con.execute(sql, params).fetchall()
        old = ws.con.execute(PREVIOUS_SQL, params).fetchall()
        assert new == old and (automation_name == "b" or new)
        assert any(row[7] for row in new) or automation_name == "b"  # some were sent
