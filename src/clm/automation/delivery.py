"""Sending the due messages of the outbox: threads per channel, results in batches.

:func:`deliver` reads the due messages ``batch_size`` at a time and hands each to its
channel's thread pool (``channels.<name>.concurrency`` threads; an SMTP thread keeps its
own connection). A sending thread takes a token from the channel's bucket
(``channels.<name>.max_per_second``, :mod:`clm.automation.channels.pacing`), sends, and
appends the mark and the outcome to the in-flight log (:mod:`clm.automation.inflight`).
The main thread writes the outcomes to the database every ``flush_every`` messages or
``flush_ms`` milliseconds, in one transaction with their ``message_sent`` events. A
channel whose last answer asked to retry sends one message at a time until it answers
otherwise, and after ``DOWN_AFTER`` such answers in a row it is taken as down for the
rest of the run (so a server that is off costs three tries per run, not one per message).

Exactly once across crashes, per channel (see :mod:`clm.automation.outbox`): the log's
mark is written at the point of no return, before the final ``.`` of an SMTP DATA, and
its outcome when the answer comes; after a crash, the next run replays the outcomes the
database lacks, and a mark without an outcome is interrupted mid-send:

- email over SMTP (``after_crash = "hold"``): ``unknown``, never re-sent by itself;
  at most ``concurrency`` emails can be in that state after one crash;
- webhooks, SMS, push (``resend``): sent again with the same ``Idempotency-Key``;
- folders and banners (``resend``): the same file is written again / the banner is
  made live again (idempotent).

A message whose outcome was neither logged nor flushed was not sent (a crash before the
mark leaves it ``queued``), so every message is sent once, or (email only) held. Storing
outcomes and replaying a crashed run's log live in :mod:`clm.automation.outcomes`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from clm.automation import inflight
from clm.automation.channels.base import (
    Channel,
    OutgoingMessage,
    SendResult,
    after_crash,
)
from clm.automation.channels.pacing import TokenBucket
from clm.automation.inflight import InflightLog, Outcome
from clm.automation.outcomes import (
    DeliveryStats,
    Done,
    recover,
    store,
)
from clm.config import ChannelsSection

_LOCK = threading.Lock()
# After this many "retry" answers in a row, a channel is taken as down for the rest of
# the run: its other due messages are not tried (nor counted as tries) until the next run.
DOWN_AFTER = 3


def naive_utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo is not None else ts


@dataclass(frozen=True)
class _Due:
    message: OutgoingMessage
    attempts: int


def deliver_configured(
    con: duckdb.DuckDBPyConnection,
    channels: Mapping[str, Channel],
    now: datetime,
    settings: ChannelsSection,
    *,
    limit: int | None = None,
) -> DeliveryStats:
    """:func:`deliver` with the ``channels.outbox`` settings of ``clm.toml`` (batch sizes,
    fsync) and the missing settings of the channels ``channels`` lacks; what ``clm
    deliver``, ``clm run`` and the scheduler of ``clm serve`` all send with."""
    from clm.automation.channels import missing_settings

    section = settings.outbox
    return deliver(
        con,
        channels,
        now,
        limit=limit,
        batch_size=section.batch_size,
        unconfigured=missing_settings(settings),
        flush_every=section.flush_every,
        flush_ms=section.flush_ms,
        fsync=section.fsync,
    )


def deliver(
    con: duckdb.DuckDBPyConnection,
    channels: Mapping[str, Channel],
    now: datetime,
    *,
    limit: int | None = None,
    batch_size: int = 1000,
    unconfigured: Mapping[str, str] | None = None,
    flush_every: int = 500,
    flush_ms: int = 500,
    fsync: bool = False,
) -> DeliveryStats:
    """Send every due message (status queued or retrying, ``not_before`` and
    ``next_attempt_at`` at or before ``now``) on its channel; see the module docstring.

    ``unconfigured`` gives, per channel missing from ``channels``, the setting it lacks
    (recorded on its waiting messages). ``limit`` caps the messages tried in this run.
    Call it outside any transaction: it commits each batch itself.
    """
    now = naive_utc(now)
    with _LOCK:
        stats = DeliveryStats()
        path = inflight.path_for(con)
        log = InflightLog(path, fsync=fsync) if path is not None else None
        try:
            recover(con, channels, now, stats, log)
            _note_waiting(con, channels, now, unconfigured or {}, stats)
            run = _Run(con, channels, now, stats, log, flush_every, flush_ms / 1000)
            try:
                run.loop(limit, batch_size)
            finally:
                run.close()
            run.flush()
            if log is not None:
                log.clear()  # the database holds every outcome of the run
            _note_down(con, [c for c, g in run.gates.items() if g.down], now, stats)
        finally:
            if log is not None:
                log.close()
        return stats


class _Gate:
    """Who may start sending on one channel: up to ``width`` at once while it answers,
    one at a time after a "retry" answer, nobody once it is taken as down."""

    def __init__(self, width: int) -> None:
        self.width, self.running, self.streak = width, 0, 0
        self.healthy, self.down = False, False  # the first message goes alone (a probe)
        self._cond = threading.Condition()

    def enter(self) -> bool:
        with self._cond:
            while not self.down and self.running >= (self.width if self.healthy else 1):
                self._cond.wait()
            if self.down:
                return False
            self.running += 1
            return True

    def leave(self, status: str) -> None:
        with self._cond:
            self.running -= 1
            if status == "retry":
                self.streak += 1
                self.healthy = False
                self.down = self.down or self.streak >= DOWN_AFTER
            else:
                self.streak, self.healthy = 0, True
            self._cond.notify_all()


def _setting(channel: Channel, name: str, default: float) -> float:
    value = getattr(channel, name, default)
    return float(value) if isinstance(value, int | float) else default


class _Run:
    """One delivery run's threads, gates, buckets and outcomes not yet stored."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        channels: Mapping[str, Channel],
        now: datetime,
        stats: DeliveryStats,
        log: InflightLog | None,
        flush_every: int,
        flush_seconds: float,
    ) -> None:
        self.con, self.channels, self.now, self.stats, self.log = con, channels, now, stats, log
        self.flush_every, self.flush_seconds = flush_every, flush_seconds
        self.gates = {
            name: _Gate(max(1, int(_setting(c, "concurrency", 1)))) for name, c in channels.items()
        }
        self.buckets = {
            name: TokenBucket(rate)
            for name, c in channels.items()
            if (rate := _setting(c, "max_per_second", 0.0)) > 0
        }
        self.pools: dict[str, ThreadPoolExecutor] = {}
        self.pending: list[Done] = []
        self.flushed_at = time.monotonic()

    def _pool(self, name: str) -> ThreadPoolExecutor:
        if name not in self.pools:
            self.pools[name] = ThreadPoolExecutor(
                self.gates[name].width, thread_name_prefix=f"clm-send-{name}"
            )
        return self.pools[name]

    def loop(self, limit: int | None, batch_size: int) -> None:
        tried = 0
        while limit is None or tried < limit:
            names = sorted(c for c in self.channels if not self.gates[c].down)
            size = batch_size if limit is None else min(batch_size, limit - tried)
            # the outcomes answered but not stored yet are still due in the database:
            # read that many more and leave them out here (cheaper than in the query)
            answered = {d.message_id for d in self.pending}
            rows = _due(self.con, names, self.now, size + len(answered))
            batch = [d for d in rows if d.message.message_id not in answered][:size]
            if not batch:
                if not self.pending:
                    break
                self.flush()  # stored, a message retried without a wait is due again
                continue
            futures: dict[Future[Done | None], _Due] = {
                self._pool(d.message.channel).submit(self._attempt, d): d for d in batch
            }
            for future in as_completed(futures):
                done = future.result()
                if done is None:
                    continue  # its channel was taken as down before it was tried
                tried += 1
                self.pending.append(done)
                if (
                    len(self.pending) >= self.flush_every
                    or time.monotonic() - self.flushed_at >= self.flush_seconds
                ):
                    self.flush()

    def _attempt(self, due: _Due) -> Done | None:
        """In a sending thread: wait for the gate and a token, send, log the outcome."""
        message, attempt = due.message, due.attempts + 1
        channel, gate = self.channels[message.channel], self.gates[message.channel]
        if not gate.enter():
            return None
        status = "retry"
        try:
            bucket = self.buckets.get(message.channel)
            if bucket is not None:
                bucket.take()
            result = _send_logged(channel, message, attempt, self.log)
            if self.log is not None:
                outcome = Outcome(
                    result.status, result.detail, result.provider_id, self.now.isoformat()
                )
                self.log.outcome(message.message_id, attempt, outcome)
            status = result.status
        finally:
            gate.leave(status)
        return Done(
            message.message_id,
            message.customer_id,
            message.automation,
            message.channel,
            message.variant,
            attempt,
            result,
            self.now,
        )

    def flush(self) -> None:
        """Store the outcomes answered so far (one transaction)."""
        done, self.pending = self.pending, []
        store(self.con, self.channels, done, self.stats)
        self.flushed_at = time.monotonic()

    def close(self) -> None:
        for pool in self.pools.values():
            pool.shutdown(wait=True)


def _send_logged(
    channel: Channel, message: OutgoingMessage, attempt: int, log: InflightLog | None
) -> SendResult:
    """Send, writing the mark to the log at the point of no return; a channel bug
    becomes ``unknown`` after the mark (it may have sent) and ``retry`` before it."""
    marked = False

    def point_of_no_return() -> None:
        nonlocal marked
        if not marked:
            if log is not None:
                # A held channel (email) cannot be re-sent safely: its mark must survive
                # a power cut, not only a killed process.
                log.mark(message.message_id, attempt, durable=after_crash(channel) == "hold")
            marked = True

    try:
        staged = getattr(channel, "send_staged", None)
        if callable(staged):
            result: SendResult = staged(message, point_of_no_return)
            return result
        point_of_no_return()
        return channel.send(message)
    except Exception as exc:  # a channel bug must not stop the run or lose the record
        reason = f"the {channel.name} channel raised {type(exc).__name__}"
        return SendResult("unknown", reason) if marked else SendResult("retry", reason)


# -- before and after the sending ------------------------------------------------------------


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
