"""The outbox: every message under its deterministic id, from queued to sent.

Statuses::

    queued ──> sending ──> sent
      ▲  │        │  └───> unknown   (stopped mid-send on a channel that cannot re-send)
      │  ▼        ▼
    retrying ──> failed               (a refusal, or retries exhausted)

:func:`enqueue` adds messages (idempotent on ``message_id``); :func:`deliver` sends
the due ones; :func:`messages` lists them; :func:`banner_for` serves live banners.

Sending each message at most once across crashes
------------------------------------------------
A crash (``kill -9``, a power cut) can come at any instruction, so the question is
what the database says about a message whose send was interrupted, and what a later
:func:`deliver` does with it. The rule:

1. A message is marked ``sending`` (and that mark COMMITTED) at the channel's
   *point of no return*, not earlier: for SMTP right before the final ``.`` line of
   the DATA command, after MAIL, RCPT, DATA and the whole content went through (a
   server discards a transaction whose connection drops before that line, RFC 5321
   §3.8); for HTTP right before the request. Messages are marked one at a time,
   never a batch at once, so a crash interrupts at most one message.
2. A crash *before* the mark leaves the message ``queued``/``retrying``: the receiver
   has nothing, and the next run sends it. Nothing is lost.
3. A crash *after* the mark leaves it ``sending``. The next :func:`deliver` starts by
   resolving those, per channel (``after_crash``):

   - email (``hold``): marked ``unknown`` and NOT re-sent. SMTP cannot ask a server
     whether it got a message, and a receiver does not de-duplicate, so a re-send
     could deliver twice (RFC 1047). The operator sees it in
     ``clm outbox --status unknown`` and may :func:`requeue` it; a re-send carries
     the same ``Message-ID``, so a mailbox that de-duplicates can drop it.
   - SMS, push, webhooks, banners (``resend``): re-sent with the same
     ``Idempotency-Key: <message_id>``, which the provider uses to drop the repeat.

So a receiver never gets an email twice. An email interrupted after the server
accepted it but before the answer was recorded shows as ``unknown`` though it
arrived; the only email that can go missing is one interrupted in the few
microseconds between the commit of its mark and the write of its final ``.`` line
(after that write the kernel delivers the line even if the process is killed), and
it too is flagged ``unknown``, never silently dropped. The price is two commits per
message (mark, result). Each result is recorded in its own transaction with the
``message_sent`` event (``event_id = "msg:{message_id}:sent"``). :func:`deliver`
holds a process-wide lock, so two runs never resolve each other's in-flight messages.

Retries: a ``retry`` result waits ``backoff_seconds * 2**(attempts - 1)`` (the
channel's :class:`~clm.automation.channels.base.RetryPolicy`) and becomes ``failed``
after ``1 + retries`` tries. After three ``retry`` answers in a row a channel is taken
as down for the rest of the run (an SMTP server that is off): its other messages wait,
untried, for the next run. Messages of a channel without settings stay ``queued``
with the missing setting as their ``last_error``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from clm.automation.channels.banner import banner_for
from clm.automation.channels.base import (
    Channel,
    OutgoingMessage,
    SendResult,
    after_crash,
    retry_policy,
)
from clm.store.database import records, transaction

__all__ = [
    "CHANNELS",
    "STATUSES",
    "DeliveryStats",
    "OutgoingMessage",
    "banner_for",
    "deliver",
    "enqueue",
    "messages",
    "requeue",
]

CHANNELS = ("email", "sms", "push", "banner", "webhook")
STATUSES = ("queued", "sending", "sent", "retrying", "failed", "unknown")
HOLD_REASON = (
    "interrupted after the message was handed to the server: it may have arrived, so it "
    "is not re-sent by itself (requeue it to send it again)"
)
RESEND_REASON = "interrupted mid-send: sent again with the same idempotency key"
_LOCK = threading.Lock()
# After this many "retry" answers in a row, a channel is taken as down for the rest of
# the run: its other due messages are not tried (nor counted as tries) until the next run.
DOWN_AFTER = 3


@dataclass
class DeliveryStats:
    """What one :func:`deliver` run did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    unknown: int = 0
    resent_after_crash: int = 0
    held_after_crash: int = 0
    waiting: dict[str, str] = field(default_factory=dict)  # channel -> missing setting
    waiting_messages: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _naive_utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo is not None else ts


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
            "not_before": pa.array([_naive_utc(m.not_before) for m in rows], pa.timestamp("us")),
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


