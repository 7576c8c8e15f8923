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
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import duckdb

DEFERRED = "2GiB"  # the log a bulk step may write before DuckDB checkpoints anyway


@contextmanager
def deferred(
    con: duckdb.DuckDBPyConnection, threshold: str = DEFERRED, *, then_checkpoint: bool = False
) -> Iterator[None]:
    """Run the ``with`` body with automatic checkpoints at ``threshold`` of log (then
    at the threshold set before). With ``then_checkpoint`` a log above the threshold
    set before is checkpointed at the end (when no transaction is open: a dry run's is,
    and another cursor's may be), so the caller pays for it and leaves the file
    checkpointed: at 1,000,000 profiles the steady tick right after a heavy one was
    slower in every phase (3.4-3.8 s before, 5.0-9.3 s) without it, and as fast as
    before with it. A small log is left to the automatic checkpoint: a checkpoint
    rewrites the indexes of the changed tables (~2 s at 1,000,000 profiles)."""
    row = con.execute("SELECT current_setting('checkpoint_threshold')").fetchone()
    before = str(row[0]) if row else "16MiB"
    con.execute(f"SET checkpoint_threshold = '{threshold}'")
    try:
        yield
    finally:
        con.execute(f"SET checkpoint_threshold = '{before}'")
    if then_checkpoint and _log_bytes(con) > _size(before):
        with suppress(duckdb.Error):  # a transaction is open (a dry run, another cursor)
            con.execute("CHECKPOINT")


def _log_bytes(con: duckdb.DuckDBPyConnection) -> float:
    """The write-ahead log's size now (``pragma_database_size``)."""
    row = con.execute("SELECT wal_size FROM pragma_database_size()").fetchone()
    return _size(str(row[0])) if row else 0.0


_UNITS = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def _size(text: str) -> float:
    """Bytes of a size as DuckDB shows it (``'16.0 MiB'``, ``'0 bytes'``, ``'2GiB'``)."""
    for unit, factor in _UNITS.items():
        if text.endswith(unit):
            return float(text[: -len(unit)].strip()) * factor
    return float(text)
