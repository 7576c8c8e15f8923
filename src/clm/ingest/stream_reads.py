"""The event stream's reads of what is stored (:mod:`clm.ingest.stream`).

Each read takes the stream's reader cursor and, where it matters, the events accepted but
not written yet (queued, being written, earlier in the same request), read by the caller
*before* the database: a write committing meanwhile then shows its events twice (each
event id is kept once), never not at all. Database errors propagate (the caller decides:
a request refused with a 503, an id left unsettled, a correction retried).
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa

from clm.ingest.tracking import EventRecord
from clm.profiles.live import ORDER_KEY_SQL, HistoryRow, Key, order_key, owner
from clm.profiles.live_load import EVENTS_SQL

_MAYBE = "_clm_maybe_ids"


def _own(kind: str) -> str:
    """The condition on the events table for an id's own events."""
    return "customer_id = ?" if kind == "c" else "customer_id IS NULL AND anonymous_id = ?"


def stored_ids(reader: duckdb.DuckDBPyConnection, ids: list[str]) -> set[str]:
    """Which of these event ids the database holds."""
    reader.register(_MAYBE, pa.table({"event_id": pa.array(ids, pa.string())}))
    try:
        rows = reader.execute(
            "SELECT DISTINCT event_id FROM events "
            f"WHERE event_id IN (SELECT event_id FROM {_MAYBE})"
        ).fetchall()
    finally:
        reader.unregister(_MAYBE)
    return {str(r[0]) for r in rows}


def history(
    reader: duckdb.DuckDBPyConnection,
    unwritten: Sequence[EventRecord],
    kind: str,
    rid: str,
    key: str | None,
) -> tuple[list[HistoryRow], list[tuple[str, str]]]:
    """Every purchase line of an id (:data:`clm.profiles.live.History`), stored or
    unwritten; and the other ids with lines of the order ``key``."""
    rows: list[HistoryRow] = [
        (str(eid), int(t), int(units), str(okey), cat)
        for eid, t, units, okey, cat in reader.execute(
            "SELECT event_id, epoch_us(ts), coalesce((amount * 10000)::BIGINT, 0), "
            f"{ORDER_KEY_SQL}, category FROM events WHERE type = 'purchase' AND {_own(kind)}",
            [rid],
        ).fetchall()
    ]
    mine = (kind, rid)
    for e in unwritten:
        if e.type == "purchase" and owner(e) == mine:
            rows.append((e.event_id, e.ts, e.amount or 0, order_key(e), e.category))
    return rows, owners(reader, key, unwritten, mine) if key is not None else []


def owners(
    reader: duckdb.DuckDBPyConnection,
    key: str,
    unwritten: Sequence[EventRecord],
    mine: tuple[str, str],
) -> list[tuple[str, str]]:
    """The ids other than ``mine`` with purchase lines of the order ``key``."""
    found = {
        ("a" if anon else "c", str(rid))
        for anon, rid in reader.execute(
            "SELECT DISTINCT customer_id IS NULL, coalesce(customer_id, anonymous_id) "
            "FROM events WHERE type = 'purchase' AND order_id = ?",
            [key],
        ).fetchall()
    }
    found |= {owner(e) for e in unwritten if e.type == "purchase" and e.order_id == key}
    found.discard(mine)
    return sorted(found)


def events_of(
    reader: duckdb.DuckDBPyConnection, unwritten: Sequence[EventRecord], ids: Sequence[Key]
) -> dict[Key, list[EventRecord]]:
    """Every event of each id (a customer's own, or an unlinked visitor's), unwritten then
    stored, in one read of the events table (an event may be in both; the caller keeps
    each event id once)."""
    wanted = set(ids)
    found: dict[Key, list[EventRecord]] = {who: [] for who in ids}
    for e in unwritten:
        if (who := owner(e)) in wanted:
            found[who].append(e)
    customers = [rid for kind, rid in wanted if kind == "c"]
    visitors = [rid for kind, rid in wanted if kind == "a"]
    rows = reader.execute(
        f"{EVENTS_SQL} WHERE list_contains(?, customer_id) "
        "OR (customer_id IS NULL AND list_contains(?, anonymous_id))",
        [customers, visitors],
    ).fetchall()
    for row in rows:
        e = EventRecord(*row)
        if (who := owner(e)) in wanted:
            found[who].append(e)
    return found


def latest_ts(reader: duckdb.DuckDBPyConnection, unwritten: Sequence[EventRecord]) -> int | None:
    """The latest time of the events stored or unwritten (µs)."""
    stored = reader.execute("SELECT max(epoch_us(ts)) FROM events").fetchall()[0][0]
    known = [e.ts for e in unwritten] + ([int(stored)] if stored is not None else [])
    return max(known) if known else None
