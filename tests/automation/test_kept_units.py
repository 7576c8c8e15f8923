"""Kept measurement units: after every kind of change they equal the full query
(``clm.automation.measure.UNITS_SQL``, the oracle)."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import pytest

from clm import Workspace
from clm.automation import kept_units
from clm.automation.measure import UNITS_SQL
from tests.automation.test_measure import OFFER, _random_world
from tests.automation.world import automation, events, people, purchases, quiet_settings


def _same(ws: Workspace) -> list[tuple[object, ...]]:
    """Refresh the kept parts and check the stored units, and the units from the kept
    parts, against the full query (values, order and column types)."""
    rows: list[tuple[object, ...]] = []
    for name in (None, "a", "b", "offer"):
        sql, params = kept_units.units_query(ws.con, name)
        assert sql != UNITS_SQL
        stored = ws.con.execute(sql, params)
        types = [d[:2] for d in stored.description]
        kept = stored.fetchall()
        full = ws.con.execute(UNITS_SQL, [name])
        assert types == [d[:2] for d in full.description]
        assert kept == full.fetchall() == ws.con.execute(kept_units.KEPT_SQL, [name]).fetchall()
        rows += kept
    return rows


def _more(ws: Workspace, rng: random.Random, n: int) -> None:
    """Outcome events (of known and unknown messages) and purchases, appended."""
    messages = [r[0] for r in ws.con.execute("SELECT message_id FROM decisions").fetchall()]
    kinds = ["message_sent", "message_delivered", "message_opened", "message_clicked"]
    day = datetime(2024, 3, 1)
    rows = []
    for _ in range(n):
        customer = f"c{rng.randint(0, 15)}"
        when = day + timedelta(hours=rng.randint(0, 400))
        if rng.random() < 0.5 and messages:
            props = json.dumps({"message_id": rng.choice([*messages, "unknown"])})
            rows.append((customer, rng.choice(kinds), when, props, None))
        else:
            rows.append((customer, "purchase", when, "{}", rng.choice([None, 1, 12.3456])))
    ws.con.executemany(
        "INSERT INTO events (event_id, customer_id, type, ts, properties, amount) "
        "VALUES (uuid()::VARCHAR, ?, ?, ?, ?, ?)",
        rows,
    )


@pytest.mark.parametrize("seed", range(3))
def test_kept_units_follow_appends_changes_and_deletes(ws: Workspace, seed: int) -> None:
    rng = random.Random(seed)
    _random_world(ws, seed)
    first = _same(ws)
    assert any(row[13] for row in first)  # some revenue
    _more(ws, rng, 40)  # new outcomes and purchases only
    _same(ws)
    _random_world_more(ws, rng)  # new enrolments and decisions
    _more(ws, rng, 20)
    _same(ws)
    ws.con.execute(  # a window moved and a customer changed: summed again
        "UPDATE enrolments SET goal_until = goal_until + INTERVAL 3 DAY WHERE enrolment_id = 'e1'"
    )
    ws.con.execute("UPDATE enrolments SET customer_id = 'c3' WHERE enrolment_id = 'e2'")
    _same(ws)
    ws.con.execute("DELETE FROM enrolments WHERE enrolment_id = 'e3'")
    _same(ws)
    ws.con.execute(  # converted later, a message's cost and an incentive changed
        "UPDATE enrolments SET converted_at = enrolled_at + INTERVAL 1 HOUR "
        "WHERE enrolment_id IN ('e4', 'e5')"
    )
    ws.con.execute("UPDATE decisions SET cost = 9 WHERE kind = 'sent' AND decision_id LIKE 'd6%'")
    ws.con.execute(
        "UPDATE automation_versions SET definition = ? WHERE automation = 'a'",
        [json.dumps({"measurement": {"incentive_cost": 4.0}})],
    )
    _same(ws)
    ws.con.execute(  # events deleted: not only appended, so rebuilt
        "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE type = 'purchase' "
        "ORDER BY rowid LIMIT 3)"
    )
    _more(ws, rng, 5)
    _same(ws)
    ws.con.execute("CHECKPOINT")
    _same(ws)


def _random_world_more(ws: Workspace, rng: random.Random) -> None:
    """More enrolments with sent decisions, as a later tick adds them."""
    day = datetime(2024, 3, 5)
    for i in range(100, 100 + rng.randint(3, 10)):
        at = day + timedelta(hours=rng.randint(0, 100))
        customer = f"c{rng.randint(0, 15)}"
        ws.con.execute(
            "INSERT INTO enrolments VALUES (?, 'a', 1, ?, ?, 'treatment', ?, 'active', NULL, "
            "NULL, NULL, ?, NULL, NULL, 'A')",
            [f"e{i}", customer, f"o{i}", at, at + timedelta(days=7)],
        )
        ws.con.execute(
            "INSERT INTO decisions VALUES (?, ?, 'a', 1, ?, ?, 's', 'sent', NULL, 'email', ?, "
            "NULL, 0.25, NULL, NULL, ?)",
            [f"d{i}", at, f"e{i}", customer, f"m{i}", at],
        )


def test_writes_committed_late_by_another_cursor_are_counted(ws: Workspace) -> None:
    _random_world(ws, 7)
    _same(ws)
    other = ws.con.cursor()
    other.execute("BEGIN TRANSACTION")
    other.execute(
        "INSERT INTO events (event_id, customer_id, type, ts, amount) "
        "SELECT 'late-' || i, 'c' || (i % 16), 'purchase', TIMESTAMP '2024-03-03', 7 "
        "FROM range(50) t(i)"
    )
    _more(ws, random.Random(1), 10)  # committed first
    _same(ws)
    other.execute("COMMIT")
    _same(ws)
    other.close()


def test_the_reports_use_kept_units_and_give_what_the_full_query_gives(ws: Workspace) -> None:
    ids = [f"p{i}" for i in range(30)]
    people(ws, [(c, f"{c}@example.com", None, "UTC", True, None) for c in ids])
    quiet_settings(ws)
    automation(ws, "offer", OFFER)
    events(ws, [(c, "ping", "2024-03-01T10:00:00") for c in ids])
    purchases(ws, [(c, "2024-03-03T10:00:00", 20.0) for c in ids[:8]])
    ws.run("2024-03-04", since="2024-03-01")
    before = ws.report_automation("offer")
    assert ws.con.execute("SELECT count(*) FROM units_revenue").fetchall()[0][0] == 30
    purchases(ws, [(c, "2024-03-05T10:00:00", 5.0) for c in ids[5:12]])  # an import
    ws.run("2024-03-15")
    _same(ws)
    after = ws.report_automation("offer")
    assert after != before
    sql, params = kept_units.units_query(ws.con, "offer")
    assert "units_kept" in sql
    revenue = sum(r[13] for r in ws.con.execute(sql, params).fetchall())
    assert revenue == pytest.approx(8 * 20.0 + 7 * 5.0)


def test_inside_a_transaction_the_full_query_is_used(ws: Workspace) -> None:
    _random_world(ws, 3)
    ws.con.execute("BEGIN TRANSACTION")
    sql, params = kept_units.units_query(ws.con, None)
    assert sql == UNITS_SQL
    assert ws.con.execute(sql, params).fetchall()
    ws.con.execute("ROLLBACK")
    assert ws.con.execute("SELECT count(*) FROM units_progress").fetchall()[0][0] == 0


def test_events_update_only_the_units_they_change(ws: Workspace) -> None:
    """Visits and purchases outside every goal window only move the progress, a purchase
    inside a window updates its unit's revenue, an outcome event the funnel of its
    message's unit; none of them computes the stored units again (a marked cell
    survives), a changed enrolment does (the mark goes). After each, the units equal the
    full query's but for the mark."""
    _random_world(ws, 1)
    _same(ws)
    cell = "SELECT incentive_cost FROM units_kept WHERE enrolment_id = 'e1'"
    kept = ws.con.execute(cell).fetchall()[0][0]
    marked = "SELECT count(*) FROM units_kept WHERE incentive_cost = -1000"

    def mark() -> None:
        ws.con.execute("UPDATE units_kept SET incentive_cost = -1000 WHERE enrolment_id = 'e1'")

    def unmarked() -> None:  # the mark survived: take it away and compare with the oracle
        assert ws.con.execute(marked).fetchall()[0][0] == 1
        ws.con.execute("UPDATE units_kept SET incentive_cost = ? WHERE enrolment_id = 'e1'", [kept])
        _same(ws)

    mark()
    before = ws.con.execute("SELECT next_rowid FROM units_progress").fetchall()[0][0]
    ws.con.execute(
        "INSERT INTO events (event_id, customer_id, type, ts, amount) VALUES "
        "('v1', 'c1', 'visit', TIMESTAMP '2024-03-02', NULL), "
        "('p-outside', 'nobody', 'purchase', TIMESTAMP '2024-03-02', 50)"
    )
    assert kept_units.refresh(ws.con)
    assert ws.con.execute("SELECT next_rowid FROM units_progress").fetchall()[0][0] == before + 2
    unmarked()

    mark()
    enrolment, customer, enrolled_at = ws.con.execute(
        "SELECT enrolment_id, customer_id, enrolled_at FROM enrolments "
        "WHERE goal_until IS NOT NULL ORDER BY enrolment_id LIMIT 1"
    ).fetchall()[0]
    revenue = "SELECT revenue FROM units_kept WHERE enrolment_id = ?"
    was = ws.con.execute(revenue, [enrolment]).fetchall()[0][0]
    ws.con.execute(
        "INSERT INTO events (event_id, customer_id, type, ts, amount) "
        "VALUES ('p-inside', ?, 'purchase', ?, 7)",
        [customer, enrolled_at + timedelta(seconds=1)],
    )
    assert kept_units.refresh(ws.con)
    assert ws.con.execute(revenue, [enrolment]).fetchall()[0][0] == pytest.approx(was + 7)
    unmarked()

    for kind in ("message_sent", "message_clicked"):  # a message without outcomes yet
        mark()
        enrolment, message = ws.con.execute(
            "SELECT k.enrolment_id, d.message_id FROM units_kept k JOIN decisions d "
            "ON d.enrolment_id = k.enrolment_id AND d.kind = 'sent' "
            "WHERE NOT k.clicked ORDER BY 1, 2 LIMIT 1"
        ).fetchall()[0]
        ws.con.execute(
            "INSERT INTO events (event_id, customer_id, type, ts, properties) "
            "VALUES (?, 'c1', ?, TIMESTAMP '2024-03-02', ?)",
            [f"o-{kind}", kind, json.dumps({"message_id": message})],
        )
        assert kept_units.refresh(ws.con)
        funnel = "SELECT sent, clicked FROM units_kept WHERE enrolment_id = ?"
        assert ws.con.execute(funnel, [enrolment]).fetchall()[0] == (True, kind != "message_sent")
        unmarked()

    mark()
    ws.con.execute("UPDATE enrolments SET converted_at = enrolled_at WHERE enrolment_id = 'e2'")
    assert kept_units.refresh(ws.con)
    assert ws.con.execute(marked).fetchall()[0][0] == 0  # computed again
    _same(ws)
