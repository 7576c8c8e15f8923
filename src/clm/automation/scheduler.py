"""Automations inside ``clm serve``: a scheduler thread that runs what is due.

Two things wake it: a tick every ``automation.serve_tick_seconds`` (steps whose wait
is over, schedules, segment and score triggers of new scoring runs: one
:func:`clm.automation.runner.run_due` up to now), and live events once the event
stream has stored them (:func:`clm.automation.live.on_event` for the events whose type
an event trigger names), so an event-triggered automation reacts within seconds.
Either way each decision is made once: enrolment and message ids are deterministic,
and the next tick finds a live enrolment and adds nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import UTC, datetime
from typing import Any

from clm.automation import definitions, live, runner
from clm.automation.channels import opened
from clm.errors import ClmError
from clm.ingest.tracking import EventRecord, Record
from clm.profiles.live_scores import to_datetime

log = logging.getLogger("clm.automation")


class Scheduler:
    """The automation thread of a served workspace (see the module docstring)."""

    def __init__(self, ws: Any, tick_seconds: float) -> None:
        self.ws = ws
        self.tick_seconds = tick_seconds
        self.ticks = 0
        self.reacted = 0
        self.errors = 0
        self._events: queue.Queue[list[EventRecord]] = queue.Queue()
        self._types: set[str] = set()  # event types that some event trigger names
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="clm-automations", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._events.put([])
        self._thread.join(timeout=60)

    def stored(self, records: list[Record]) -> None:
        """The event stream stored these records (called from its writer thread)."""
        events = [
            r
            for r in records
            if isinstance(r, EventRecord) and r.customer_id and r.type in self._types
        ]
        if events:
            self._events.put(events)

    def _run(self) -> None:
        next_tick = 0.0
        while not self._stop.is_set():
            timeout = max(0.0, next_tick - time.monotonic())
            try:
                batch = self._events.get(timeout=timeout)
            except queue.Empty:
                batch = None
            if self._stop.is_set():
                break
            if batch:
                self._react(batch)
            if time.monotonic() >= next_tick:
                self._tick()
                next_tick = time.monotonic() + self.tick_seconds

    def _tick(self) -> None:
        try:
            found = definitions.validate(self.ws.root)
            self._types = {a.trigger["type"] for a in found if a.trigger_kind == "event"}
        except ClmError:
            pass  # a broken file: the runner reports it and keeps the last good versions
        try:
            with self.ws.reader() as ws, opened(ws.settings.channels, ws.root) as channels:
                now = datetime.now(UTC).replace(tzinfo=None)
                runner.run_due(ws.con, ws.root, ws.settings, now, channels)
            self.ticks += 1
        except Exception:  # the scheduler must outlive a bad tick; the next one retries
            self.errors += 1
            log.exception("automation tick failed")

    def _react(self, events: list[EventRecord]) -> None:
        try:
            with self.ws.reader() as ws:
                acted = 0
                for e in events:
                    decisions = live.on_event(ws.con, ws.root, ws.settings, _row(e))
                    acted += bool(decisions)
                if acted:
                    ws.deliver()  # the sends the reactions enqueued go out now, not next tick
                self.reacted += acted
        except Exception:
            self.errors += 1
            log.exception("automation reaction to live events failed")

    def stats(self) -> dict[str, int]:
        return {"ticks": self.ticks, "events_reacted_to": self.reacted, "errors": self.errors}


def _row(e: EventRecord) -> dict[str, Any]:
    """An event as the events table holds it (what :func:`live.on_event` reads)."""
    return {
        "event_id": e.event_id,
        "customer_id": e.customer_id,
        "anonymous_id": e.anonymous_id,
        "type": e.type,
        "ts": to_datetime(e.ts),
        "category": e.category,
        "amount": None if e.amount is None else e.amount / 10_000,
        "order_id": e.order_id,
        "properties": e.properties,
    }
