"""Finding profiles and reading one profile's history: search by id or email, the
event timeline, the segment in every scoring run."""

from __future__ import annotations

from typing import Any

import duckdb

from clm.store.database import records

# The events of a customer (their anonymous history included) or of a visitor.
OWN_EVENTS = """
    (customer_id = $1 OR (customer_id IS NULL AND anonymous_id = $1)
     OR (customer_id IS NULL AND anonymous_id IN
         (SELECT anonymous_id FROM identities WHERE customer_id = $1)))
"""


def _like_prefix(text: str) -> str:
    """A LIKE pattern matching values that start with ``text`` (wildcards escaped)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def find_profiles(
    con: duckdb.DuckDBPyConnection, text: str, run_id: int | None, limit: int = 20
) -> list[dict[str, Any]]:
    """Customers whose id or email starts with ``text`` (case-insensitive), exact
    matches first, with their segment in run ``run_id``."""
    text = text.strip()
    if not text:
        return []
    return records(
        con,
        """
        WITH found AS (
            SELECT customer_id, email,
                   (customer_id = $1 OR lower(email) = lower($1)) AS exact
            FROM profiles
            WHERE customer_id ILIKE $2 ESCAPE '\\' OR email ILIKE $2 ESCAPE '\\'
            ORDER BY exact DESC, customer_id LIMIT $3
        )
        SELECT f.customer_id AS id, f.email, f.exact, s.segment, s.phase
        FROM found f LEFT JOIN scores s ON s.run_id = $4 AND s.customer_id = f.customer_id
        ORDER BY f.exact DESC, f.customer_id
        """,
        [text, _like_prefix(text), limit, run_id if run_id is not None else -1],
    )


def timeline(
    con: duckdb.DuckDBPyConnection, profile_id: str, limit: int = 500
) -> list[dict[str, Any]]:
    """The latest ``limit`` events of a profile, newest first: time, type, category,
    amount, order id."""
    return records(
        con,
        f"""
        SELECT ts, type, category, amount::DOUBLE AS amount, order_id
        FROM events WHERE {OWN_EVENTS}
        ORDER BY ts DESC, event_id LIMIT $2
        """,
        [profile_id, limit],
    )


def segment_history(con: duckdb.DuckDBPyConnection, profile_id: str) -> list[dict[str, Any]]:
    """The profile's segment and scores in every scoring run, oldest first."""
    return records(
        con,
        """
        SELECT s.as_of, s.run_id, s.segment, s.phase, s.r_score, s.f_score, s.m_score,
               s.monetary, s.segment_since
        FROM scores s
        WHERE s.customer_id = $1 OR (s.customer_id IS NULL AND s.anonymous_id = $1)
        ORDER BY s.as_of, s.run_id
        """,
        [profile_id],
    )
