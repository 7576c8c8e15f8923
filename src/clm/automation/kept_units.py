"""The measurement units from kept parts: per-message outcomes and per-enrolment revenue
stored in the workspace and advanced from the events appended since.

:data:`clm.automation.measure.UNITS_SQL` reads every message outcome event and every
purchase of the enrolled customers each time (0.4-0.9 s at 20M events). Its two costly
parts only ever grow with appended events, so they are kept (migration 10):

- ``units_outcomes``: per message id, whether a ``message_sent`` / ``_delivered`` /
  ``_opened`` / ``_clicked`` event names it (``bool_or`` over the events: new events
  OR into it);
- ``units_revenue``: per enrolment, the sum of its customer's purchase amounts in its goal
  window (from ``enrolled_at``, exclusive, to ``goal_until``), kept with the
  ``customer_id``, ``enrolled_at`` and ``goal_until`` it was summed for: new purchases add
  to it (sums of decimals are exact, so in any order they equal the one sum), a new or
  changed enrolment is summed from all the events;
- ``units_progress``: the events read so far (every row with a rowid below
  ``next_rowid``) and how many they were, and the states of the enrolments and of the
  units stored (counts and sums of row hashes of the enrolments, sent decisions and
  versions);
- ``units_kept``: the units themselves (``KEPT_SQL``'s rows), computed again only when
  that state changed (outcome events update the funnel and cost of their enrolments'
  units, purchases inside goal windows their revenue; other events, such as visits or
  the purchases of customers outside every goal window, only move the progress): a report
  of an unchanged workspace reads 61,500 stored rows at 1M profiles instead of joining
  them again (0.15-0.3 s).

Events are only ever appended (DuckDB numbers appended rows after the ones before them),
as for :func:`clm.store.data_summary.events_by_type` (:mod:`clm.store.appended`): before
advancing, the rows below ``next_rowid`` are counted again, and when that is not the
count recorded (rows deleted, or committed late below it by another writer) the kept parts
are rebuilt from scratch.
:func:`units_query` then reads ``units_kept``: the same rows as ``UNITS_SQL``. A refresh
that cannot write (a read-only database, a conflicting writer, the caller's own open
transaction) leaves them as they were and ``UNITS_SQL`` is used.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import duckdb

from clm.automation.measure import UNITS_SQL
from clm.store import appended

log = logging.getLogger(__name__)

_OUTCOMES = """
INSERT INTO units_outcomes
SELECT json_extract_string(properties, '$.message_id') AS message_id,
       bool_or(type = 'message_sent'), bool_or(type = 'message_delivered'),
       bool_or(type = 'message_opened'), bool_or(type = 'message_clicked')
FROM events
WHERE rowid >= $1
  AND type BETWEEN 'message_clicked' AND 'message_sent'
  AND type IN ('message_sent', 'message_delivered', 'message_opened', 'message_clicked')
  AND json_extract_string(properties, '$.message_id') IS NOT NULL
GROUP BY 1
ON CONFLICT (message_id) DO UPDATE SET
    sent = units_outcomes.sent OR excluded.sent,
    delivered = units_outcomes.delivered OR excluded.delivered,
    opened = units_outcomes.opened OR excluded.opened,
    clicked = units_outcomes.clicked OR excluded.clicked
"""
# Enrolments gone, or no longer the customer, start or window the revenue was summed for.
_STALE = """
DELETE FROM units_revenue r WHERE NOT EXISTS (
    SELECT 1 FROM enrolments e
    WHERE e.enrolment_id = r.enrolment_id
      AND e.customer_id IS NOT DISTINCT FROM r.customer_id
      AND e.enrolled_at IS NOT DISTINCT FROM r.enrolled_at
      AND e.goal_until IS NOT DISTINCT FROM r.goal_until)
