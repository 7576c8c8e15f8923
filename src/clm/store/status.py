"""What a workspace holds: profiles, events by type, imports, scoring runs (with the
buyers each run valued, their mean P(alive) and their summed CLV)."""

from __future__ import annotations

from typing import Any

import duckdb

from clm.store.database import records

PROFILE_COUNTS = """
WITH resolved AS (
    SELECT coalesce(e.customer_id, i.customer_id) AS customer_id, e.anonymous_id
    FROM events e LEFT JOIN identities i ON e.customer_id IS NULL
         AND i.anonymous_id = e.anonymous_id
)
SELECT
    (SELECT count(*) FROM (SELECT customer_id FROM profiles
                           UNION SELECT customer_id FROM resolved
                           WHERE customer_id IS NOT NULL)) AS customers,
    (SELECT count(DISTINCT anonymous_id) FROM resolved WHERE customer_id IS NULL) AS visitors
"""


def status(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """A JSON-friendly summary of the workspace database."""
    customers, visitors = con.execute(PROFILE_COUNTS).fetchall()[0]
    events = {
        str(t): int(n)
        for t, n in con.execute(
            "SELECT type, count(*) FROM events GROUP BY type ORDER BY type"
        ).fetchall()
    }
    span = con.execute("SELECT min(ts), max(ts) FROM events").fetchall()[0]
    return {
        "profiles": {
            "customers": int(customers),
            "anonymous_visitors": int(visitors),
            "total": int(customers) + int(visitors),
        },
        "events": {
            "total": sum(events.values()),
            "by_type": events,
            "first": span[0].isoformat() if span[0] else None,
            "last": span[1].isoformat() if span[1] else None,
        },
        "imports": records(con, "SELECT * FROM imports ORDER BY import_id"),
        "scoring_runs": records(
            con,
            "SELECT r.run_id, as_of, window_days, engine, n_profiles, n_buyers, finished_at, "
            "v.valued, v.mean_p_alive, v.total_clv FROM scoring_runs r LEFT JOIN ("
            "  SELECT run_id, count(*) AS valued, avg(p_alive) AS mean_p_alive, "
            "  sum(clv) AS total_clv FROM clv GROUP BY run_id) v USING (run_id) "
            "ORDER BY as_of, r.run_id",
        ),
    }
