"""What the dashboard's Data page shows: events by type, imports, scoring runs, with
counts that stay cheap at any size.

Unlike :func:`clm.store.status.status` it does not resolve every event's profile (a
union over all events that takes seconds at 20M events): profile counts come from the
latest scoring run, which stored one row per profile.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from clm.store.database import records


def events_signature(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(events, latest import id): changes whenever events are added."""
    row = con.execute(
        "SELECT (SELECT count(*) FROM events), (SELECT coalesce(max(import_id), 0) FROM imports)"
    ).fetchall()[0]
    return int(row[0]), int(row[1])


@dataclass
class _Tally:
    """Events counted so far: every row with a rowid below ``rows``."""

    rows: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None


_TALLIES: dict[str, _Tally] = {}  # database file -> its tally, shared by the server's threads
_LOCK = threading.Lock()
_NEW_ROWS = """
SELECT type, count(*), min(ts), max(ts), NULL FROM events WHERE rowid >= $1 GROUP BY type
UNION ALL SELECT NULL, count(*), NULL, NULL, max(rowid) FROM events
"""  # one statement: the new rows and the table's size from one snapshot


def events_by_type(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Events in total and by type, and the first and last event time.

    Events are only ever appended, and DuckDB numbers appended rows after the ones before
    them, so the counts of this process are kept and only rows from the last rowid counted
    on are read (a few ms; the full count is a scan of every event, 0.2-0.7 s at 20M). The
    tally is checked against ``count(*)`` of the same snapshot and recounted in full when
    they disagree (rows deleted or numbered otherwise).
    """
    key = _database(con)
    with _LOCK:
        tally = _TALLIES.get(key) or _Tally()
        fresh = _advance(con, tally) or _advance(con, _Tally())  # else: a full recount
        assert fresh is not None  # from rowid 0 every row is read, so it adds up
        _TALLIES[key] = tally = fresh
    return {
        "total": sum(tally.by_type.values()),
        "by_type": dict(sorted(tally.by_type.items())),
        "first": tally.first.isoformat() if tally.first else None,
        "last": tally.last.isoformat() if tally.last else None,
    }


def _advance(con: duckdb.DuckDBPyConnection, tally: _Tally) -> _Tally | None:
    """``tally`` with the rows from its rowid on added, or None when it does not add up."""
    rows = con.execute(_NEW_ROWS, [tally.rows]).fetchall()
    *new, (_, total, _, _, max_rowid) = rows
    by_type = dict(tally.by_type)
    first, last = tally.first, tally.last
    for kind, n, lo, hi, _ in new:
        by_type[str(kind)] = by_type.get(str(kind), 0) + int(n)
        first = lo if first is None or lo < first else first
        last = hi if last is None or hi > last else last
    if sum(by_type.values()) != int(total):
        return None
    end = int(max_rowid) + 1 if max_rowid is not None else 0
    return _Tally(max(end, tally.rows), by_type, first, last)


def _database(con: duckdb.DuckDBPyConnection) -> str:
    """The connection's database file (``:memory:`` databases by connection)."""
    path = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    return str(path[0][0]) if path and path[0][0] else f"memory:{id(con)}"


def scored_profiles(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """Customers and anonymous visitors of the latest scoring run (None before any)."""
    rows = con.execute(
        """
        SELECT any_value(r.as_of), sum(s.known), sum(s.customers) - sum(s.known)
        FROM summary_segments s JOIN scoring_runs r USING (run_id) WHERE s.run_id = (
            SELECT run_id FROM scoring_runs ORDER BY as_of DESC, run_id DESC LIMIT 1)
        """
    ).fetchall()
    as_of, customers, visitors = rows[0]
    if as_of is None:
        return None
    return {
        "as_of": as_of.isoformat(),
        "customers": int(customers),
        "anonymous_visitors": int(visitors),
    }


def imports_and_runs(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The imports and the scoring runs (with their CLV summary), as in ``status``."""
    return {
        "imports": records(con, "SELECT * FROM imports ORDER BY import_id"),
        "scoring_runs": status_runs(con),
    }


def status_runs(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return records(
        con,
        "SELECT r.run_id, as_of, window_days, engine, n_profiles, n_buyers, finished_at, "
        "v.valued, v.mean_p_alive, v.total_clv FROM scoring_runs r "
        "LEFT JOIN summary_clv v USING (run_id) "
        "ORDER BY as_of, r.run_id",
    )


def automations_signature(con: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """Changes whenever what the automation pages show can change: enrolments, their
    conversions and ends, decisions, message outcome events, versions and statuses
    (cheap: counts and maxima of a few columns, no scan of the events)."""
    row = con.execute(
        """
        SELECT (SELECT count(*) FROM events),
               (SELECT count(*) FROM decisions),
               (SELECT (count(*), count(converted_at), max(converted_at), count(ended_at))
                FROM enrolments),
               (SELECT count(*) FROM automation_versions),
               (SELECT (count(*), max(updated_at)) FROM automation_states)
        """
    ).fetchall()[0]
    return tuple(str(v) for v in row)
