"""An event the database refuses (kept in the quarantine file) is not stored, so the live
view must not hold it either (issue 5: the live view equals ``clm score``), however often
and however late it is sent again.

Semantics: a refused event is taken back from the live state once its write ends (its
id's facts are built again from what is stored and not written yet); its id is not a
stored id, so a later *different* record with that id (a corrected resend) is taken,
stored and applied once; the *same* record sent again (byte for byte the same journal
record) is a repeat, ignored without being journaled or applied, also after the id left
the bounded recent ids and after a restart.

The database refuses records behind one seam: :func:`clm.ingest.live_writer.write`
raises ``duckdb.ConstraintException`` for a batch holding a record of :data:`REFUSED`
(as the database does for a value it cannot take); writing record by record then
quarantines exactly those.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest

from clm import Workspace
from clm.ingest import live_writer, stream_reads
from clm.ingest.journal import Position
from clm.ingest.recent_ids import RecentIds
from clm.ingest.stream import QUARANTINE, EventStream
from clm.ingest.tracking import EventRecord, Record
from tests.profiles.test_live import assert_same_as_batch

DAY = 86_400_000_000
T0 = 1_790_000_000_000_000  # 2026-09-21
BAD = EventRecord("p-bad", "c-1", None, "purchase", T0 + 3 * DAY, "shoes", 990_000, "o-9")
FIXED = EventRecord("p-bad", "c-1", None, "purchase", T0 + 3 * DAY, "shoes", 99_000, "o-9")
REFUSED: set[EventRecord] = {BAD}


@pytest.fixture(autouse=True)
def refusing_database(monkeypatch: pytest.MonkeyPatch) -> None:
    write = live_writer.write

    def refusing(
        con: duckdb.DuckDBPyConnection, batch: Sequence[Record], end: Position | None
    ) -> live_writer.WriteStats:
        if any(r in REFUSED for r in batch):
            raise duckdb.ConstraintException("injected: the database refuses this record")
        return write(con, batch, end)

    monkeypatch.setattr(live_writer, "write", refusing)


def filler(n: int, start: int = 0) -> list[Record]:
    """Visits and purchases of other customers (they push ids out of the recent ones)."""
    out: list[Record] = []
    for i in range(start, start + n):
        ts = T0 + i * 3_600_000_000
        out.append(EventRecord(f"v-{i}", f"c-{2 + i % 3}", None, "visit", ts))
        out.append(EventRecord(f"b-{i}", f"c-{2 + i % 3}", None, "purchase", ts, "hats", 250_000))
    return out


def own_history() -> list[Record]:
    return [
        EventRecord("p-1", "c-1", None, "purchase", T0, "shoes", 500_000, "o-1"),
        EventRecord("v-c1", "c-1", None, "visit", T0 + DAY),
    ]


def check(ws: Workspace, stream: EventStream) -> None:
    ws.score()  # writes what is queued first, then scores the stored events
    assert_same_as_batch(ws, stream.live)
    with stream.lock:
        view = stream.live.live_view(("c", "c-1"))
    assert view is not None
    stored = ws.con.execute(
        "SELECT count(*) FROM events WHERE customer_id = 'c-1' AND type = 'purchase'"
    ).fetchall()[0][0]
    assert view["events"]["purchase"] == stored


def raising(exc: Exception) -> Callable[..., Any]:
    """A stand-in for a read that fails with ``exc``."""

    def failing(*_args: object) -> Any:
        raise exc

    return failing


def quarantined(ws: Workspace) -> list[str]:
    path = ws.root / ".clm" / "journal" / QUARANTINE
    return [json.loads(line)["record"]["id"] for line in path.read_text().splitlines()]


def test_a_refused_event_is_taken_back_and_its_resends_are_exact(ws: Workspace) -> None:
    stream = ws.start_stream(flush_interval=60)
    try:
        stream._recent = RecentIds(4)
        assert stream.accept([*own_history(), BAD, *filler(3)]) == 9
        stream.flush()
        assert quarantined(ws) == ["p-bad"]
        check(ws, stream)  # taken back: the live view holds what is stored
        assert stream.accept(filler(4, 10)) == 8  # p-bad leaves the recent ids
        stream.flush()
        assert "p-bad" not in stream._recent
        # the same refused record again: a repeat, not journaled, not applied
        duplicates = stream.stats.duplicates
        assert stream.accept([BAD]) == 0
        assert stream.stats.duplicates == duplicates + 1
        stream.flush()
        assert quarantined(ws) == ["p-bad"]
        check(ws, stream)
        # a corrected record with the id: stored and applied once
        assert stream.accept([FIXED]) == 1
        assert stream.accept([FIXED, BAD]) == 0  # now a stored id, whatever its content
        stream.flush()
        stored = ws.con.execute("SELECT amount FROM events WHERE event_id = 'p-bad'").fetchall()
        assert [float(a) for (a,) in stored] == [9.9]
        check(ws, stream)
    finally:
        ws.stop_stream()


def test_a_refused_resend_before_its_write_ends_is_taken_back_too(ws: Workspace) -> None:
    """The corrected record arrives while the refused one is queued: a repeat (the id is
    pending); once the write refuses it, the live view holds neither."""
    stream = ws.start_stream(flush_interval=60)
    try:
        assert stream.accept([*own_history(), BAD]) == 3
        assert stream.accept([FIXED]) == 0
        stream.flush()
        check(ws, stream)
        assert stream.accept([FIXED]) == 1  # sent again later: now taken
        check(ws, stream)
    finally:
        ws.stop_stream()


def test_the_refused_records_are_known_again_after_a_restart(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    try:
        stream = ws.start_stream(flush_interval=60)
        stream.accept([*own_history(), BAD])
        ws.stop_stream()
        stream = ws.start_stream(flush_interval=60)
        assert stream.accept([BAD]) == 0  # the same record: a repeat
        stream.flush()
        assert quarantined(ws) == ["p-bad"]
        check(ws, stream)
        assert stream.accept([FIXED]) == 1
        check(ws, stream)
    finally:
        ws.stop_stream()
        ws.close()


def test_taking_back_the_latest_event_keeps_the_first_window_day(ws: Workspace) -> None:
    """The refused event was the latest: the window's start moves back before the owner's
    ledger is built again, so a purchase on the window's first day still counts (found in
    review: the ledger was built with the refused event's later window, losing 50.00)."""
    window = ws.settings.rfm.window_days
    first = EventRecord("p-1", "c-1", None, "purchase", T0, "shoes", 500_000, "o-1")
    later = EventRecord("p-2", "c-1", None, "purchase", T0 + 200 * DAY, "shoes", 300_000, "o-2")
    visit = EventRecord("v-1", "c-1", None, "visit", T0 + (window - 1) * DAY)
    late = EventRecord("v-late", "c-1", None, "visit", T0 + window * DAY)
    REFUSED.add(late)
    stream = ws.start_stream(flush_interval=60)
    try:
        assert stream.accept([first, later, visit]) == 3
        stream.flush()
        assert stream.accept([late]) == 1
        stream.flush()
        assert quarantined(ws) == ["v-late"]
        check(ws, stream)
    finally:
        ws.stop_stream()
        REFUSED.discard(late)


