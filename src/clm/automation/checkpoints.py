"""DuckDB's automatic checkpoints deferred while a bulk step commits batch after batch.

DuckDB checkpoints a database file when a commit finds its write-ahead log above
``checkpoint_threshold`` (16 MiB by default; DuckDB documentation, "Configuration":
``checkpoint_threshold``/``wal_autocheckpoint``). A checkpoint writes the changed row
groups and every index of the changed tables, so advancing a day's steps, which commits
one batch of decisions, messages and enrolment changes after another (a few MiB of log
each), paid a checkpoint every few batches, each rewriting the indexes of the
decisions, outbox and enrolments tables: at 100,000 profiles the commits of one heavy
tick's advance took 1.34 s with the default and 0.32 s with the checkpoints deferred
(load 2.0-2.5). :func:`deferred` raises the threshold for the ``with`` body and puts the
previous value back; the next commit above it checkpoints once. Durability does not
change: every commit is in the log, and a crash replays it when the file is opened.

The threshold is a setting of the database, not of a connection, so uses of one
database overlap when they nest or run in two threads (a scheduler's tick beside another
run): the first to enter keeps the value before, and the last to leave puts it back,
whatever order they leave in (a counter per database file under a lock).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from threading import Lock

import duckdb

DEFERRED = "2GiB"  # the log a bulk step may write before DuckDB checkpoints anyway


@dataclass
class _Hold:
    """The uses of one database's deferral open now and the threshold set before them."""

    depth: int
    before: str


_LOCK = Lock()
_HOLDS: dict[str, _Hold] = {}


@contextmanager
def deferred(
    con: duckdb.DuckDBPyConnection, threshold: str = DEFERRED, *, then_checkpoint: bool = False
) -> Iterator[None]:
    """Run the ``with`` body with automatic checkpoints at ``threshold`` of log (then
    at the threshold set before). With ``then_checkpoint`` a log above the threshold
    set before is checkpointed at the end of the database's last use (when no
    transaction is open: a dry run's is, and another cursor's may be), so the caller
    pays for it and leaves the file
    checkpointed: at 1,000,000 profiles the steady tick right after a heavy one was
    slower in every phase (3.4-3.8 s before, 5.0-9.3 s) without it, and as fast as
    before with it. A small log is left to the automatic checkpoint: a checkpoint
    rewrites the indexes of the changed tables (~2 s at 1,000,000 profiles)."""
    key = _database(con)
    before = _enter(con, key, threshold)
    try:
        yield
    finally:
        last = _leave(con, key)
    if then_checkpoint and last and _log_bytes(con) > _size(before):
        with suppress(duckdb.Error):  # a transaction is open (a dry run, another cursor)
            con.execute("CHECKPOINT")


def _enter(con: duckdb.DuckDBPyConnection, key: str, threshold: str) -> str:
    """Count one more use of the database ``key``; the first sets ``threshold`` (and is
    counted only once it is set) and keeps the value before. Returns that value."""
    with _LOCK:
        hold = _HOLDS.get(key)
        if hold is None:
            rows = con.execute("SELECT current_setting('checkpoint_threshold')").fetchall()
            before = str(rows[0][0]) if rows else "16MiB"
            con.execute(f"SET checkpoint_threshold = '{threshold}'")
            hold = _HOLDS[key] = _Hold(0, before)
        hold.depth += 1
        return hold.before


def _leave(con: duckdb.DuckDBPyConnection, key: str) -> bool:
    """Count one use of the database ``key`` less; the last puts the value before back.
    Returns whether this was the last."""
    with _LOCK:
        hold = _HOLDS[key]
        hold.depth -= 1
        if hold.depth:
            return False
        del _HOLDS[key]
        con.execute(f"SET checkpoint_threshold = '{hold.before}'")
        return True


def _database(con: duckdb.DuckDBPyConnection) -> str:
    """The key of the database ``con`` works on: its file, or the connection for an
    in-memory database (each is its own database)."""
    rows = con.execute(  # fetchall: a half-read result would block the next statement
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    return str(rows[0][0]) if rows and rows[0][0] else f"memory:{id(con)}"


def _log_bytes(con: duckdb.DuckDBPyConnection) -> float:
    """The write-ahead log's size now (``pragma_database_size``)."""
    rows = con.execute("SELECT wal_size FROM pragma_database_size()").fetchall()
    return _size(str(rows[0][0])) if rows else 0.0


_UNITS = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def _size(text: str) -> float:
    """Bytes of a size as DuckDB shows it (``'16.0 MiB'``, ``'0 bytes'``, ``'2GiB'``)."""
    for unit, factor in _UNITS.items():
        if text.endswith(unit):
            return float(text[: -len(unit)].strip()) * factor
    return float(text)
