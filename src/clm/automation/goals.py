"""Goal events and awaited events: which enrolments converted, which waits are over.

A conversion is the first goal event of the enrolment's customer strictly after the
enrolment time (the triggering event itself never counts) and within the goal window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import duckdb

from clm.automation import triggers
from clm.automation.definitions import Automation
from clm.automation.enrolments import Enrolment


def conversions(
    con: duckdb.DuckDBPyConnection, automation: Automation, b: datetime
) -> dict[str, datetime]:
    """The first goal event (after enrolment, within the window, by ``b``) of each open
    enrolment of this automation version."""
    goal = automation.goal
    if goal is None:
        return {}
    filter_sql, params = triggers.where_sql(goal.get("where") or {})
    rows = con.execute(
        f"""
        SELECT en.enrolment_id, min(e.ts) FROM enrolments en
        JOIN events e ON e.customer_id = en.customer_id AND e.type = ?
         AND e.ts > en.enrolled_at AND e.ts <= least(en.goal_until, ?) {filter_sql}
        WHERE en.automation = ? AND en.version = ? AND en.converted_at IS NULL
          AND en.state IN ('active', 'waiting', 'completed')
        GROUP BY en.enrolment_id
        """,
        [goal["event"], b, *params, automation.name, automation.version],
    ).fetchall()
    return {str(eid): ts for eid, ts in rows}


def wait_events(
    con: duckdb.DuckDBPyConnection,
    waiting: Sequence[Enrolment],
    definition: Callable[[str, int], Automation],
    b: datetime,
) -> dict[str, datetime]:
    """The first awaited event (after the wait began, by its timeout and ``b``) of each
    enrolment waiting at a wait-until-event step."""
    out: dict[str, datetime] = {}
    for name, version, step_id in sorted(
        {(e.automation, e.version, e.step_id or "") for e in waiting}
    ):
        step = definition(name, version).step(step_id)
        spec = step["until_event"]
        filter_sql, params = triggers.where_sql(spec.get("where") or {})
        rows = con.execute(
            f"""
            SELECT en.enrolment_id, min(e.ts) FROM enrolments en
            JOIN events e ON e.customer_id = en.customer_id AND e.type = ?
             AND e.ts > en.wait_since AND e.ts <= least(en.due_at, ?) {filter_sql}
            WHERE en.automation = ? AND en.version = ? AND en.state = 'waiting'
              AND en.step_id = ?
            GROUP BY en.enrolment_id
            """,
            [spec["type"], b, *params, name, version, step_id],
        ).fetchall()
        out |= {str(eid): ts for eid, ts in rows}
    return out