# -- deliver -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Due:
    message: OutgoingMessage
    attempts: int


class _Taken(Exception):
    """The message changed status under us (another run took it)."""


def deliver(
    con: duckdb.DuckDBPyConnection,
    channels: Mapping[str, Channel],
    now: datetime,
    *,
    limit: int | None = None,
    batch_size: int = 100,
    unconfigured: Mapping[str, str] | None = None,
) -> DeliveryStats:
    """Send every due message (status queued or retrying, ``not_before`` and
    ``next_attempt_at`` at or before ``now``) on its channel; see the module docstring.

    ``unconfigured`` gives, per channel missing from ``channels``, the setting it lacks
    (recorded on its waiting messages). ``limit`` caps the messages tried in this run.
    Call it outside any transaction: it commits each step itself, which is the point.
    """
    now = _naive_utc(now)
    with _LOCK:
        stats = DeliveryStats()
        _recover(con, channels, now, stats)
        _note_waiting(con, channels, now, unconfigured or {}, stats)
        streak: dict[str, int] = {}  # consecutive "retry" answers per channel
        tried = 0
        while limit is None or tried < limit:
            names = sorted(c for c in channels if streak.get(c, 0) < DOWN_AFTER)
            size = batch_size if limit is None else min(batch_size, limit - tried)
            batch = _due(con, names, now, size)
            if not batch:
                break
            for due in batch:
                name = due.message.channel
                if streak.get(name, 0) >= DOWN_AFTER:
                    continue
                status = _deliver_one(con, channels[name], due, now, stats)
                streak[name] = streak.get(name, 0) + 1 if status == "retry" else 0
                tried += 1
        _note_down(con, [c for c, n in streak.items() if n >= DOWN_AFTER], now, stats)
        return stats


def _note_down(
    con: duckdb.DuckDBPyConnection, names: list[str], now: datetime, stats: DeliveryStats
) -> None:
    """Count the messages left waiting because their channel looked down in this run."""
    for name in names:
        left = con.execute(
            "SELECT count(*) FROM outbox WHERE channel = ? AND status IN ('queued', 'retrying') "
            "AND not_before <= ? AND next_attempt_at <= ?",
            [name, now, now],
        ).fetchall()[0][0]
        if left:
            stats.waiting[name] = (
                f"waiting: {DOWN_AFTER} tries in a row on {name} asked to retry; "
                "the rest wait for the next run"
            )
            stats.waiting_messages += int(left)


def _recover(
    con: duckdb.DuckDBPyConnection,
    channels: Mapping[str, Channel],
    now: datetime,
    stats: DeliveryStats,
) -> None:
    """Resolve messages an earlier run left in ``sending`` (it stopped mid-send)."""
    rows = con.execute("SELECT message_id, channel FROM outbox WHERE status = 'sending'").fetchall()
    with transaction(con):
        for message_id, channel in rows:
            if after_crash(channels.get(channel)) == "resend":
                con.execute(
                    "UPDATE outbox SET status = 'retrying', next_attempt_at = ?, last_error = ? "
                    "WHERE message_id = ?",
                    [now, RESEND_REASON, message_id],
                )
                stats.resent_after_crash += 1
            else:
                con.execute(
                    "UPDATE outbox SET status = 'unknown', last_error = ? WHERE message_id = ?",
                    [HOLD_REASON, message_id],
                )
                stats.held_after_crash += 1


def _note_waiting(
    con: duckdb.DuckDBPyConnection,
    channels: Mapping[str, Channel],
    now: datetime,
    unconfigured: Mapping[str, str],
    stats: DeliveryStats,
) -> None:
    """Record why due messages of channels without settings wait."""
    rows = con.execute(
        """
        SELECT channel, count(*) FROM outbox
        WHERE status IN ('queued', 'retrying') AND NOT list_contains(?, channel)
          AND not_before <= ? AND next_attempt_at <= ?
        GROUP BY channel ORDER BY channel
        """,
        [sorted(channels), now, now],
    ).fetchall()
    for channel, count in rows:
        reason = unconfigured.get(channel) or f"no {channel} channel is configured"
        reason = f"waiting: {reason}"
        con.execute(
            "UPDATE outbox SET last_error = ? WHERE channel = ? "
            "AND status IN ('queued', 'retrying') AND last_error IS DISTINCT FROM ?",
            [reason, channel, reason],
        )
        stats.waiting[channel] = reason
        stats.waiting_messages += int(count)


