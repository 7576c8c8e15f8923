"""The live event stream keeps its promises on bad input (issue 5 review): what it
acknowledges is stored, a record the database refuses is quarantined with its reason
instead of stopping the writer, and a restart never fails on a journaled record."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from clm import Workspace
from clm.errors import InvalidMessage
from clm.ingest import journal
from clm.ingest.journal import to_journal
from clm.ingest.stream import QUARANTINE
from clm.ingest.tracking import EventRecord

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def order(products: list[dict[str, Any]], message_id: str = "m-1") -> dict[str, Any]:
    return {
        "userId": "c-1",
        "event": "Order Completed",
        "messageId": message_id,
        "timestamp": "2026-10-31T10:00:00Z",
        "properties": {"order_id": message_id, "products": products},
    }


def stored(ws: Workspace) -> dict[str, Any]:
    rows = ws.con.execute("SELECT event_id, amount FROM events ORDER BY event_id").fetchall()
    return {str(e): (None if a is None else float(a)) for e, a in rows}


def test_a_line_total_beyond_18_digits_is_refused_before_it_is_journaled(ws: Workspace) -> None:
    ws.start_stream()
    try:
        for quantity in (50, 100, "1e300", float("inf"), "nan"):
            with pytest.raises(InvalidMessage) as err:
                ws.track("track", order([{"price": 1e13, "quantity": quantity}]), NOW)
            assert err.value.field == "properties.products[0].quantity"
        # a quantity may be a numeric string, as a price may
        assert ws.track("track", order([{"price": "4.95", "quantity": "2"}], "m-2"), NOW) == 1
        # the largest line that fits is taken and stored exactly
        assert ws.track("track", order([{"price": 99_999_999_999.9999, "quantity": 1}], "m-3"), NOW)
    finally:
        ws.stop_stream()
    assert stored(ws) == {"m-2:0": 9.9, "m-3:0": 99_999_999_999.9999}
    assert not (ws.root / ".clm" / "journal" / QUARANTINE).exists()


def test_the_writer_quarantines_a_record_the_database_refuses_and_keeps_going(
    ws: Workspace,
) -> None:
    stream = ws.start_stream(flush_interval=0.05)
    try:
        good = EventRecord("e-1", "c-1", None, "visit", 1_700_000_000_000_000)
        refused = EventRecord("e-2", "c-1", None, None, 1_700_000_000_000_000)  # type: ignore[arg-type]
        later = EventRecord("e-3", "c-1", None, "visit", 1_700_000_000_000_001)
        assert stream.accept([good, refused]) == 2
        stream.flush()
        assert stream.accept([later]) == 1
        stream.flush()
        assert stream.stats.quarantined == 1
        assert stream._thread is not None and stream._thread.is_alive()
    finally:
        ws.stop_stream()
    assert set(stored(ws)) == {"e-1", "e-3"}
    lines = (ws.root / ".clm" / "journal" / QUARANTINE).read_text().splitlines()
    assert len(lines) == 1
    kept = json.loads(lines[0])
    assert kept["record"]["id"] == "e-2" and "ConstraintException" in kept["reason"]


def test_a_restart_quarantines_a_journaled_record_it_cannot_store(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    folder = root / ".clm" / "journal"
    bad = to_journal(EventRecord("e-bad", "c-1", None, "purchase", 1_700_000_000_000_000))
    bad["amt"] = 10**19  # as a server without the line-total check journaled it
    good = EventRecord("e-good", "c-1", None, "visit", 1_700_000_000_000_000)
    written = journal.Journal(folder)
    written.append([journal.encode(bad), journal.encode(to_journal(good))])
    written.close()
    messages: list[str] = []
    with Workspace.open(root) as ws:
        ws.start_stream(progress=messages.append)
        ws.stop_stream()
        assert set(stored(ws)) == {"e-good"}
    assert any(QUARANTINE in m for m in messages), messages
    kept = [json.loads(line) for line in (folder / QUARANTINE).read_text().splitlines()]
    assert [k["record"]["id"] for k in kept] == ["e-bad"]
    with Workspace.open(root) as ws:  # the checkpoint moved past it: not quarantined twice
        ws.start_stream()
        ws.stop_stream()
    assert len((folder / QUARANTINE).read_text().splitlines()) == 1


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("track", {"event": "visit", "timestamp": "0001-01-01T00:00:00+01:00"}, "timestamp"),
        ("page", {"timestamp": "1899-12-31T23:59:59Z"}, "timestamp"),
        ("identify", {"traits": {"signup_at": "0001-01-01T00:00:00+01:00"}}, "traits.signup_at"),
    ],
)
def test_times_before_1900_are_refused_naming_the_field(
    ws: Workspace, kind: str, body: dict[str, Any], field: str
) -> None:
    ws.start_stream()
    try:
        with pytest.raises(InvalidMessage) as err:
            ws.track(kind, {"userId": "c-1", **body}, NOW)
        assert err.value.field == field
        with pytest.raises(InvalidMessage) as err:
            ws.track("batch", {"batch": [{"type": kind, "userId": "c-1", **body}]}, NOW)
        assert err.value.field == f"batch[0].{field}"
        assert ws.track("page", {"userId": "c-1", "timestamp": "1900-01-01T00:00:00Z"}, NOW)
        assert ws.live_segments() == {"Engaged Visitors": 1}  # scoring still works
    finally:
        ws.stop_stream()


def test_a_blank_email_is_no_email_live_in_the_database_and_in_the_batch(ws: Workspace) -> None:
    stream = ws.start_stream()
    try:
        ws.track("page", {"userId": "c-1", "timestamp": "2026-10-30T10:00:00Z"}, NOW)
        ws.track("identify", {"userId": "c-1", "traits": {"email": "  ", "phone": ""}}, NOW)
        ws.score()
        live = stream.live.scores(("c", "c-1"))
        assert live is not None and live["segment"] == "Engaged Visitors"
    finally:
        ws.stop_stream()
    assert ws.con.execute("SELECT email, phone FROM profiles").fetchall() == [(None, None)]
    assert ws.scores().set_index("customer_id").loc["c-1", "segment"] == "Engaged Visitors"


def test_flush_makes_its_cursor_under_the_workspace_cursor_lock(ws: Workspace) -> None:
    import threading

    from clm.store import database

    stream = ws.start_stream(flush_interval=60)
    try:
        stream.accept([EventRecord("e-1", "c-1", None, "visit", 1_700_000_000_000_000)])
        flushing = threading.Thread(target=stream.flush)
        with database.CURSORS:  # as Workspace.reader holds it while making its cursor
            flushing.start()
            flushing.join(0.5)
            assert flushing.is_alive()  # waits for the lock: no cursor made beside another
            assert stored(ws) == {}
        flushing.join(10)
        assert not flushing.is_alive()
        assert set(stored(ws)) == {"e-1"}
    finally:
        ws.stop_stream()


def test_a_restart_skips_a_damaged_journal_line_and_stores_the_lines_after_it(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    folder = root / ".clm" / "journal"
    lines = [
        journal.encode(to_journal(EventRecord(f"e-{i}", "c-1", None, "visit", 1_700_000_000 + i)))
        for i in range(3)
    ]
    written = journal.Journal(folder)
    written.append(lines)
    written.close()
    segment = folder / f"{1:010d}{journal.SUFFIX}"
    data = bytearray(segment.read_bytes())
    data[len(lines[0]) + 20] ^= 0x01  # damage the middle line on disk
    segment.write_bytes(bytes(data))
    messages: list[str] = []
    with Workspace.open(root) as ws:
        stream = ws.start_stream(progress=messages.append)
        assert stream.stats.quarantined == 1
        ws.stop_stream()
        assert set(stored(ws)) == {"e-0", "e-2"}
    kept = json.loads((folder / QUARANTINE).read_text())
    assert "damaged journal line" in kept["reason"]
    assert kept["record"]["journal_line_ending_at"] == [1, len(lines[0]) + len(lines[1])]
    assert any("1 journaled record could not be stored" in m for m in messages), messages
