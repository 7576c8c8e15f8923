"""Outcomes of sends: counting them, storing them in batches, and replaying what an
interrupted run left in the in-flight log (:mod:`clm.automation.inflight`).

:func:`store` writes a batch of outcomes and the ``message_sent`` events of the sent
ones in one transaction, with the channel's retry policy applied (:func:`final`).
:func:`recover` runs before a delivery run sends anything: it stores the outcomes the
log holds but the database lacks, and resolves a mark without an outcome (or a
``sending`` row of older versions) by the channel's crash rule: ``hold`` (email)
becomes ``unknown``, ``resend`` goes back to ``retrying`` with the same key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from clm.automation import inflight
from clm.automation.channels.base import (
    Channel,
    RetryPolicy,
    SendResult,
    after_crash,
    retry_policy,
)
from clm.automation.inflight import InflightLog
from clm.store.database import transaction

HOLD_REASON = (
    "interrupted after the message was handed to the server: it may have arrived, so it "
    "is not re-sent by itself (requeue it to send it again)"
)
RESEND_REASON = "interrupted mid-send: sent again with the same idempotency key"


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
    replayed_after_crash: int = 0  # outcomes an interrupted run logged but did not store

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Done:
    """An outcome to store."""

    message_id: str
    customer_id: str
    automation: str
    channel: str
    variant: str | None
    attempt: int
    result: SendResult
    at: datetime


def final(channel: Channel | None, done: Done) -> tuple[str, str, datetime]:
    """The stored status, error and next try of an outcome (retry policy applied)."""
    policy = retry_policy(channel) if channel is not None else RetryPolicy()
    status: str = done.result.status
    detail, next_at = done.result.detail, done.at
    if status == "retry":
        if policy.exhausted(done.attempt):
            status, detail = "failed", f"gave up after {done.attempt} tries: {detail}"
        else:
            status, next_at = "retrying", done.at + policy.delay(done.attempt)
    return status, detail, next_at


def store(
    con: duckdb.DuckDBPyConnection,
    channels: Mapping[str, Channel],
    done: list[Done],
    stats: DeliveryStats,
) -> None:
    """Store outcomes and the ``message_sent`` events of the sent ones, in one transaction."""
    if not done:
        return
    finals = [final(channels.get(d.channel), d) for d in done]
    table = pa.table(
        {
            "message_id": [d.message_id for d in done],
            "status": [f[0] for f in finals],
            "attempts": pa.array([d.attempt for d in done], pa.int32()),
            "next_attempt_at": pa.array([f[2] for f in finals], pa.timestamp("us")),
            "last_error": [f[1] or None for f in finals],
            "done_at": pa.array([d.at for d in done], pa.timestamp("us")),
            "provider_id": pa.array([d.result.provider_id for d in done], pa.string()),
            "customer_id": [d.customer_id for d in done],
            "properties": [
                json.dumps(
                    {
                        "message_id": d.message_id,
                        "automation": d.automation,
                        "channel": d.channel,
                        "variant": d.variant,
                    }
                )
                for d in done
            ],
        }
    )
    con.register("_clm_outbox_done", table)
    try:
        with transaction(con):
            con.execute(
                """
                UPDATE outbox SET status = d.status, attempts = d.attempts,
                       next_attempt_at = d.next_attempt_at, last_error = d.last_error,
                       sent_at = CASE WHEN d.status = 'sent' THEN d.done_at ELSE outbox.sent_at END,
                       provider_id = coalesce(d.provider_id, outbox.provider_id)
                FROM _clm_outbox_done d WHERE outbox.message_id = d.message_id
                """
            )
            con.execute(
                """
                INSERT INTO events (event_id, customer_id, type, ts, properties)
                SELECT 'msg:' || message_id || ':sent', customer_id, 'message_sent', done_at,
                       properties::JSON
                FROM _clm_outbox_done WHERE status = 'sent'
                """
            )
    finally:
        con.unregister("_clm_outbox_done")
    for status, _, _ in finals:
        setattr(stats, status, getattr(stats, status) + 1)


def recover(
    con: duckdb.DuckDBPyConnection,
    channels: Mapping[str, Channel],
    now: datetime,
    stats: DeliveryStats,
    log: InflightLog | None,
) -> None:
    """Resolve what an earlier run left unstored (it stopped mid-send): replay the
    outcomes its log holds; resolve marks without one (and ``sending`` rows) per channel."""
    entries = inflight.read(log.path) if log is not None else {}
    rows = con.execute(
        """
        SELECT message_id, customer_id, automation, channel, variant, attempts, status
        FROM outbox
        WHERE status = 'sending'
           OR (status IN ('queued', 'retrying') AND list_contains(?, message_id))
        """,
        [sorted(entries)],
    ).fetchall()
    replay: list[Done] = []
    interrupted: list[tuple[str, str, int]] = []  # message id, channel, attempt
    for message_id, customer_id, automation, channel, variant, attempts, status in rows:
        entry = entries.get(message_id)
        if status == "sending":
            interrupted.append((message_id, channel, int(attempts)))
        elif entry is not None and entry.attempt > attempts:
            if entry.outcome is None:
                interrupted.append((message_id, channel, entry.attempt))
            else:
                o = entry.outcome
                result = SendResult(o.status, o.detail, o.provider_id)  # type: ignore[arg-type]
                at = datetime.fromisoformat(o.at)
                replay.append(
                    Done(
                        message_id,
                        customer_id,
                        automation,
                        channel,
                        variant,
                        entry.attempt,
                        result,
                        at,
                    )
                )
    replayed = DeliveryStats()
    store(con, channels, replay, replayed)
    stats.replayed_after_crash += len(replay)
    with transaction(con):
        for message_id, channel, attempt in interrupted:
            if after_crash(channels.get(channel)) == "resend":
                con.execute(
                    "UPDATE outbox SET status = 'retrying', attempts = ?, next_attempt_at = ?, "
                    "last_error = ? WHERE message_id = ?",
                    [attempt, now, RESEND_REASON, message_id],
                )
                stats.resent_after_crash += 1
            else:
                con.execute(
                    "UPDATE outbox SET status = 'unknown', attempts = ?, last_error = ? "
                    "WHERE message_id = ?",
                    [attempt, HOLD_REASON, message_id],
                )
                stats.held_after_crash += 1
    if log is not None:
        log.clear()
