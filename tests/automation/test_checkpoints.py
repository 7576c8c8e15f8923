"""Deferred checkpoints: the threshold raised inside, the previous one back after, and
the commits inside durable (a reopened file has them)."""

from __future__ import annotations

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
