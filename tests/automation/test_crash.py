"""kill -9 during a send run, restart: the SMTP server got every due message exactly once.

A subprocess runs ``Workspace.deliver`` against a real aiosmtpd server in this test
process and is killed with SIGKILL mid-run; a second ``deliver`` finishes the job.
The server counts what it accepted by Message-ID.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

import clm
from clm import Workspace
from clm.automation.outbox import enqueue
from tests.automation.factory import T0, message
from tests.automation.servers import HttpSink, SmtpSink, free_port, http_server, smtp_server

N = 60
SCRIPT = """
import sys
from datetime import datetime
from clm import Workspace
with Workspace.open(sys.argv[1]) as ws:
    ws.deliver(datetime.fromisoformat(sys.argv[2]))
"""


def prepare(root: Path, port: int) -> dict[str, str]:
    """A workspace with N due emails to 127.0.0.1:port; returns Message-ID -> message id."""
    with Workspace.init(root) as ws:
        ws.config_set("channels.email.smtp_host", "127.0.0.1")
        ws.config_set("channels.email.smtp_port", str(port))
        ws.config_set("channels.email.sender", "news@shop.example")
        messages = [message(i) for i in range(N)]
        assert enqueue(ws.con, messages) == N
    return {f"<{m.message_id}@shop.example>": m.message_id for m in messages}


def start_deliver(root: Path) -> subprocess.Popen[bytes]:
    src = str(Path(clm.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(root), T0.isoformat()],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def finish(root: Path, port: int, sink: SmtpSink) -> tuple[dict[str, str], int]:
    """Restart: deliver again; return each message's status and the held count."""
    with smtp_server(sink, port), Workspace.open(root) as ws:
        stats = ws.deliver(T0)
        statuses = {r["message_id"]: r["status"] for r in ws.outbox(limit=10 * N)}
        assert ws.deliver(T0).sent == 0  # a third run has nothing left
    return statuses, stats.held_after_crash


def test_killed_while_the_server_holds_the_message_before_answering(tmp_path: Path) -> None:
    """The worst moment: the server has the message, the sender has no answer yet."""
    port = free_port()
    ids = prepare(tmp_path / "ws", port)
    victim: list[subprocess.Popen[bytes]] = []

    def kill_on_the_20th(n: int) -> None:
        if n == 20:
            victim[0].send_signal(signal.SIGKILL)
            victim[0].wait(timeout=10)

    sink = SmtpSink(on_data=kill_on_the_20th)
    with smtp_server(sink, port):
        victim.append(start_deliver(tmp_path / "ws"))
        assert victim[0].wait(timeout=60) == -signal.SIGKILL, victim[0].stderr
    assert sink.count() == 20
    statuses, held = finish(tmp_path / "ws", port, sink)

    counts = sink.by_message_id()
    assert set(counts) == set(ids)  # every due message arrived
    assert set(counts.values()) == {1}  # and none twice
    the_20th = ids[str(sink.received[19].message["Message-ID"])]
    assert held == 1
    assert statuses.pop(the_20th) == "unknown"  # not re-sent: it may have arrived (it had)
    assert set(statuses.values()) == {"sent"}


def test_killed_at_a_random_moment_of_a_send_run(tmp_path: Path) -> None:
    port = free_port()
    ids = prepare(tmp_path / "ws", port)
    seed = random.randrange(1_000_000)
    pause = random.Random(seed).uniform(0.0, 0.02)
    sink = SmtpSink()
    with smtp_server(sink, port):
        proc = start_deliver(tmp_path / "ws")
        killer = threading.Thread(target=kill_after, args=(proc, sink, N // 3, pause))
        killer.start()
        proc.wait(timeout=60)
        killer.join()
    assert proc.returncode == -signal.SIGKILL, f"the run ended before the kill (seed {seed})"
    assert N // 3 <= sink.count() < N
    statuses, held = finish(tmp_path / "ws", port, sink)

    counts = sink.by_message_id()
    assert set(counts.values()) == {1}, f"a message arrived twice (seed {seed})"
    unknown = {m for m, s in statuses.items() if s == "unknown"}
    assert held == len(unknown) <= 1  # at most the one message in flight
    assert set(statuses.values()) <= {"sent", "unknown"}
    arrived = {ids[m] for m in counts}
    assert {m for m, s in statuses.items() if s == "sent"} <= arrived
    # every message arrived, except possibly the one held as unknown (documented window)
    assert set(ids.values()) - arrived <= unknown


@pytest.mark.slow
def test_a_webhook_interrupted_mid_request_is_sent_again_with_the_same_idempotency_key(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    sink = HttpSink()
    victim: list[subprocess.Popen[bytes]] = []

    def kill_on_the_10th(n: int) -> None:
        if n == 10:
            victim[0].send_signal(signal.SIGKILL)
            victim[0].wait(timeout=10)

    sink.on_request = kill_on_the_10th
    with http_server(sink) as base:
        with Workspace.init(root) as ws:
            ws.config_set("channels.sms.url", f'"{base}/sms"')
            msgs = [message(i, "sms", {"to": f"+49{i}", "text": "t"}) for i in range(20)]
            enqueue(ws.con, msgs)
        victim.append(start_deliver(root))
        assert victim[0].wait(timeout=60) == -signal.SIGKILL
        with Workspace.open(root) as ws:
            stats = ws.deliver(T0)
            assert stats.resent_after_crash == 1
            assert {r["status"] for r in ws.outbox()} == {"sent"}
    keys = Counter(r.headers["Idempotency-Key"] for r in sink.requests)
    assert set(keys) == {m.message_id for m in msgs}
    the_10th = sink.requests[9]
    assert keys.pop(the_10th.headers["Idempotency-Key"]) == 2  # the provider drops the repeat
    assert set(keys.values()) == {1}
    repeat = [
        r
        for r in sink.requests
        if r.headers["Idempotency-Key"] == the_10th.headers["Idempotency-Key"]
    ]
    assert repeat[0].body == repeat[1].body


def kill_after(proc: subprocess.Popen[bytes], sink: SmtpSink, count: int, pause: float) -> None:
    deadline = time.monotonic() + 60
    while sink.count() < count and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(pause)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
