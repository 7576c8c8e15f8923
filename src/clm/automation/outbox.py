"""STAND-IN for the `channels` branch's outbox (contracts.md). DELETE AT MERGE: take the
`channels` branch's version of this file; nothing else here depends on these internals.

Only what the automation engine calls, with the contract's signatures: an idempotent
``enqueue`` and a ``deliver`` that marks due messages sent and records the contract's
``message_sent`` event. No channel is called.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

TABLE = """
CREATE TABLE IF NOT EXISTS outbox_standin (
    message_id VARCHAR PRIMARY KEY, automation VARCHAR, version INTEGER,
    enrolment_id VARCHAR, step_id VARCHAR, customer_id VARCHAR, channel VARCHAR,
    variant VARCHAR, content JSON, not_before TIMESTAMP, cost DOUBLE, status VARCHAR
)
"""


@dataclass(frozen=True)
class OutgoingMessage:
    message_id: str
    automation: str
    version: int
    enrolment_id: str
    step_id: str
    customer_id: str
    channel: str
    variant: str | None
    content: dict[str, Any]
    not_before: datetime
    cost: float = 0.0


@dataclass(frozen=True)
class DeliveryStats:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def enqueue(con: duckdb.DuckDBPyConnection, messages: Sequence[OutgoingMessage]) -> int:
    con.execute(TABLE)
    before = int(con.execute("SELECT count(*) FROM outbox_standin").fetchall()[0][0])
    con.executemany(
        "INSERT OR IGNORE INTO outbox_standin VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued')",
        [
            [
                m.message_id,
                m.automation,
                m.version,
                m.enrolment_id,
                m.step_id,
                m.customer_id,
                m.channel,
                m.variant,
                json.dumps(m.content),
                m.not_before,
                m.cost,
            ]
            for m in messages
        ],
    )
    return int(con.execute("SELECT count(*) FROM outbox_standin").fetchall()[0][0]) - before


def deliver(
    con: duckdb.DuckDBPyConnection,
    channels: Mapping[str, Any],
    now: datetime,
    *,
    limit: int | None = None,
) -> DeliveryStats:
    del channels, limit
    con.execute(TABLE)
    due = int(
        con.execute(
            "SELECT count(*) FROM outbox_standin WHERE status = 'queued' AND not_before <= ?",
            [now],
        ).fetchall()[0][0]
    )
    con.execute(
        """
        INSERT INTO events (event_id, customer_id, type, ts, properties)
        SELECT 'msg:' || message_id || ':sent', customer_id, 'message_sent', not_before,
               json_object('message_id', message_id, 'automation', automation,
                           'channel', channel, 'variant', variant)
        FROM outbox_standin WHERE status = 'queued' AND not_before <= ?
        """,
        [now],
    )
    con.execute(
        "UPDATE outbox_standin SET status = 'sent' WHERE status = 'queued' AND not_before <= ?",
        [now],
    )
    return DeliveryStats(sent=due)


def messages(
    con: duckdb.DuckDBPyConnection,
    *,
    customer_id: str | None = None,
    automation: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    con.execute(TABLE)
    cursor = con.execute(
        "SELECT * FROM outbox_standin WHERE coalesce(customer_id = ?, true) "
        "AND coalesce(automation = ?, true) AND coalesce(status = ?, true) "
        "ORDER BY not_before, message_id LIMIT ?",
        [customer_id, automation, status, limit],
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
