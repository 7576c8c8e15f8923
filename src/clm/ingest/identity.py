"""Identity resolution: links from anonymous ids to customer ids (SPEC §1).

A visitor's events carry an ``anonymous_id`` until an identify call, an event
that carries both ids, or a customer import links it to a ``customer_id``;
scoring then counts the visitor's earlier events for that customer.

A link has a time: that of the event that made it, so that scoring as of a date
before the link still sees an anonymous visitor (SPEC §1, "as of D"). A link
from a customer import has no time (NULL) and holds for every date; a later
import's link replaces it.

One rule, :func:`resolve`, says which link of a visitor holds, live
(:meth:`clm.profiles.live.LiveState.link`) and in the database (:func:`link`):
the customer of the newest timed link wins (of two at the same time, the greater
customer id), from the earliest time that customer was linked. The rule reads the
set of links only, so links arriving in any order end in the same state. The
database keeps each (visitor, customer) pair's first and last link time in
``identity_links`` and the resolved link in ``identities``.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb

#: Per customer, the first and last time (µs) a visitor was linked to it.
LinkTimes = Mapping[str, tuple[int, int]]


def resolve(times: LinkTimes) -> tuple[str, int]:
    """The link that holds among a visitor's timed links: ``(customer, since)``."""
    winner = max(times, key=lambda customer: (times[customer][1], customer))
    return winner, times[winner][0]


def link(con: duckdb.DuckDBPyConnection, pairs_sql: str) -> int:
    """Store anonymous id -> customer id links from ``pairs_sql`` (columns anonymous_id,
    customer_id, linked_at; NULL linked_at: a link without a time, which holds and
    replaces the visitor's link) and resolve each visitor's link by :func:`resolve`.
    Return the number of new or changed links. Call inside a transaction."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _clm_links AS SELECT anonymous_id, customer_id, "
        "min(linked_at) AS first_at, max(linked_at) AS last_at, "
        "bool_or(linked_at IS NULL) AS untimed "
        f"FROM ({pairs_sql}) GROUP BY anonymous_id, customer_id"
    )
    con.execute(
        """
        INSERT INTO identity_links
        SELECT anonymous_id, customer_id, first_at, last_at FROM _clm_links
        WHERE first_at IS NOT NULL
        ON CONFLICT (anonymous_id, customer_id) DO UPDATE SET
            first_at = least(first_at, excluded.first_at),
            last_at = greatest(last_at, excluded.last_at)
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _clm_resolved AS
        WITH touched AS (SELECT DISTINCT anonymous_id FROM _clm_links),
        untimed AS (
            SELECT DISTINCT ON (anonymous_id) anonymous_id, customer_id,
                   NULL::TIMESTAMP AS linked_at
            FROM _clm_links WHERE untimed ORDER BY anonymous_id, customer_id DESC
        ),
        held AS (
            SELECT i.anonymous_id, i.customer_id, i.linked_at FROM identities i
            JOIN touched USING (anonymous_id)
            WHERE i.linked_at IS NULL AND i.anonymous_id NOT IN (SELECT anonymous_id FROM untimed)
        ),
        timed AS (
            SELECT DISTINCT ON (anonymous_id) anonymous_id, customer_id, first_at AS linked_at
            FROM identity_links JOIN touched USING (anonymous_id)
            WHERE anonymous_id NOT IN (SELECT anonymous_id FROM untimed)
              AND anonymous_id NOT IN (SELECT anonymous_id FROM held)
            ORDER BY anonymous_id, last_at DESC, customer_id DESC
        )
        SELECT * FROM untimed UNION ALL SELECT * FROM held UNION ALL SELECT * FROM timed
        """
    )
    changed = con.execute(
        """
        SELECT count(*) FROM _clm_resolved r LEFT JOIN identities i USING (anonymous_id)
        WHERE i.customer_id IS DISTINCT FROM r.customer_id
        """
    ).fetchall()[0][0]
    con.execute(
        "DELETE FROM identities WHERE anonymous_id IN (SELECT anonymous_id FROM _clm_resolved)"
    )
    con.execute(
        "INSERT INTO identities SELECT anonymous_id, customer_id, linked_at FROM _clm_resolved"
    )
    con.execute("DROP TABLE _clm_links")
    con.execute("DROP TABLE _clm_resolved")
    return int(changed)
