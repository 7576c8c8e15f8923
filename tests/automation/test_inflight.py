"""The in-flight log: marks and outcomes, read back after a crash."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from clm.automation import inflight
from clm.automation.inflight import InflightLog, Outcome


def test_the_last_attempt_wins_and_its_outcome_is_kept(tmp_path: Path) -> None:
    log = InflightLog(tmp_path / ".clm" / inflight.NAME)
    log.mark("m1", 1)
    log.outcome("m1", 1, Outcome("retry", "HTTP 503", None, "2026-03-02T09:00:00"))
    log.mark("m1", 2)  # retried without a wait, then the crash
    log.mark("m2", 1)
    log.outcome("m2", 1, Outcome("sent", "", "250 ok", "2026-03-02T09:00:00"))
    log.outcome("m3", 1, Outcome("failed", "no recipient", None, "2026-03-02T09:00:00"))
    log.close()
    entries = inflight.read(log.path)
    assert entries["m1"].attempt == 2 and entries["m1"].outcome is None
    assert entries["m2"].attempt == 1
    assert entries["m2"].outcome == Outcome("sent", "", "250 ok", "2026-03-02T09:00:00")
    outcome = entries["m3"].outcome
    assert outcome is not None and outcome.status == "failed"


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / inflight.NAME
    log = InflightLog(path)
    log.mark("m1", 1)
    log.close()
    with path.open("ab") as sink:
        sink.write(b'{"m":"m2","a"')  # killed in the middle of a write
    assert set(inflight.read(path)) == {"m1"}


def test_clear_empties_the_file_and_later_appends_land_at_the_start(tmp_path: Path) -> None:
    path = tmp_path / inflight.NAME
    log = InflightLog(path, fsync=True)
    log.mark("m1", 1)
    log.clear()
    assert os.path.getsize(path) == 0
    log.mark("m2", 1)
    log.close()
    assert path.read_bytes() == b'{"m":"m2","a":1}\n'


def test_the_log_sits_beside_a_database_file_and_not_for_memory(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "clm.duckdb")) as con:
        assert inflight.path_for(con) == tmp_path.resolve() / ".clm" / inflight.NAME
    with duckdb.connect() as con:
        assert inflight.path_for(con) is None
    assert inflight.read(tmp_path / "absent.log") == {}


def test_a_new_mark_of_the_same_attempt_drops_the_earlier_outcome(tmp_path: Path) -> None:
    """A requeued message starts its attempts again: sent as attempt 1, failed, requeued,
    marked as attempt 1 again and interrupted. The log must say "no answer" (email:
    unknown), not the first send's "failed"."""
    path = tmp_path / inflight.NAME
    log = InflightLog(path)
    log.mark("m1", 1)
    log.outcome("m1", 1, Outcome("failed", "550 no such user", None, "2026-01-01T00:00:00"))
    log.mark("m1", 1, durable=True)
    log.close()
    entry = inflight.read(path)["m1"]
    assert (entry.attempt, entry.outcome) == (1, None)


def test_a_durable_mark_is_forced_to_disk_and_a_plain_one_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Email marks must survive a power cut (``durable``): one fsync each; the lines of
    idempotent channels only when the log is opened with ``fsync``."""
    log = InflightLog(tmp_path / inflight.NAME)  # created: its folder synced once
    synced: list[int] = []
    monkeypatch.setattr(inflight.os, "fsync", synced.append)
    log.mark("m1", 1)
    log.outcome("m1", 1, Outcome("sent", "", None, "2026-01-01T00:00:00"))
    assert synced == []
    log.mark("m2", 1, durable=True)
    assert len(synced) == 1
    log.close()
