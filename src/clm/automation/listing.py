"""What ``clm automations list`` shows, and pausing/resuming by name."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from clm.automation import definitions, versions
from clm.errors import AutomationError
from clm.store.database import records


def overview(con: duckdb.DuckDBPyConnection, root: Path) -> dict[str, Any]:
    """Per automation: file, status, current and stored versions, enrolment counts."""
    valid, problems = definitions.load(root)
    stored = {
        str(name): int(v)
        for name, v in con.execute(
            "SELECT automation, max(version) FROM automation_versions GROUP BY automation"
        ).fetchall()
    }
    counts = _counts(con)
    rows = []
    for automation in valid:
        latest = versions.latest_version(con, automation.name)
        unchanged = latest is not None and latest.content_hash == automation.content_hash
        rows.append(
            {
                "name": automation.name,
                "path": automation.path,
                "status": versions.status(con, automation),
                "trigger": automation.trigger_kind,
                "priority": automation.priority,
                "version": stored.get(automation.name),
                "changed": not unchanged,  # the next run stores a new version
                **counts.get(automation.name, _zero()),
            }
        )
    for name in sorted(set(stored) - {a.name for a in valid}):
        latest = versions.latest_version(con, name)
        assert latest is not None
        rows.append(
            {
                "name": name,
                "path": latest.path,
                "status": versions.status(con, latest),
                "trigger": latest.trigger_kind,
                "priority": latest.priority,
                "version": stored[name],
                "changed": False,
                "file": "invalid or missing: the stored version stays in use",
                **counts.get(name, _zero()),
            }
        )
    return {"automations": rows, "problems": [str(p) for p in problems]}


def _zero() -> dict[str, int]:
    return {"enrolled": 0, "treatment": 0, "control": 0, "sent": 0, "converted": 0}


def _counts(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    rows = con.execute(
        """
        SELECT automation, count(*), count(*) FILTER (WHERE arm = 'treatment'),
               count(*) FILTER (WHERE arm <> 'treatment'),
               count(*) FILTER (WHERE converted_at IS NOT NULL)
        FROM enrolments GROUP BY automation
        """
    ).fetchall()
    sent = dict(
        con.execute(
            "SELECT automation, count(*) FROM decisions WHERE kind = 'sent' GROUP BY automation"
        ).fetchall()
    )
    return {
        str(a): {
            "enrolled": int(n),
            "treatment": int(t),
            "control": int(c),
            "sent": int(sent.get(a, 0)),
            "converted": int(k),
        }
        for a, n, t, c, k in rows
    }


def set_status(con: duckdb.DuckDBPyConnection, root: Path, name: str, status: str) -> None:
    """Store ``paused`` or ``active`` for an automation that has a file or a version."""
    valid, _ = definitions.load(root)
    known = {a.name for a in valid} | {
        str(r[0])
        for r in con.execute("SELECT DISTINCT automation FROM automation_versions").fetchall()
    }
    if name not in known:
        raise AutomationError(
            f"no automation named {name!r}; see `clm automations list`"
            + (f" (known: {', '.join(sorted(known))})" if known else "")
        )
    versions.set_status(con, name, status, datetime.now(UTC).replace(tzinfo=None))


def customer_enrolments(con: duckdb.DuckDBPyConnection, customer_id: str) -> list[dict[str, Any]]:
    """A customer's enrolments, newest first: automation, version, arm, variant, state
    (``clm.automation.enrolments``' states), current step and its times."""
    return records(
        con,
        """
        SELECT enrolment_id, automation, version, arm, variant, state, step_id, enrolled_at,
               due_at, goal_until, converted_at, ended_at
        FROM enrolments WHERE customer_id = ?
        ORDER BY enrolled_at DESC, automation, enrolment_id
        """,
        [customer_id],
    )
