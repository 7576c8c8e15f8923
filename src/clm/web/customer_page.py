"""The single customer page: the view, its timeline (events and the messages of the
outbox), segment history, charts, the automations the customer is in and why.

Facade methods used:

- ``ws.customer_events(customer_id)``: a context naming the profile's own events read
  once, passed to ``ws.customer``, ``ws.customer_timeline`` and ``ws.why`` (each reads
  them instead of scanning all events: one scan per page instead of five);

- ``ws.customer_enrolments(customer_id)``: the automations the customer is in (or was),
  newest first, with arm, variant and state (``clm.automation.enrolments``' states);
- ``ws.why(customer_id)``: every decision about the customer and the outcomes of the
  messages it queued, oldest first, each with ``ts``, ``automation``, ``version``,
  ``kind`` and ``text`` (the sentence of ``clm why``); the page shows them newest first;
- ``ws.outbox(customer_id=..., limit=...)``: the customer's messages, newest first, with
  their automation, channel, variant, status, ``not_before`` and ``sent_at``.
"""

from __future__ import annotations

from typing import Any

from clm.web import charts

TIMELINE_EVENTS = 500
TABLE_EVENTS = 50
MESSAGES = 50
STATES = {
    "active": "active",
    "waiting": "waiting for an event",
    "completed": "steps done, goal window open",
    "converted": "converted",
    "ended": "ended without a conversion",
}


def customer(ws: Any, customer_id: str) -> dict[str, Any]:
    """Everything the customer page shows (raises NotFound for an unknown id)."""
    with ws.customer_events(customer_id) as own:  # the profile's events, read once
        view = ws.customer(customer_id, own)
        events = ws.customer_timeline(customer_id, TIMELINE_EVENTS, own)
        decisions = ws.why(customer_id, None, own)
    history = ws.customer_segment_history(customer_id)
    activity = view["activity"]
    messages = ws.outbox(customer_id=customer_id, limit=MESSAGES)
    return {
        "view": view,
        "scores": view["scores"],
        "value": view["lifetime_value"],
        "events": events[:TABLE_EVENTS],
        "n_timeline": len(events),
        "n_events": sum(view["events"].values()),
        "timeline_chart": charts.timeline(events, messages) if events or messages else None,
        "activity_chart": charts.activity_bars(activity) if activity else None,
        "history": history,
        "history_chart": charts.segment_steps(history) if len(history) > 1 else None,
        "enrolments": ws.customer_enrolments(customer_id),
        "decisions": decisions[::-1],
        "messages": messages,
        "states": STATES,
        "n_messages_shown": MESSAGES,
    }
