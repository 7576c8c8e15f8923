"""What a workspace holds: profiles, events by type, imports, scoring runs (with the
buyers each run valued, their mean P(alive) and their summed CLV)."""

from __future__ import annotations

from typing import Any

import duckdb

from clm.store import data_summary

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
    return {
        "profiles": {
            "customers": int(customers),
            "anonymous_visitors": int(visitors),
            "total": int(customers) + int(visitors),
        },
        "events": data_summary.events_by_type(con),
        **data_summary.imports_and_runs(con),
    }
