"""A run killed mid-way (SIGKILL) and run again enqueues exactly what one clean run would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clm import Workspace
from clm.automation import outbox
from tests.automation.world import automation, events, people, quiet_settings

SERIES = """
name: series
reentry: always
trigger: {event: {type: ping}}
steps:
  - {id: one, type: send, channel: email, template: {subject: "1 {{ customer_id }}", text: x}}
  - {id: wait, type: wait, duration: 1d}
  - {id: two, type: send, channel: email, template: {subject: "2", text: x}}
"""
RUN = "from clm.cli import main; main()"


def clm_run(root: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-c", RUN, "run", "-w", str(root), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow  # three clm processes and a dry run: about 25 s
def test_kill_and_rerun_gives_the_clean_runs_messages(tmp_path: Path) -> None:
    ids = [f"p{i:04d}" for i in range(400)]
    with Workspace.init(tmp_path / "ws") as ws:
        people(ws, [(c, f"{c}@example.com", None, "UTC", True, None) for c in ids])
        quiet_settings(ws)
        ws.config_set("automation.frequency_caps", "{}")
        ws.config_set("automation.slice_hours", "6")
        automation(ws, "series", SERIES)
        pings = [
            (c, "ping", f"2024-03-{1 + i % 8:02d}T{1 + i % 23:02d}:00:00")
            for i, c in enumerate(ids)
        ]
        events(ws, pings)
        expected = ws.run("2024-03-12", since="2024-03-01", dry_run=True)
        root = ws.root
    want = sorted(m["message_id"] for m in expected.messages)
    assert len(want) == 800
    proc = clm_run(root, "--since", "2024-03-01", "--until", "2024-03-12")
    wal = root / "clm.duckdb.wal"
    deadline = time.monotonic() + 60
    while not (wal.exists() and wal.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.05)  # the first slices are committed once the log grows
    time.sleep(0.5)
    assert proc.poll() is None, "the run ended before the kill: raise the data size"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Workspace.open(root) as ws:
        done = ws.con.execute("SELECT count(*) FROM enrolments").fetchall()[0][0]
        clock = ws.con.execute("SELECT count(*) FROM automation_clock").fetchall()[0][0]
    assert done > 0 and clock == 0  # killed in the middle of its work
    assert clm_run(root, "--since", "2024-03-01", "--until", "2024-03-12").wait() == 0
    assert clm_run(root, "--until", "2024-03-12").wait() == 0  # and once more: nothing new
    with Workspace.open(root) as ws:
        got = sorted((m["message_id"],) for m in outbox.messages(ws.con, limit=10_000))
        sent = ws.con.execute(
            "SELECT message_id, count(*) FROM decisions WHERE kind = 'sent' GROUP BY 1 "
            "HAVING count(*) > 1"
        ).fetchall()
        events_sent = ws.con.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM events WHERE type = 'message_sent'"
        ).fetchall()[0]
    assert [g[0] for g in got] == want and sent == []
    assert events_sent == (800, 800)
