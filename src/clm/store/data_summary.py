"""What the dashboard's Data page shows: events by type, imports, scoring runs, with
counts that stay cheap at any size.

Unlike :func:`clm.store.status.status` it does not resolve every event's profile (a
union over all events that takes seconds at 20M events): profile counts come from the
latest scoring run, which stored one row per profile.
"""

from __future__ import annotations

from typing import Any

import duckdb

from clm.store.database import records


def events_signature(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(events, latest import id): changes whenever events are added."""
    row = con.execute(
        "SELECT (SELECT count(*) FROM events), (SELECT coalesce(max(import_id), 0) FROM imports)"
    ).fetchall()[0]
    return int(row[0]), int(row[1])


def events_by_type(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Events in total and by type, and the first and last event time."""
    by_type = {
        str(t): int(n)
        for t, n in con.execute(
            "SELECT type, count(*) FROM events GROUP BY type ORDER BY type"
        ).fetchall()
    }
    span = con.execute("SELECT min(ts), max(ts) FROM events").fetchall()[0]
    return {
        "total": sum(by_type.values()),
        "by_type": by_type,
        "first": span[0].isoformat() if span[0] else None,
        "last": span[1].isoformat() if span[1] else None,
    }


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
