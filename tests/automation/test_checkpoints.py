"""Deferred checkpoints: the threshold raised inside, the previous one back after, and
the commits inside durable (a reopened file has them)."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from clm.automation import checkpoints


def _threshold(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute("SELECT current_setting('checkpoint_threshold')").fetchone()
    assert row is not None
    return str(row[0])


def test_the_threshold_is_raised_inside_and_restored_after(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "x.duckdb"))
    con.execute("SET checkpoint_threshold = '3MiB'")
    with checkpoints.deferred(con, "1GiB"):
        assert _threshold(con) == "1.0 GiB"
    assert _threshold(con) == "3.0 MiB"
    with pytest.raises(RuntimeError), checkpoints.deferred(con):
        raise RuntimeError("a failing body")
    assert _threshold(con) == "3.0 MiB"


def test_overlapping_uses_restore_the_value_before_the_first(tmp_path: Path) -> None:
    """Two uses that overlap without nesting (the first leaves while the second is still
    inside): before the counter, the second put back the raised value it had found."""
    con = duckdb.connect(str(tmp_path / "x.duckdb"))
    con.execute("SET checkpoint_threshold = '3MiB'")
    first, second = checkpoints.deferred(con), checkpoints.deferred(con.cursor())
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert _threshold(con) == "2.0 GiB"  # the second is still inside
    second.__exit__(None, None, None)
    assert _threshold(con) == "3.0 MiB"
    other = duckdb.connect(str(tmp_path / "y.duckdb"))  # another database is its own
    with checkpoints.deferred(con, "1GiB"):
        assert _threshold(other) == "16.0 MiB"
        with checkpoints.deferred(other, "512MiB"):
            assert _threshold(other) == "512.0 MiB"
        assert _threshold(other) == "16.0 MiB"


def test_threads_leave_the_value_before(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "x.duckdb"))
    con.execute("SET checkpoint_threshold = '3MiB'")
    start = threading.Barrier(4)

    def use(cursor: duckdb.DuckDBPyConnection) -> None:
        start.wait()
        for _ in range(50):
            with checkpoints.deferred(cursor):
                assert _threshold(cursor) == "2.0 GiB"

    threads = [threading.Thread(target=use, args=(con.cursor(),)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _threshold(con) == "3.0 MiB"


def test_commits_inside_survive_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "x.duckdb")
    con = duckdb.connect(path)
    con.execute("CREATE TABLE t (k VARCHAR PRIMARY KEY, v INTEGER)")
    with checkpoints.deferred(con):
        for i in range(3):
            con.execute("BEGIN")
            con.execute(
                "INSERT INTO t SELECT 'k' || range, range FROM range(?, ?)", [i * 10, i * 10 + 10]
            )
            con.execute("COMMIT")
    con.close()
    again = duckdb.connect(path)
    assert again.execute("SELECT count(*), sum(v) FROM t").fetchone() == (30, sum(range(30)))


def test_then_checkpoint_leaves_no_log(tmp_path: Path) -> None:
    path = tmp_path / "x.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (k VARCHAR PRIMARY KEY)")
    con.execute("SET checkpoint_threshold = '64KiB'")  # the log below is above it
    wal = tmp_path / "x.duckdb.wal"
    with checkpoints.deferred(con, then_checkpoint=True):
        con.execute("INSERT INTO t SELECT 'k' || range FROM range(50000)")
        assert wal.exists() and wal.stat().st_size > 0  # committed, in the log
    assert not wal.exists() or wal.stat().st_size == 0
    con.execute("BEGIN")
    with checkpoints.deferred(con, then_checkpoint=True):  # inside a transaction: no error
        con.execute("INSERT INTO t VALUES ('one more')")
    con.execute("ROLLBACK")


def test_only_the_last_use_checkpoints(tmp_path: Path) -> None:
    """An inner use asking for the checkpoint leaves it to the outer one still deferring."""
    path = tmp_path / "x.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (k VARCHAR PRIMARY KEY)")
    con.execute("SET checkpoint_threshold = '64KiB'")
    wal = tmp_path / "x.duckdb.wal"
    with checkpoints.deferred(con, then_checkpoint=True):
        with checkpoints.deferred(con.cursor(), then_checkpoint=True):
            con.execute("INSERT INTO t SELECT 'k' || range FROM range(50000)")
        assert wal.exists() and wal.stat().st_size > 0  # still deferred
    assert not wal.exists() or wal.stat().st_size == 0


def test_a_failed_setting_leaves_no_hold(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "x.duckdb"))
    con.execute("SET checkpoint_threshold = '3MiB'")
    with pytest.raises(duckdb.Error), checkpoints.deferred(con, "not a size"):
        pass
    with checkpoints.deferred(con, "1GiB"):  # the next use still raises the threshold
        assert _threshold(con) == "1.0 GiB"
    assert _threshold(con) == "3.0 MiB"


def test_a_small_log_is_left_to_the_automatic_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "x.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (k VARCHAR PRIMARY KEY)")
    con.execute("CHECKPOINT")
    with checkpoints.deferred(con, then_checkpoint=True):
        con.execute("INSERT INTO t VALUES ('one')")
    wal = tmp_path / "x.duckdb.wal"
    assert wal.exists() and wal.stat().st_size > 0


@pytest.mark.parametrize(
    ("text", "size"),
    [("0 bytes", 0), ("3.5 KiB", 3584), ("16.0 MiB", 16 * 2**20), ("2GiB", 2 * 2**30)],
)
def test_sizes_as_duckdb_shows_them(text: str, size: float) -> None:
    assert checkpoints._size(text) == size
