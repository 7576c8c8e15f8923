"""The database writer of the event stream: each event id stored once, money exact."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from clm import Workspace
from clm.ingest import live_writer
from clm.ingest.journal import Position
from clm.ingest.records import MAX_UNITS, EventRecord

TS = 1_790_000_000_000_000


def event(event_id: str, amount: int | None) -> EventRecord:
    return EventRecord(event_id, "c-1", None, "purchase", TS, "books", amount, "o-1", {"x": 1})


def test_stored_ids_and_repeats_within_a_batch_are_stored_once(ws: Workspace) -> None:
    first = live_writer.write(ws.con, [event("a", 10_000), event("b", None)], Position(1, 10))
    assert (first.events, first.duplicates) == (2, 0)
    batch = [event("b", 5), event("c", -25_000), event("c", 7), event("d", 1), event("a", 3)]
    second = live_writer.write(ws.con, batch, Position(1, 20))
    assert (second.events, second.duplicates) == (2, 3)
    rows = ws.con.execute("SELECT event_id, amount FROM events ORDER BY event_id").fetchall()
    assert rows == [
        ("a", Decimal("1.0000")),
        ("b", None),
        ("c", Decimal("-2.5000")),  # the batch's first "c"
        ("d", Decimal("0.0001")),
    ]
    assert live_writer.checkpoint(ws.con) == Position(1, 20)
    assert live_writer.write(ws.con, batch, None).events == 0  # all stored: nothing again


@settings(max_examples=50, deadline=None)
@given(st.lists(st.none() | st.integers(-(MAX_UNITS - 1), MAX_UNITS - 1), max_size=30))
def test_amounts_go_in_as_their_exact_decimal(amounts: list[int | None]) -> None:
    want = [None if a is None else Decimal(a).scaleb(-4) for a in amounts]
    assert live_writer._money(amounts).to_pylist() == want
