"""The outbox: every message under its deterministic id, from queued to sent.

Statuses::

    queued ──> sent
      ▲  │  └──> unknown   (stopped mid-send on a channel that cannot re-send)
      │  ▼
    retrying ──> failed    (a refusal, or retries exhausted)

(``sending``, a mark an earlier version stored per message, is still resolved after
a crash like a mark of the in-flight log.) :func:`enqueue` adds messages (idempotent
on ``message_id``); :func:`deliver` (:mod:`clm.automation.delivery`) sends the due
ones; :func:`messages` lists them; :func:`banner_for` serves live banners.

Sending each message at most once across crashes
------------------------------------------------
A crash (``kill -9``, a power cut) can come at any instruction, so the question is
what is on disk about a message whose send was interrupted, and what a later
:func:`deliver` does with it. The rule:

1. At the channel's *point of no return* (for SMTP right before the final ``.`` line
   of the DATA command, after MAIL, RCPT, DATA and the whole content went through: a
   server discards a transaction whose connection drops before that line, RFC 5321
   §3.8; for HTTP right before the request) a *mark* is appended to the in-flight log
   (:mod:`clm.automation.inflight`, ``os.write``: a ``kill -9`` cannot lose it), and
   the provider's answer is appended as soon as it comes. The database gets the
   outcomes in batches (every ``channels.outbox.flush_every`` messages or
   ``flush_ms``), each batch in one transaction with its ``message_sent`` events
   (``event_id = "msg:{message_id}:sent"``).
2. A crash *before* the mark leaves the message ``queued``/``retrying``: the receiver
   has nothing, and the next run sends it. Nothing is lost.
3. A crash *after* the answer was logged: the next :func:`deliver` stores the logged
   outcome (``replayed_after_crash``); nothing is sent again.
4. A crash between the mark and the answer: the next :func:`deliver` resolves it per
   channel (``after_crash``):

   - email (``hold``): marked ``unknown`` and NOT re-sent. SMTP cannot ask a server
     whether it got a message, and a receiver does not de-duplicate, so a re-send
     could deliver twice (RFC 1047). With ``channels.email.concurrency`` connections
     at most that many emails are in this state after one crash. The operator sees
     them in ``clm outbox --status unknown`` and may :func:`requeue` them; a re-send
     carries the same ``Message-ID``, so a mailbox that de-duplicates can drop it.
   - SMS, push, webhooks (``resend``): re-sent with the same
     ``Idempotency-Key: <message_id>``, which the provider uses to drop the repeat.
   - folders (``resend``): the file named by the message id is written again;
     banners (``resend``): made live again. Both are idempotent.

So a receiver never gets an email twice. An email interrupted after the server
accepted it but before the answer was logged shows as ``unknown`` though it arrived;
the only email that can go missing is one interrupted in the microseconds between the
write of its mark and the write of its final ``.`` line, and it too is flagged
``unknown``, never silently dropped. The marks of emails are forced to disk (``fsync``,
shared by the threads writing at that moment) before the final dot, so a power cut
cannot make an accepted email look unsent; other lines survive a killed process, and a
power cut too with ``channels.outbox.fsync`` on (one ``fsync`` per line, some 4 ms on
this machine's disk): a lost line of an idempotent channel only means a repeat with
the same key or file. :func:`deliver` holds a process-wide lock, so two runs
never resolve each other's in-flight messages.

Retries: a ``retry`` result waits ``backoff_seconds * 2**(attempts - 1)`` (the
channel's :class:`~clm.automation.channels.base.RetryPolicy`) and becomes ``failed``
after ``1 + retries`` tries. After three ``retry`` answers in a row a channel is taken
as down for the rest of the run (an SMTP server that is off): its other messages wait,
untried, for the next run. Messages of a channel without settings stay ``queued``
with the missing setting as their ``last_error``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from clm.automation.channels.banner import banner_for
from clm.automation.channels.base import OutgoingMessage
from clm.automation.delivery import deliver, deliver_configured, naive_utc
from clm.automation.outcomes import DeliveryStats
from clm.store.database import records

__all__ = [
    "CHANNELS",
    "STATUSES",
    "DeliveryStats",
    "OutgoingMessage",
    "banner_for",
    "deliver",
    "deliver_configured",
    "enqueue",
    "messages",
    "requeue",
]

CHANNELS = ("email", "sms", "push", "banner", "webhook")
STATUSES = ("queued", "sending", "sent", "retrying", "failed", "unknown")


# -- enqueue -------------------------------------------------------------------------------


def enqueue(con: duckdb.DuckDBPyConnection, messages: Sequence[OutgoingMessage]) -> int:
    """Add messages to the outbox; a message id already there adds nothing.

    One statement, so it may run inside the caller's transaction (with the decisions
    that made the messages). Returns the number of new messages.
    """
    unique: dict[str, OutgoingMessage] = {}
    for message in messages:
        _check(message)
        unique.setdefault(message.message_id, message)
    if not unique:
        return 0
    created = datetime.now(UTC).replace(tzinfo=None)
    rows = list(unique.values())
    table = pa.table(
        {
            "message_id": [m.message_id for m in rows],
            "automation": [m.automation for m in rows],
            "version": pa.array([m.version for m in rows], pa.int32()),
            "enrolment_id": [m.enrolment_id for m in rows],
            "step_id": [m.step_id for m in rows],
            "customer_id": [m.customer_id for m in rows],
            "channel": [m.channel for m in rows],
            "variant": pa.array([m.variant for m in rows], pa.string()),
            "content": [json.dumps(m.content, sort_keys=True) for m in rows],
            "not_before": pa.array([naive_utc(m.not_before) for m in rows], pa.timestamp("us")),
            "cost": pa.array([float(m.cost) for m in rows], pa.float64()),
        }
    )
    con.register("_clm_outbox_new", table)
    try:  # one statement: atomic on its own, and usable inside the caller's transaction
        added = con.execute(
            """
            INSERT INTO outbox
            SELECT message_id, automation, version, enrolment_id, step_id, customer_id,
                   channel, variant, content::JSON, 'queued', 0, not_before, not_before,
                   ?, NULL, NULL, NULL, cost
            FROM _clm_outbox_new
            ON CONFLICT DO NOTHING
            RETURNING message_id
            """,
            [created],
        ).fetchall()
    finally:
        con.unregister("_clm_outbox_new")
    return len(added)


def _check(message: OutgoingMessage) -> None:
    if not message.message_id:
        raise ValueError("an outgoing message needs a message_id")
    if message.channel not in CHANNELS:
        raise ValueError(f"message {message.message_id}: unknown channel {message.channel!r}")
    if not isinstance(message.content, dict):
        raise ValueError(f"message {message.message_id}: content must be a dict")


# -- reading and repairing -----------------------------------------------------------------


def messages(
    con: duckdb.DuckDBPyConnection,
    *,
    customer_id: str | None = None,
    automation: str | None = None,
    status: str | None = None,
    channel: str | None = None,
    limit: int = 100,
    with_content: bool = False,
) -> list[dict[str, Any]]:
    """Messages, newest first, JSON-friendly (``content`` only when asked for)."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
    where, params = [], []
    for column, value in (
        ("customer_id", customer_id),
        ("automation", automation),
        ("status", status),
        ("channel", channel),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    content = ", content" if with_content else ""
    sql = f"""
        SELECT message_id, automation, version, enrolment_id, step_id, customer_id, channel,
               variant, status, attempts, not_before, next_attempt_at, created_at, sent_at,
               last_error, provider_id, cost{content}
        FROM outbox {"WHERE " + " AND ".join(where) if where else ""}
        ORDER BY created_at DESC, not_before DESC, message_id
        LIMIT ?
    """
    rows = records(con, sql, [*params, limit])
    for row in rows:
        if with_content:
            row["content"] = json.loads(row["content"])
    return rows


def requeue(con: duckdb.DuckDBPyConnection, message_ids: Sequence[str]) -> int:
    """Queue ``unknown`` or ``failed`` messages again (an operator's decision): the next
    delivery sends them (an email with the same Message-ID). Returns how many."""
    if not message_ids:
        return 0
    changed = con.execute(
        "UPDATE outbox SET status = 'queued', attempts = 0, next_attempt_at = not_before, "
        "last_error = NULL WHERE list_contains(?, message_id) AND status IN ('unknown', 'failed')",
        [list(message_ids)],
    ).fetchall()
    return int(changed[0][0]) if changed else 0
