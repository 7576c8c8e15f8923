"""`clm.store.appended`: where the events end, whether the rows below a mark are the ones
read, and whether a connection is inside its own transaction."""

from __future__ import annotations

from clm import Workspace
from clm.store import appended

INSERT = (
    "INSERT INTO events (event_id, customer_id, type, ts) "
    "SELECT ? || i, 'c', 'visit', TIMESTAMP '2024-01-01' FROM range(?) t(i)"
)


def test_a_mark_holds_while_events_are_only_appended(ws: Workspace) -> None:
    assert appended.end(ws.con) == (0, 0)
    ws.con.execute(INSERT, ["a", 5])
    start, counted = appended.end(ws.con)
    assert (start, counted) == (5, 5)
    ws.con.execute(INSERT, ["b", 3])
    assert appended.end(ws.con) == (8, 8)
    assert appended.unchanged_below(ws.con, start, counted)
    ws.con.execute("DELETE FROM events WHERE event_id = 'a2'")  # below the mark
    assert not appended.unchanged_below(ws.con, start, counted)
    assert appended.unchanged_below(ws.con, start, counted - 1)


def test_in_transaction_tells_auto_commit_from_an_open_transaction(ws: Workspace) -> None:
    assert not appended.in_transaction(ws.con)
    ws.con.execute("BEGIN TRANSACTION")
    assert appended.in_transaction(ws.con)
    ws.con.execute("ROLLBACK")
    assert not appended.in_transaction(ws.con)
