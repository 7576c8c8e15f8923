"""The events again, clustered by profile: a one-profile lookup without scanning 20M rows.

Imports write the events in file order (time order), so any profile's events are spread
over every row group and ``customer_id = ?`` reads the whole column (0.3-1 s at 20M
events). ``events_by_profile`` (migration 11) holds the same rows with
``pkey = coalesce(customer_id, anonymous_id)``, appended in batches sorted by ``pkey``:
DuckDB's per-row-group min/max then skip all but a row group or two of each batch
(20M events: 11-15 ms instead of 0.4-1 s; building it in full took 17 s, a plain copy
13 s). It is advanced like :mod:`clm.automation.kept_units`: from the events appended
since (every row below ``next_rowid`` is in it; ``counted`` says how many there were),
after each automation run and when the dashboard starts; imports leave it behind (sorting
a 4M-event import's rows into it took 5 s more than the import's 6.5 s). A lookup reads
the copy for the rows below ``next_rowid`` and the events table for those after it (a
rowid range: only the newest row groups), so it is exact whether or not the copy is up
to date; when the rows below ``next_rowid`` no longer add up to ``counted`` (events
deleted), it reads the events table only, until the next advance rebuilds the copy.
"""

from __future__ import annotations

import logging
import threading

import duckdb
import pyarrow as pa

from clm.store import appended

log = logging.getLogger(__name__)

#: The columns of the events table, in order (the copy adds ``pkey`` before them).
COLUMNS = (
    "event_id, customer_id, anonymous_id, type, ts, category, amount, order_id, "
    "properties, import_id"
)
_LOCK = threading.Lock()


def advance(con: duckdb.DuckDBPyConnection) -> bool:
    """Append the events stored since the last advance, sorted by profile (rebuild the
    copy when the rows read before no longer add up); False when it could not write."""
    if appended.in_transaction(con):
        return False
    with _LOCK:
        con.execute("BEGIN TRANSACTION")
        try:
            start = _valid_start(con)
            if start is None:
                con.execute("DELETE FROM events_by_profile")
                start = 0
            end, total = appended.end(con)
            if end == start:  # nothing new: nothing written
                con.execute("COMMIT")
                return True
            if end > start:
                con.execute(
                    f"INSERT INTO events_by_profile SELECT coalesce(customer_id, anonymous_id), "
                    f"{COLUMNS} FROM events WHERE rowid >= ? ORDER BY 1",
                    [start],
                )
            con.execute("DELETE FROM events_by_profile_progress")
            con.execute("INSERT INTO events_by_profile_progress VALUES (?, ?)", [end, total])
            con.execute("COMMIT")
        except duckdb.Error as exc:  # read-only, a conflicting writer, tables missing
            log.info("events by profile not advanced: %s", type(exc).__name__)
            con.execute("ROLLBACK")
            return False
    return True


def _valid_start(con: duckdb.DuckDBPyConnection) -> int | None:
    """``next_rowid`` when the events below it are still the ones copied, else None."""
    rows = con.execute("SELECT next_rowid, counted FROM events_by_profile_progress").fetchall()
    start, counted = (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)
    return start if appended.unchanged_below(con, start, counted) else None


def own_events(con: duckdb.DuckDBPyConnection, profile_id: str) -> pa.Table:
    """The events of a profile as a customer (``customer_id``), and those of its linked
    anonymous ids or of itself as a visitor (``customer_id`` NULL, ``anonymous_id`` one
    of them): :data:`clm.profiles.search.OWN_EVENTS` with every column."""
    ids = [profile_id] + [
        str(r[0])
        for r in con.execute(
            "SELECT DISTINCT anonymous_id FROM identities WHERE customer_id = ? "
            "AND anonymous_id <> ?",
            [profile_id, profile_id],
        ).fetchall()
    ]
    marks = ", ".join("?" for _ in ids)
    own = f"(customer_id = ? OR (customer_id IS NULL AND anonymous_id IN ({marks})))"
    tail = (
        f"SELECT {COLUMNS} FROM events WHERE rowid >= ? AND customer_id = ? UNION ALL "
        f"SELECT {COLUMNS} FROM events WHERE rowid >= ? AND customer_id IS NULL "
        f"AND anonymous_id IN ({marks})"
    )
    # one branch per id (distinct ids, so disjoint): a constant equality lets the scan skip
    # every row group whose pkey range misses it, which an IN of distant ids would not
    copied = " UNION ALL ".join(
        f"SELECT {COLUMNS} FROM events_by_profile WHERE pkey = ? AND {own}" for _ in ids
    )
    mine = not appended.in_transaction(con)
    if mine:  # the mark and the rows from one snapshot (an advance may commit meanwhile)
        con.execute("BEGIN TRANSACTION")
    try:
        start = _valid_start(con)
        if start is None:  # the copy is stale below its mark: the events table alone
            sql, params = tail, [0, profile_id, 0, *ids]
        else:
            sql = f"{copied} UNION ALL {tail}"
            params = [x for i in ids for x in (i, profile_id, *ids)]
            params += [start, profile_id, start, *ids]
        return con.sql(sql, params=params).to_arrow_table()
    finally:
        if mine:
            con.execute("COMMIT")
