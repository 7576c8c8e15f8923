"""Goal events and awaited events: which enrolments converted, which waits are over.

A conversion is the first goal event of the enrolment's customer strictly after the
enrolment time (the triggering event itself never counts) and within the goal window.

The queries read only the events that can matter: those after the earliest enrolment
(or wait) among the candidates and not after ``b``. The events table holds the whole
history (years of purchases), the open enrolments a few weeks, so the range cuts the
join's probe side to a small share of the table (a filter DuckDB applies in the scan).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import duckdb

from clm.automation import triggers
from clm.automation.definitions import Automation
from clm.automation.enrolments import Enrolment


def conversions(
    con: duckdb.DuckDBPyConnection,
    automation: Automation,
    b: datetime,
    *,
    among: Sequence[Enrolment] | None = None,
) -> dict[str, datetime]:
    """The first goal event (after enrolment, within the window, by ``b``) of each open
    enrolment of this automation version (``among``: of these enrolments only)."""
    if automation.goal is None:
        return {}
    if among is None:
        return open_conversions(con, [(automation, earliest_open(con, automation))], b)
    mine = [e for e in among if (e.automation, e.version) == (automation.name, automation.version)]
    since = min((e.enrolled_at for e in mine), default=None)
    if since is None or since >= b:
        return {}
    sql, params = _query(automation, b, since, [e.enrolment_id for e in mine])
    return {str(eid): ts for eid, ts in con.execute(sql, params).fetchall()}


def open_conversions(
    con: duckdb.DuckDBPyConnection,
    versions: Sequence[tuple[Automation, datetime | None]],
    b: datetime,
) -> dict[str, datetime]:
    """:func:`conversions` of every open enrolment of these automation versions in one
    statement; each comes with the earliest time among its open enrolments (None: none
    is open), the lower bound of the events it reads."""
    parts = [
        _query(a, b, since)
        for a, since in versions
        if a.goal is not None and since is not None and since < b
    ]
    if not parts:
        return {}
    sql = "\nUNION ALL\n".join(f"({q})" for q, _ in parts)
    params = [v for _, values in parts for v in values]
    return {str(eid): ts for eid, ts in con.execute(sql, params).fetchall()}


def _query(
    automation: Automation, b: datetime, since: datetime, ids: Sequence[str] | None = None
) -> tuple[str, list[Any]]:
    goal = automation.goal
    assert goal is not None
    filter_sql, params = triggers.where_sql(goal.get("where") or {})
    ids_sql = "" if ids is None else "AND en.enrolment_id IN (SELECT unnest(?::VARCHAR[]))"
    sql = f"""
        SELECT en.enrolment_id, min(e.ts) FROM enrolments en
        JOIN events e ON e.customer_id = en.customer_id AND e.type = ?
         AND e.ts > en.enrolled_at AND e.ts <= least(en.goal_until, ?) {filter_sql}
        WHERE en.automation = ? AND en.version = ? AND en.converted_at IS NULL
          AND en.state IN ('active', 'waiting', 'completed') {ids_sql}
          AND e.ts > ? AND e.ts <= ?
        GROUP BY en.enrolment_id
        """
    key = [automation.name, automation.version]
    return sql, [
        goal["event"],
        b,
        *params,
        *key,
        *([list(ids)] if ids is not None else []),
        since,
        b,
    ]


def earliest_open(con: duckdb.DuckDBPyConnection, automation: Automation) -> datetime | None:
    """The earliest enrolment time among the open enrolments of this version."""
    rows = con.execute(  # fetchall: a result left open blocks the connection's next use
        "SELECT min(enrolled_at) FROM enrolments WHERE automation = ? AND version = ? "
        "AND converted_at IS NULL AND state IN ('active', 'waiting', 'completed')",
        [automation.name, automation.version],
    ).fetchall()
    value: datetime | None = rows[0][0]
    return value


def with_goal_windows(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, datetime | None]]:
    """The automation versions with open enrolments in a goal window, each with the
    earliest time among its open enrolments not converted (:func:`earliest_open`)."""
    rows = con.execute(
        "SELECT automation, version, min(enrolled_at) FILTER (WHERE converted_at IS NULL) "
        "FROM enrolments WHERE state IN ('active', 'waiting', 'completed') "
        "GROUP BY automation, version HAVING bool_or(goal_until IS NOT NULL) "
        "ORDER BY automation, version"
    ).fetchall()
    return [(str(a), int(v), since) for a, v, since in rows]


def wait_events(
    con: duckdb.DuckDBPyConnection,
    waiting: Sequence[Enrolment],
    definition: Callable[[str, int], Automation],
    b: datetime,
) -> dict[str, datetime]:
    """The first awaited event (after the wait began, by its timeout and ``b``) of each
    enrolment waiting at a wait-until-event step."""
    out: dict[str, datetime] = {}
    for key in sorted({(e.automation, e.version, e.step_id or "") for e in waiting}):
        name, version, step_id = key
        step = definition(name, version).step(step_id)
        spec = step["until_event"]
        filter_sql, params = triggers.where_sql(spec.get("where") or {})
        mine = [e for e in waiting if (e.automation, e.version, e.step_id or "") == key]
        since = min(e.wait_since or e.enrolled_at for e in mine)
        rows = con.execute(
            f"""
            SELECT en.enrolment_id, min(e.ts) FROM enrolments en
            JOIN events e ON e.customer_id = en.customer_id AND e.type = ?
             AND e.ts > en.wait_since AND e.ts <= least(en.due_at, ?) {filter_sql}
            WHERE en.automation = ? AND en.version = ? AND en.state = 'waiting'
              AND en.step_id = ? AND e.ts > ? AND e.ts <= ?
            GROUP BY en.enrolment_id
            """,
            [spec["type"], b, *params, name, version, step_id, since, b],
        ).fetchall()
        out |= {str(eid): ts for eid, ts in rows}
    return out
