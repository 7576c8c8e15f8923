"""Identity resolution: links from anonymous ids to customer ids (SPEC §1).

A visitor's events carry an ``anonymous_id`` until an identify call, an event
that carries both ids, or a customer import links it to a ``customer_id``;
scoring then counts the visitor's earlier events for that customer.

A link has a time: that of the event that made it, so that scoring as of a date
before the link still sees an anonymous visitor (SPEC §1, "as of D"). A link
from a customer import has no time (NULL) and holds for every date.
"""

from __future__ import annotations

import duckdb


def link(con: duckdb.DuckDBPyConnection, pairs_sql: str) -> int:
    """Store anonymous id -> customer id links from ``pairs_sql``; a new link for an
    anonymous id replaces the old one. Return the number of new or changed links."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _clm_links AS SELECT DISTINCT ON (anonymous_id) * "
        f"FROM ({pairs_sql}) ORDER BY anonymous_id, linked_at DESC NULLS FIRST"
    )
    changed = con.execute(
        """
        SELECT count(*) FROM _clm_links l LEFT JOIN identities i USING (anonymous_id)
        WHERE i.customer_id IS DISTINCT FROM l.customer_id
        """
    ).fetchall()[0][0]
    con.execute(
        """
        DELETE FROM identities WHERE anonymous_id IN (
            SELECT l.anonymous_id FROM _clm_links l JOIN identities i USING (anonymous_id)
            WHERE i.customer_id <> l.customer_id)
        """
    )
    con.execute(
        """
        INSERT INTO identities
        SELECT anonymous_id, customer_id, linked_at FROM _clm_links l
        WHERE NOT EXISTS (SELECT 1 FROM identities i WHERE i.anonymous_id = l.anonymous_id)
        """
    )
    con.execute("DROP TABLE _clm_links")
    return int(changed)
