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
    goal = automation.goal
    if goal is None:
        return {}
    if among is None:
        since = earliest_open(con, automation)
        ids_sql, ids = "", []
    else:
        mine = [
            e for e in among if (e.automation, e.version) == (automation.name, automation.version)
        ]
        since = min((e.enrolled_at for e in mine), default=None)
        ids_sql, ids = (
            "AND en.enrolment_id IN (SELECT unnest(?::VARCHAR[]))",
            [[e.enrolment_id for e in mine]],
        )
    if since is None or since >= b:
        return {}
    filter_sql, params = triggers.where_sql(goal.get("where") or {})
    rows = con.execute(
        f"""
        SELECT en.enrolment_id, min(e.ts) FROM enrolments en
        JOIN events e ON e.customer_id = en.customer_id AND e.type = ?
         AND e.ts > en.enrolled_at AND e.ts <= least(en.goal_until, ?) {filter_sql}
        WHERE en.automation = ? AND en.version = ? AND en.converted_at IS NULL
          AND en.state IN ('active', 'waiting', 'completed') {ids_sql}
          AND e.ts > ? AND e.ts <= ?
        GROUP BY en.enrolment_id
        """,
        [goal["event"], b, *params, automation.name, automation.version, *ids, since, b],
    ).fetchall()
    return {str(eid): ts for eid, ts in rows}


def earliest_open(con: duckdb.DuckDBPyConnection, automation: Automation) -> datetime | None:
    """The earliest enrolment time among the open enrolments of this version."""
    rows = con.execute(  # fetchall: a result left open blocks the connection's next use
        "SELECT min(enrolled_at) FROM enrolments WHERE automation = ? AND version = ? "
        "AND converted_at IS NULL AND state IN ('active', 'waiting', 'completed')",
        [automation.name, automation.version],
    ).fetchall()
    value: datetime | None = rows[0][0]
    return value


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
