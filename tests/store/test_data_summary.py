"""The automation pages' cache key changes with every change they show."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from clm import Workspace
from clm.store import data_summary
from tests.automation.world import events


def test_automations_signature_changes_with_what_the_pages_show(ws: Workspace) -> None:
    seen = [ws.automations_signature()]
    assert ws.automations_signature() == seen[0]  # stable while nothing changes

    def changed() -> None:
        now = ws.automations_signature()
        assert now not in seen
        seen.append(now)

    t = datetime(2026, 11, 1, 9)
    ws.con.execute(
        "INSERT INTO enrolments (enrolment_id, automation, version, customer_id, occurrence, "
        "arm, enrolled_at, state) VALUES ('e1', 'welcome', 1, 'C1', 'o1', 'treatment', ?, "
        "'active')",
        [t],
    )
    changed()
    ws.con.execute("UPDATE enrolments SET converted_at = ? WHERE enrolment_id = 'e1'", [t])
    changed()
    ws.con.execute("UPDATE enrolments SET ended_at = ? WHERE enrolment_id = 'e1'", [t])
    changed()
    ws.con.execute(
        "INSERT INTO decisions (decision_id, ts, automation, customer_id, kind, recorded_at) "
        "VALUES ('d1', ?, 'welcome', 'C1', 'enrolled', ?)",
        [t, t],
    )
    changed()
    ws.con.execute(
        "INSERT INTO events (event_id, customer_id, type, ts) VALUES ('m1', 'C1', "
        "'message_opened', ?)",
        [t],
    )
    changed()
    folder = ws.root / "definitions" / "automations"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "welcome.yaml").write_text("name: welcome\n")
    changed()
    os.utime(folder / "welcome.yaml", ns=(1, 1))
    changed()
    ws.con.execute("INSERT INTO automation_states VALUES ('welcome', 'paused', ?)", [t])
    changed()


def _truth(ws: Workspace) -> dict[str, Any]:
    """The full count, the oracle of the tally."""
    by_type = dict(ws.con.execute("SELECT type, count(*) FROM events GROUP BY type").fetchall())
    first, last = ws.con.execute("SELECT min(ts), max(ts) FROM events").fetchall()[0]
    return {
        "total": sum(by_type.values()),
        "by_type": dict(sorted(by_type.items())),
        "first": first.isoformat() if first else None,
        "last": last.isoformat() if last else None,
    }


def _purchase(message_id: str, ts: str, **who: str) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Order Completed",
        "messageId": message_id,
        "timestamp": ts,
        "properties": {"revenue": 12.5},
        **who,
    }


def test_events_by_type_follows_every_writer(ws: Workspace) -> None:
    def check() -> None:
        assert data_summary.events_by_type(ws.con) == _truth(ws)
        assert ws.data_summary()["events"] == _truth(ws)

    check()  # no events yet
    events(ws, [("c1", "purchase", "2024-03-01T10:00:00"), ("c2", "view", "2024-02-01T08:00:00")])
    check()
    events(ws, [("c1", "view", "2024-01-01T10:00:00")] * 3)  # a second import, earlier
    check()
    ws.start_stream()
    try:  # the live writer
        now = datetime(2024, 3, 7, tzinfo=UTC)
        ws.track("track", _purchase("live-1", "2024-03-04T10:00:00Z", userId="c3"), now)
        batch = [_purchase(f"live-b{i}", "2024-03-06T10:00:00Z", userId="c1") for i in range(4)]
        ws.track("batch", {"batch": batch}, now)
    finally:
        ws.stop_stream()
    check()
    # an outcome event as delivery stores them (INSERT ... SELECT), from another cursor
    other = ws.con.cursor()
    other.execute("BEGIN")
    other.execute(
        "INSERT INTO events (event_id, customer_id, type, ts, properties) "
        "SELECT 'msg:' || i || ':sent', 'c1', 'message_sent', TIMESTAMP '2024-04-01', '{}' "
        "FROM range(3) t(i)"
    )
    check()  # not committed: not counted
    other.execute("COMMIT")
    check()
    # rows removed (nothing in clm does, but the tally must notice): a full recount
    ws.con.execute("DELETE FROM events WHERE type = 'view' AND customer_id = 'c2'")
    check()
    events(ws, [("c9", "view", "2025-01-01T00:00:00")])
    check()
    assert _truth(ws)["by_type"] == {"message_sent": 3, "purchase": 6, "view": 4}