def test_a_corrected_record_sent_before_the_refused_one_again_is_taken(ws: Workspace) -> None:
    stream = ws.start_stream(flush_interval=60)
    try:
        assert stream.accept([*own_history(), BAD]) == 3
        stream.flush()
        assert stream.accept([FIXED, BAD]) == 1  # the corrected one taken, the refused not
        stream.flush()
        stored = ws.con.execute("SELECT amount FROM events WHERE event_id = 'p-bad'").fetchall()
        assert [float(a) for (a,) in stored] == [9.9]
        check(ws, stream)
    finally:
        ws.stop_stream()


@pytest.mark.parametrize(
    ("error", "idle"),
    [(duckdb.IOException("injected"), False), (RuntimeError("injected: a defect"), True)],
)
def test_a_failed_take_back_is_done_again_at_the_writers_next_turn(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, error: Exception, idle: bool
) -> None:
    """Whatever the error (a database's or a defect's), the take-back is logged, not raised
    (in the writer thread it would end it), and done at the writer's next turn, with
    events to write or none."""
    stream = ws.start_stream(flush_interval=60)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(stream_reads, "events_of", raising(error))
            assert stream.accept([*own_history(), BAD]) == 3
            stream.flush()
            with stream.lock:  # not taken back yet: the purchase is still live
                view = stream.live.live_view(("c", "c-1"))
            assert view is not None and view["events"]["purchase"] == 2
        assert stream._thread is not None and stream._thread.is_alive()
        if not idle:
            assert stream.accept(filler(1)) == 2
        stream.flush()
        check(ws, stream)
    finally:
        ws.stop_stream()
