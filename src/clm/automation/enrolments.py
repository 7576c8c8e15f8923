"""Enrolments: who is in which automation, on which version and arm, at which step.

An enrolment id (:func:`clm.automation.ids.enrolment_id`) is derived from the automation,
the customer and the trigger occurrence (not the version: a new version does not enrol the
same occurrence again), so finding an occurrence twice enrols once. States::

    active     at ``step_id``, due at ``due_at``
    waiting    at a wait-until-event step since ``wait_since``, timing out at ``due_at``
    completed  steps done (or a control arm), the goal window still open
    converted  the goal event happened in the window (``converted_at``)
    ended      over without a conversion (``ended_at``)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from clm.automation import bulk

OPEN = ("active", "waiting", "completed")
COLUMNS = (
    "enrolment_id, automation, version, customer_id, occurrence, arm, enrolled_at, state, "
    "step_id, due_at, wait_since, goal_until, converted_at, ended_at, variant"
)


@dataclass(frozen=True)
class Enrolment:
    enrolment_id: str
    automation: str
    version: int
    customer_id: str
    occurrence: str
    arm: str
    enrolled_at: datetime
    state: str
    step_id: str | None = None
    due_at: datetime | None = None
    wait_since: datetime | None = None
    goal_until: datetime | None = None
    converted_at: datetime | None = None
    ended_at: datetime | None = None
    variant: str | None = None

    def moved(self, **changes: Any) -> Enrolment:
        """A copy with ``changes`` (what :func:`dataclasses.replace` gives, without its
        per-field ``__init__``: this runs several times per enrolment and step)."""
        unknown = changes.keys() - _FIELDS
        if unknown:
            raise TypeError(f"Enrolment has no field(s) {', '.join(sorted(unknown))}")
        new = object.__new__(Enrolment)
        new.__dict__.update(self.__dict__, **changes)
        return new


_FIELDS = frozenset(f.name for f in fields(Enrolment))


TS = pa.timestamp("us")
TYPES: list[tuple[str, pa.DataType]] = [
    ("enrolment_id", pa.string()),
    ("automation", pa.string()),
    ("version", pa.int32()),
    ("customer_id", pa.string()),
    ("occurrence", pa.string()),
    ("arm", pa.string()),
    ("enrolled_at", TS),
    ("state", pa.string()),
    ("step_id", pa.string()),
    ("due_at", TS),
    ("wait_since", TS),
    ("goal_until", TS),
    ("converted_at", TS),
    ("ended_at", TS),
    ("variant", pa.string()),
]
CHANGING = ("enrolment_id", "state", "step_id", "due_at", "wait_since", "converted_at", "ended_at")


def insert(con: duckdb.DuckDBPyConnection, enrolments: Sequence[Enrolment]) -> None:
    """Add enrolments; one whose id exists is kept as it is."""
    names = [n for n, _ in TYPES]  # not dataclasses.astuple: it deep-copies every value
    bulk.insert(con, "enrolments", TYPES, [[getattr(e, n) for n in names] for e in enrolments])


def update(con: duckdb.DuckDBPyConnection, enrolments: Sequence[Enrolment]) -> None:
    """Store the state, step and times of enrolments."""
    columns = [(n, t) for n, t in TYPES if n in CHANGING]
    rows = [[getattr(e, n) for n, _ in columns] for e in enrolments]
    bulk.update(con, "enrolments", "enrolment_id", columns, rows)


def existing(con: duckdb.DuckDBPyConnection, ids: Sequence[str]) -> set[str]:
    if not ids:
        return set()
    rows = con.execute(
        "SELECT enrolment_id FROM enrolments WHERE enrolment_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(ids)],
    ).fetchall()
    return {str(r[0]) for r in rows}


def prior(
    con: duckdb.DuckDBPyConnection, automation: str, customers: Sequence[str]
) -> dict[str, tuple[datetime, bool]]:
    """Per customer: the last enrolment time in the automation and whether one is open
    (active or waiting: still on its steps)."""
    if not customers:
        return {}
    rows = con.execute(
        "SELECT customer_id, max(enrolled_at), bool_or(state IN ('active', 'waiting')) "
        "FROM enrolments WHERE automation = ? AND customer_id IN (SELECT unnest(?::VARCHAR[])) "
        "GROUP BY customer_id",
        [automation, list(dict.fromkeys(customers))],
    ).fetchall()
    return {str(c): (t, bool(o)) for c, t, o in rows}


def select(
    con: duckdb.DuckDBPyConnection, where: str, params: Sequence[Any] = ()
) -> list[Enrolment]:
    rows = con.execute(f"SELECT {COLUMNS} FROM enrolments WHERE {where}", list(params)).fetchall()
    return [Enrolment(*r) for r in rows]


def due(con: duckdb.DuckDBPyConnection, until: datetime, paused: Sequence[str]) -> list[Enrolment]:
    """Active enrolments due by ``until`` and waiting ones (they need a look each time)."""
    return select(
        con,
        "((state = 'active' AND due_at <= ?) OR state = 'waiting') "
        "AND automation NOT IN (SELECT unnest(?::VARCHAR[])) ORDER BY due_at, enrolment_id",
        [until, list(paused)],
    )
