"""Work kept in step with the events as they are appended: where it left off, and whether
the rows before that are still the ones it read.

DuckDB numbers appended rows after the ones before them, so a derived table (the stored
measurement units of :mod:`clm.automation.kept_units`, the events clustered by profile of
:mod:`clm.profiles.clustered`) records ``next_rowid`` (every event below it is in) and
how many events that was. Before going on from there the rows below ``next_rowid`` are
counted again: when the count differs, rows were deleted or committed late below the mark
by another writer, and the derived table is built again from the start.
"""

from __future__ import annotations

import duckdb


def end(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """The events' ``next_rowid`` after the last row, and how many events there are."""
    rows = con.execute("SELECT coalesce(max(rowid) + 1, 0), count(*) FROM events").fetchall()
    return int(rows[0][0]), int(rows[0][1])


def unchanged_below(con: duckdb.DuckDBPyConnection, start: int, counted: int) -> bool:
    """Whether the events below rowid ``start`` are still ``counted`` rows (nothing was
    deleted or committed late below it since they were read)."""
    rows = con.execute("SELECT count(*) FROM events WHERE rowid < ?", [start]).fetchall()
    return int(rows[0][0]) == counted


def in_transaction(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``con`` is inside a transaction of its own: then two statements share one
    transaction id, while in auto-commit each gets a new one. A derived table is not
    advanced there (the caller's uncommitted rows would go into it)."""
    first = con.execute("SELECT txid_current()").fetchall()[0][0]
    return bool(con.execute("SELECT txid_current()").fetchall()[0][0] == first)
