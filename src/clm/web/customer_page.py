"""The single customer page: the view, its timeline (events and the messages of the
outbox), segment history, charts, the automations the customer is in and why.

Facade methods used:

- ``ws.why(customer_id)``: every decision about the customer and the outcomes of the
  messages it queued, oldest first, each with ``ts``, ``automation``, ``version``,
  ``enrolment_id``, ``kind`` and ``text`` (the sentence of ``clm why``); the page shows
  them newest first and sums each enrolment up (arm, state);
- ``ws.outbox(customer_id=..., limit=...)``: the customer's messages, newest first, with
  their automation, channel, variant, status, ``not_before`` and ``sent_at``.
"""

from __future__ import annotations

from typing import Any

from clm.web import charts

TIMELINE_EVENTS = 500
TABLE_EVENTS = 50
MESSAGES = 50
STATES = {"completed": "steps done, goal window open", "converted": "converted", "ended": "ended"}


def customer(ws: Any, customer_id: str) -> dict[str, Any]:
    """Everything the customer page shows (raises NotFound for an unknown id)."""
    view = ws.customer(customer_id)
    events = ws.customer_timeline(customer_id, TIMELINE_EVENTS)
    history = ws.customer_segment_history(customer_id)
    activity = view["activity"]
    decisions = ws.why(customer_id)
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
        "enrolments": enrolments(decisions),
        "decisions": decisions[::-1],
        "messages": messages,
        "n_messages_shown": MESSAGES,
    }


def enrolments(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The customer's enrolments, newest first: automation, version, arm, when, state.

    ``decisions`` are ``ws.why``'s rows, oldest first; an enrolment is active until a
    ``completed`` (its steps are done, the goal window is still open), ``converted`` or
    ``ended`` decision about it, as ``enrolments.state`` moves; a conversion is final.
    """
    found: dict[str, dict[str, Any]] = {}
    for row in decisions:
        key = row.get("enrolment_id")
        if row["kind"] == "enrolled" and key:
            found[key] = {
                "automation": row["automation"],
                "version": row["version"],
                "arm": row.get("reason"),
                "enrolled_at": row["ts"],
                "state": "active",
                "since": row["ts"],
            }
        elif key in found and row["kind"] in STATES and found[key]["state"] != "converted":
            found[key].update(state=row["kind"], since=row["ts"])
    for enrolment in found.values():
        enrolment["state_text"] = STATES.get(enrolment["state"], enrolment["state"])
    return sorted(found.values(), key=lambda e: str(e["enrolled_at"]), reverse=True)