def _due(con: duckdb.DuckDBPyConnection, names: list[str], now: datetime, size: int) -> list[_Due]:
    rows = con.execute(
        """
        SELECT message_id, automation, version, enrolment_id, step_id, customer_id, channel,
               variant, content, not_before, cost, attempts
        FROM outbox
        WHERE status IN ('queued', 'retrying') AND list_contains(?, channel)
          AND not_before <= ? AND next_attempt_at <= ?
        ORDER BY next_attempt_at, not_before, message_id
        LIMIT ?
        """,
        [names, now, now, size],
    ).fetchall()
    return [
        _Due(
            OutgoingMessage(
                message_id=r[0],
                automation=r[1],
                version=int(r[2]),
                enrolment_id=r[3],
                step_id=r[4],
                customer_id=r[5],
                channel=r[6],
                variant=r[7],
                content=json.loads(r[8]),
                not_before=r[9],
                cost=float(r[10]),
            ),
            int(r[11]),
        )
        for r in rows
    ]


def _deliver_one(
    con: duckdb.DuckDBPyConnection,
    channel: Channel,
    due: _Due,
    now: datetime,
    stats: DeliveryStats,
) -> str | None:
    """Send one message and record the outcome (see the module docstring for the order);
    return the channel's answer (None when another run took the message)."""
    message, attempt = due.message, due.attempts + 1
    marked = False

    def point_of_no_return() -> None:
        nonlocal marked
        if marked:
            return
        try:
            changed = con.execute(
                "UPDATE outbox SET status = 'sending', attempts = ? "
                "WHERE message_id = ? AND status IN ('queued', 'retrying')",
                [attempt, message.message_id],
            ).fetchall()
        except duckdb.TransactionException as exc:
            raise _Taken from exc
        if not changed or changed[0][0] != 1:
            raise _Taken
        marked = True

    try:
        result = _send(channel, message, point_of_no_return)
    except _Taken:
        return None
    except Exception as exc:  # a channel bug must not stop the run or lose the record
        reason = f"the {channel.name} channel raised {type(exc).__name__}"
        result = SendResult("unknown", reason) if marked else SendResult("retry", reason)
    _record(con, channel, message, attempt, result, now, stats)
    return result.status


def _send(
    channel: Channel, message: OutgoingMessage, point_of_no_return: Callable[[], None]
) -> SendResult:
    staged = getattr(channel, "send_staged", None)
    if callable(staged):
        result: SendResult = staged(message, point_of_no_return)
        return result
    point_of_no_return()
    return channel.send(message)


def _record(
    con: duckdb.DuckDBPyConnection,
    channel: Channel,
    message: OutgoingMessage,
    attempt: int,
    result: SendResult,
    now: datetime,
    stats: DeliveryStats,
) -> None:
    """Store one outcome (and the ``message_sent`` event) in one transaction."""
    policy = retry_policy(channel)
    status: str = result.status
    detail, next_at = result.detail, now
    if status == "retry":
        if policy.exhausted(attempt):
            status, detail = "failed", f"gave up after {attempt} tries: {detail}"
        else:
            status, next_at = "retrying", now + policy.delay(attempt)
    with transaction(con):
        con.execute(
            """
            UPDATE outbox SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ?,
                   sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END,
                   provider_id = coalesce(?, provider_id)
            WHERE message_id = ?
            """,
            [
                status,
                attempt,
                next_at,
                detail or None,
                status,
                now,
                result.provider_id,
                message.message_id,
            ],
        )
        if status == "sent":
            _sent_event(con, message, now)
    setattr(stats, status, getattr(stats, status) + 1)


def _sent_event(con: duckdb.DuckDBPyConnection, message: OutgoingMessage, now: datetime) -> None:
    properties = {
        "message_id": message.message_id,
        "automation": message.automation,
        "channel": message.channel,
        "variant": message.variant,
    }
    con.execute(
        "INSERT INTO events (event_id, customer_id, type, ts, properties) "
        "VALUES (?, ?, 'message_sent', ?, ?)",
        [f"msg:{message.message_id}:sent", message.customer_id, now, json.dumps(properties)],
    )


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
