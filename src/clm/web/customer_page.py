"""The single customer page: the view, its timeline, segment history, charts, and
the automation decisions and messages once the automation branch provides them.

Optional facade methods (used when present, an "not available" state otherwise):

- ``ws.why(customer_id) -> list[dict]``: decisions, newest first, each
  ``{"at": iso time, "automation": str, "version": int, "decision": str
  ("enrolled" | "skipped" | "sent" | "converted" | ...), "reason": str | None,
  "step_id": str | None, "arm": str | None, "variant": str | None}``.
- ``ws.messages(customer_id=..., limit=...) -> list[dict]``: the outbox rows of
  ``clm.automation.outbox.messages`` (automation, channel, variant, status,
  not_before, ...). Sent messages also appear in the timeline as
  ``message_sent`` events.
"""

from __future__ import annotations

import logging
from typing import Any

from clm.errors import ClmError
from clm.web import charts

TIMELINE_EVENTS = 500
TABLE_EVENTS = 50
log = logging.getLogger(__name__)


def customer(ws: Any, customer_id: str) -> dict[str, Any]:
    """Everything the customer page shows (raises NotFound for an unknown id)."""
    view = ws.customer(customer_id)
    events = ws.customer_timeline(customer_id, TIMELINE_EVENTS)
    history = ws.customer_segment_history(customer_id)
    activity = view["activity"]
    return {
        "view": view,
        "scores": view["scores"],
        "value": view["lifetime_value"],
        "events": events[:TABLE_EVENTS],
        "n_timeline": len(events),
        "n_events": sum(view["events"].values()),
        "timeline_chart": charts.timeline(events) if events else None,
        "activity_chart": charts.activity_bars(activity) if activity else None,
        "history": history,
        "history_chart": charts.segment_steps(history) if len(history) > 1 else None,
        "automations": optional(ws, "why", customer_id),
        "messages": optional(ws, "messages", customer_id=customer_id, limit=50),
    }


def optional(ws: Any, method: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Call a facade method that a later branch adds: ``{"available", "rows", "error"}``."""
    func = getattr(ws, method, None)
    if func is None:
        return {"available": False, "rows": [], "error": None}
    try:
        rows = list(func(*args, **kwargs))
    except (ClmError, TypeError) as exc:  # a branch whose shape differs: say so, don't crash
        log.warning("dashboard: ws.%s failed: %s", method, type(exc).__name__)
        return {"available": False, "rows": [], "error": str(exc)}
    return {"available": True, "rows": rows, "error": None}
