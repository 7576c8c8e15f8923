"""``clm why CUSTOMER``: every decision about a customer, in order, in plain words."""

from __future__ import annotations

from typing import Any

import duckdb

from clm.automation.decisions import KINDS
from clm.store.database import records

ARMS = {
    "treatment": "treatment (receives the messages)",
    "control": "control (the automation's holdout: receives nothing, still measured)",
    "global_control": "global control group (no automation touches them; still measured)",
}
SKIPS = {
    "audience": "not in the audience",
    "re_entry": "re-entry policy",
    "consent": "no consent",
    "no_address": "no address",
    "cap": "frequency cap reached",
    "template": "the template failed",
}
OUTCOMES = {
    "message_sent": "was sent",
    "message_delivered": "was delivered",
    "message_opened": "was opened",
    "message_clicked": "was clicked",
}


def why(
    con: duckdb.DuckDBPyConnection,
    customer_id: str,
    automation: str | None = None,
    events: str = "events",
) -> list[dict[str, Any]]:
    """Decisions (and the outcomes of the messages they queued), oldest first; the
    outcome events are read from ``events`` (the table, or a relation holding at least
    the customer's own events)."""
    rows = records(
        con,
        """
        SELECT ts, automation, version, enrolment_id, step_id, kind, reason, channel,
               message_id, variant, cost, not_before, detail
        FROM decisions WHERE customer_id = $1 AND ($2::VARCHAR IS NULL OR automation = $2)
        ORDER BY ts, recorded_at, list_position($3::VARCHAR[], kind), decision_id
        """,
        [customer_id, automation, list(KINDS)],
    )
    outcomes = records(
        con,
        f"""
        SELECT e.ts, d.automation, d.version, d.enrolment_id, d.step_id, e.type AS kind,
               d.channel, d.message_id, d.variant
        FROM {events} e JOIN decisions d
          ON d.kind = 'sent' AND d.message_id = json_extract_string(e.properties, '$.message_id')
        WHERE e.type IN ('message_sent', 'message_delivered', 'message_opened',
                         'message_clicked')
          AND e.customer_id = $1  -- outcome events carry the message's customer
          AND d.customer_id = $1 AND ($2::VARCHAR IS NULL OR d.automation = $2)
        """,
        [customer_id, automation],
    )
    merged = rows + outcomes
    merged.sort(key=lambda r: str(r["ts"]))  # stable: decisions keep their order at one time
    for row in merged:
        row["text"] = sentence(row)
    return merged


def sentence(row: dict[str, Any]) -> str:
    """One decision in plain words."""
    kind, name = row["kind"], f"{row['automation']} (v{row['version']})"
    step = f"step {row['step_id']} of {name}" if row.get("step_id") else name
    detail = row.get("detail") or ""
    if kind == "enrolled":
        return f"Enrolled in {name} ({detail}); arm: {ARMS.get(row['reason'], '?')}."
    if kind == "skipped":
        what = SKIPS.get(row["reason"], row["reason"])
        if row.get("step_id"):
            return f"Did not send the {row['channel']} message of {step}: {what} ({detail})."
        return f"Not enrolled in {name}: {what} ({detail})."
    if kind == "moved":
        return f"Held the {row['channel']} message of {step}: {detail}."
    if kind == "sent":
        variant = f" (variant {row['variant']})" if row.get("variant") else ""
        return (
            f"Queued the {row['channel']} message of {step}{variant} to go out at "
            f"{str(row['not_before'])[:16].replace('T', ' ')} UTC."
        )
    if kind == "branched":
        return f"At {step}: {detail}, so went on to {row['reason']}."
    if kind == "converted":
        return f"Converted: the goal of {name} happened ({detail})."
    if kind == "completed":
        return f"{name}: {detail}."
    if kind == "ended":
        return f"{name} ended for this customer: {detail}."
    if kind in OUTCOMES:
        return f"The {row['channel']} message of {step} {OUTCOMES[kind]}."
    return f"{kind}: {detail}"
