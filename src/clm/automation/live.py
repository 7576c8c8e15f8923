"""The engine on live events, for ``clm serve``.

:func:`on_event` reacts to one stored event at once: automations whose ``event`` trigger
matches enrol the customer, and the first steps of the new enrolments that are due run
now (sends are enqueued; the caller's delivery loop sends them). Everything else (waits,
goals, scores, schedules, hand-offs) is the scheduler's: :func:`clm.automation.runner.
run_due` on a tick. Both use the same deterministic ids, so an event seen live and again
by the next tick enrols once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from clm.automation import triggers
from clm.automation.decisions import Decision
from clm.automation.definitions import AUTOMATIONS, TEMPLATES, Automation
from clm.automation.runner import Engine
from clm.config import Settings
from clm.store.database import transaction


def on_event(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    settings: Settings,
    event: Mapping[str, Any],
) -> list[Decision]:
    """Enrol and take the due first steps for one event; return the decisions made.

    ``event`` has the events table's columns (``event_id``, ``customer_id``, ``type``,
    ``ts`` as naive UTC, ``category``, ``amount``, ``order_id``, ``properties``). An event
    without a customer id enrols nobody.
    """
    customer, at = event.get("customer_id"), event["ts"]
    if not customer or not isinstance(at, datetime):
        return []
    engine = Engine(con, root, settings, dry_run=False)
    engine.keep = True
    _load(engine, root, at)
    occurrence = triggers.Occurrence(
        str(customer),
        at,
        f"event:{event['event_id']}",
        f"{event['type']} event {event['event_id']}",
    )
    for automation in engine.current:
        if automation.name in engine.paused or automation.trigger_kind != "event":
            continue
        body = automation.trigger
        if body["type"] != event["type"] or not triggers.event_matches(
            body.get("where") or {}, event
        ):
            continue
        with transaction(con):
            new = engine.enrol_found(automation, [occurrence])
        due = [e for e in new if e.state == "active" and e.due_at is not None and e.due_at <= at]
        if due:
            engine.advance_these(due)
    return engine.recorded


# The files' names, sizes and times -> the versions they were stored as (per workspace), so
# a stream of events reads and validates the definitions only when a file changed.
_LOADED: dict[Path, tuple[tuple[tuple[str, int, int], ...], list[Automation]]] = {}


def _signature(root: Path) -> tuple[tuple[str, int, int], ...]:
    files = []
    for folder in (AUTOMATIONS, TEMPLATES):
        path = root / folder
        if path.exists():
            files += [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in path.iterdir()]
    return tuple(sorted(files))


def _load(engine: Engine, root: Path, at: datetime) -> None:
    key, signature = root.resolve(), _signature(root)
    cached = _LOADED.get(key)
    if cached is not None and cached[0] == signature:
        engine.use(cached[1])
        return
    engine.load(at)
    _LOADED[key] = (signature, list(engine.current))
