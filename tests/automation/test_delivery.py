"""Delivery with threads per channel, a rate cap and outcomes stored in batches
(real servers on 127.0.0.1; the crash cases with kill -9 are in test_crash.py)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from clm import Workspace
from clm.automation import inflight
from clm.automation.channels import MemoryChannel, RetryPolicy, SendResult
from clm.automation.inflight import InflightLog, Outcome
from clm.automation.outbox import deliver, enqueue
from tests.automation.factory import T0, message
from tests.automation.servers import HttpSink, SmtpSink, http_server, smtp_server


class Overlap:
    """Counts the requests a server holds at once (each held ``seconds``)."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.active, self.peak = seconds, 0, 0
        self.arrivals: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, n: int) -> None:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.arrivals.append(time.monotonic())
        time.sleep(self.seconds)
        with self.lock:
            self.active -= 1


def hooks(ws: Workspace, base: str, **settings: str) -> None:
    ws.config_set("channels.webhook.url", f'"{base}/hook"')
    for key, value in settings.items():
        ws.config_set(f"channels.webhook.{key}", value)
    enqueue(ws.con, [message(i, "webhook", {"body": {"n": i}}) for i in range(24)])


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_channel_sends_on_as_many_threads_as_its_concurrency(
    ws: Workspace, concurrency: int
) -> None:
    overlap = Overlap(0.03)
    sink = HttpSink(on_request=overlap)
    with http_server(sink) as base:
        hooks(ws, base, concurrency=str(concurrency))
        stats = ws.deliver(T0)
    assert stats.sent == 24
    assert overlap.peak == concurrency
    keys = Counter(r.headers["Idempotency-Key"] for r in sink.requests)
    assert len(keys) == 24 and set(keys.values()) == {1}
    assert {r["status"] for r in ws.outbox(limit=100)} == {"sent"}


def test_max_per_second_paces_the_sends_across_threads(ws: Workspace) -> None:
    overlap = Overlap(0.0)
    with http_server(HttpSink(on_request=overlap)) as base:
        hooks(ws, base, concurrency="4", max_per_second="40")
        assert ws.deliver(T0).sent == 24
    arrivals = sorted(overlap.arrivals)
    assert arrivals[-1] - arrivals[0] >= 23 / 40 * 0.9  # no saved burst at the start
    for i in range(len(arrivals)):  # any 0.25 s window: at most 1 + 40 * 0.25 (+ jitter)
        assert sum(1 for t in arrivals[i:] if t - arrivals[i] < 0.25) <= 12


def test_a_500_is_retried_and_a_4xx_fails_with_threads(ws: Workspace) -> None:
    sink = HttpSink(statuses=[500, 404, 500])
    with http_server(sink) as base:
        hooks(ws, base, concurrency="4", backoff_seconds="0", retries="3")
        stats = ws.deliver(T0)
    assert (stats.sent, stats.failed) == (23, 1)
    failed = ws.outbox(status="failed")
    assert [r["last_error"] for r in failed] == ["HTTP 404 Not Found"]
    retried = [r for r in ws.outbox(status="sent", limit=100) if r["attempts"] == 2]
    assert len(retried) == 2  # the two 500s: sent again in the same run (no backoff)


def test_smtp_on_four_connections_delivers_every_message_once(ws: Workspace) -> None:
    sink = SmtpSink()
    msgs = [message(i) for i in range(60)]
    enqueue(ws.con, msgs)
    with smtp_server(sink) as port:
        ws.config_set("channels.email.smtp_host", "127.0.0.1")
        ws.config_set("channels.email.smtp_port", str(port))
        ws.config_set("channels.email.sender", "news@shop.example")
        ws.config_set("channels.email.concurrency", "4")
        ws.config_set("channels.outbox.flush_every", "7")
        stats = ws.deliver(T0)
    assert stats.sent == 60
    assert sink.by_message_id() == Counter({f"<{m.message_id}@shop.example>": 1 for m in msgs})
    events = ws.con.execute(
        "SELECT count(DISTINCT event_id) FROM events WHERE type = 'message_sent'"
    ).fetchall()[0][0]
    assert events == 60
    log = inflight.path_for(ws.con)
    assert log is not None and log.stat().st_size == 0  # emptied once all is stored


def test_a_crashed_runs_log_is_replayed_and_its_interrupted_sends_resolved(
    ws: Workspace,
) -> None:
    """What a kill -9 leaves: answers in the log the database never got, and marks
    without an answer (the kill came between the point of no return and the reply)."""
    answered, interrupted, hook, retried = (
        message(1),
        message(2),
        message(3, "webhook", {"body": {}}),
        message(4),
    )
    enqueue(ws.con, [answered, interrupted, hook, retried])
    path = inflight.path_for(ws.con)
    assert path is not None
    log = InflightLog(path)
    at = T0.isoformat()
    log.mark(answered.message_id, 1)
    log.outcome(answered.message_id, 1, Outcome("sent", "", "250 ok", at))
    log.mark(interrupted.message_id, 1)
    log.mark(hook.message_id, 1)
    log.outcome(retried.message_id, 1, Outcome("retry", "451 later", None, at))
    log.close()

    email = MemoryChannel("email", after_crash="hold", retry=RetryPolicy(3, 60))
    webhook = MemoryChannel("webhook")
    stats = deliver(ws.con, {"email": email, "webhook": webhook}, T0)
    assert (stats.replayed_after_crash, stats.held_after_crash, stats.resent_after_crash) == (
        2,
        1,
        1,
    )
    assert email.sent == []  # nothing of the crashed run is sent again by email
    assert [m.message_id for m in webhook.sent] == [hook.message_id]  # same key
    rows = {r["message_id"]: r for r in ws.outbox()}
    assert rows[answered.message_id]["status"] == "sent"
    assert rows[answered.message_id]["provider_id"] == "250 ok"
    assert rows[interrupted.message_id]["status"] == "unknown"
    assert (rows[hook.message_id]["status"], rows[hook.message_id]["attempts"]) == ("sent", 2)
    assert rows[retried.message_id]["status"] == "retrying"
    assert rows[retried.message_id]["next_attempt_at"] == (T0 + timedelta(seconds=60)).isoformat()
    sent_events = ws.con.execute(
        "SELECT event_id FROM events WHERE type = 'message_sent' ORDER BY 1"
    ).fetchall()
    assert sorted(e[0] for e in sent_events) == sorted(
        f"msg:{m.message_id}:sent" for m in (answered, hook)
    )
    assert path.stat().st_size == 0
    # a second run: nothing is replayed or sent twice
    again = deliver(ws.con, {"email": email, "webhook": webhook}, T0)
    assert (again.replayed_after_crash, again.sent, len(webhook.sent)) == (0, 0, 1)


def test_a_retry_answer_makes_a_channel_send_one_at_a_time(tmp_path: Path) -> None:
    """After a retry answer the next message goes alone, so a dead provider gets
    DOWN_AFTER tries per run however many threads the channel has."""
    with Workspace.init(tmp_path / "ws") as ws:
        enqueue(ws.con, [message(i) for i in range(12)])
        outcomes = [SendResult("retry", "down")] * 12
        down = MemoryChannel("email", outcomes=outcomes, concurrency=4)
        stats = deliver(ws.con, {"email": down}, T0)
        assert (stats.retrying, stats.waiting_messages) == (3, 9)