"""
# The purchases appended since (rowid from $1) added to the enrolments already summed.
_ADD_PURCHASES = """
UPDATE units_revenue r SET revenue = r.revenue + d.amount
FROM (
    SELECT u.enrolment_id, sum(e.amount) AS amount
    FROM units_revenue u JOIN events e
      ON e.customer_id = u.customer_id AND e.type = 'purchase'
     AND e.ts > u.enrolled_at AND e.ts <= u.goal_until
    WHERE e.rowid >= $1 AND e.amount IS NOT NULL
    GROUP BY u.enrolment_id
) d
WHERE r.enrolment_id = d.enrolment_id
"""
# Enrolments not summed yet: every purchase of theirs (the events are all read by now)
# after the earliest of their starts ($1: a constant, so the scan skips the row groups
# before it; a tick's new enrolments are recent and the events are stored in time order).
_NEW = "SELECT * FROM enrolments WHERE enrolment_id NOT IN (SELECT enrolment_id FROM units_revenue)"
_NEW_ENROLMENTS = f"""
INSERT INTO units_revenue
SELECT n.enrolment_id, n.customer_id, n.enrolled_at, n.goal_until, coalesce(sum(e.amount), 0)
FROM ({_NEW}) n LEFT JOIN (SELECT * FROM events WHERE type = 'purchase' AND ts > $1) e
  ON e.customer_id = n.customer_id AND e.ts > n.enrolled_at AND e.ts <= n.goal_until
GROUP BY ALL
"""

#: The units from the kept parts: ``UNITS_SQL`` with its outcome scan and revenue join
#: replaced by ``units_outcomes`` and ``units_revenue``.
KEPT_SQL = (
    UNITS_SQL.replace(
        UNITS_SQL[UNITS_SQL.index("outcomes AS (") : UNITS_SQL.index("messages AS (")], ""
    )
    .replace("LEFT JOIN outcomes o", "LEFT JOIN units_outcomes o")
    .replace(
        UNITS_SQL[UNITS_SQL.index("revenue AS (") : UNITS_SQL.index("SELECT en.automation")],
        "revenue AS (SELECT enrolment_id, revenue::DOUBLE AS revenue FROM units_revenue)\n",
    )
)

# Purchases inside goal windows changed only units_revenue: the stored units take its
# sums (KEPT_SQL's ``coalesce(r.revenue, 0)::DOUBLE``) instead of being computed again.
_REVENUE_ONLY = """
UPDATE units_kept k SET revenue = r.revenue::DOUBLE
FROM units_revenue r
WHERE k.enrolment_id = r.enrolment_id AND k.revenue IS DISTINCT FROM r.revenue::DOUBLE
"""

# Outcome events appended since (rowid from $1) changed only units_outcomes: the units of
# the enrolments whose messages they name take their funnel and cost again, from
# KEPT_SQL's own ``messages`` and ``per`` over just those enrolments.
_OUTCOMES_ONLY = f"""
WITH en AS (
    SELECT DISTINCT enrolment_id FROM decisions
    WHERE kind = 'sent' AND message_id IN (
        SELECT json_extract_string(properties, '$.message_id') FROM events
        WHERE rowid >= $1
          AND type BETWEEN 'message_clicked' AND 'message_sent'
          AND type IN ('message_sent', 'message_delivered', 'message_opened',
                       'message_clicked'))
),
{KEPT_SQL[KEPT_SQL.index("messages AS (") : KEPT_SQL.index("revenue AS (")].rstrip().rstrip(",")}
UPDATE units_kept k
SET sent = p.sent, delivered = p.delivered, opened = p.opened, clicked = p.clicked,
    cost = coalesce(p.cost, 0)::DOUBLE
FROM per p
WHERE k.enrolment_id = p.enrolment_id
"""

# What the stored units were computed from: a changed enrolment, sent decision or version
# changes its sum of hashes (or its count), new events the progress.
_ENROLMENTS_STATE = """
SELECT count(*)::VARCHAR || ':' || coalesce(sum(hash(enrolment_id, automation, version,
       customer_id, arm, variant, enrolled_at, converted_at, goal_until)), 0)::VARCHAR
FROM enrolments
"""
_OTHER_STATE = """
SELECT (SELECT count(*)::VARCHAR || ':' || coalesce(sum(hash(decision_id, enrolment_id,
               message_id, cost)), 0)::VARCHAR FROM decisions WHERE kind = 'sent')
       || '|' || (SELECT count(*)::VARCHAR || ':' || coalesce(sum(hash(automation, version,
               definition::VARCHAR)), 0)::VARCHAR FROM automation_versions)
"""
_STORED = "SELECT * FROM units_kept WHERE ($1::VARCHAR IS NULL OR automation = $1::VARCHAR)"
ORDER = " ORDER BY automation, enrolled_at, enrolment_id"

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


def units_query(
    con: duckdb.DuckDBPyConnection, automation: str | None = None, *, ordered: bool = True
) -> tuple[str, list[Any]]:
    """SQL and parameters of the measurement units (one row per enrolment, of one
    automation or of all, in ``UNITS_SQL``'s order unless ``ordered`` is False: an
    aggregation needs no order): the stored units brought up to date, else ``UNITS_SQL``."""
    if refresh(con):
        return _STORED + (ORDER if ordered else ""), [automation]
    return UNITS_SQL, [automation]


def refresh(con: duckdb.DuckDBPyConnection) -> bool:
    """Bring the kept parts and the stored units up to the events, enrolments, decisions
    and versions stored now, in one transaction; False (nothing changed) when it could
    not."""
    if appended.in_transaction(con):  # the caller's own changes are not in the kept parts
        return False
    with _lock(con):
        con.execute("BEGIN TRANSACTION")
        try:
            _advance(con)
            con.execute("COMMIT")
        except duckdb.Error as exc:  # read-only, a conflicting writer, tables missing
            log.info("measurement units not kept: %s", type(exc).__name__)
            con.execute("ROLLBACK")
            return False
    return True


def _advance(con: duckdb.DuckDBPyConnection) -> None:
    progress = con.execute(
        "SELECT next_rowid, counted, enrolments, units FROM units_progress"
    ).fetchall()
    start, counted, enrolled, stored = progress[0] if progress else (0, 0, None, None)
    end, total = appended.end(con)
    rebuilt = False  # whether units_kept must be computed again from the kept parts
    if not appended.unchanged_below(con, start, counted) or end < start:  # start over
        con.execute("DELETE FROM units_outcomes")
        con.execute("DELETE FROM units_revenue")
        start, enrolled, rebuilt = 0, None, True
    outcomes = end > start and _count(con.execute(_OUTCOMES, [start])) > 0  # (the count
    # includes the rows its ON CONFLICT clause updated)
    enrolments = str(con.execute(_ENROLMENTS_STATE).fetchall()[0][0])
    if enrolments != enrolled:
        rebuilt |= _count(con.execute(_STALE)) > 0
    revenue = end > start and _count(con.execute(_ADD_PURCHASES, [start])) > 0
    if enrolments != enrolled:
        first, new = con.execute(f"SELECT min(enrolled_at), count(*) FROM ({_NEW})").fetchall()[0]
        if new:
            rebuilt |= _count(con.execute(_NEW_ENROLMENTS, [first])) > 0
    units = f"{enrolments}|{con.execute(_OTHER_STATE).fetchall()[0][0]}"
    if rebuilt or units != stored:
        con.execute("DELETE FROM units_kept")
        con.execute(f"INSERT INTO units_kept {KEPT_SQL}", [None])
        con.execute("DELETE FROM units_progress")
        con.execute(
            "INSERT INTO units_progress VALUES (?, ?, ?, ?)", [end, total, enrolments, units]
        )
        return
    if outcomes:  # message outcomes: those enrolments' funnel and cost
        con.execute(_OUTCOMES_ONLY, [start])
    if revenue:  # purchases inside goal windows: those enrolments' revenue
        con.execute(_REVENUE_ONLY)
    if end != start:  # (events that change no unit, such as visits, only move the progress)
        con.execute("UPDATE units_progress SET next_rowid = ?, counted = ?", [end, total])
    # with no new events nothing is written: the commit stays read-only


def _count(result: duckdb.DuckDBPyConnection) -> int:
    """The rows an INSERT, UPDATE or DELETE changed (DuckDB returns their count)."""
    return int(result.fetchall()[0][0])


def _lock(con: duckdb.DuckDBPyConnection) -> threading.Lock:
    """One refresh at a time per database file in this process."""
    path = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    key = str(path[0][0]) if path and path[0][0] else f"memory:{id(con)}"
    with _LOCKS_LOCK:
        return _LOCKS.setdefault(key, threading.Lock())
