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
from contextlib import contextmanager

import duckdb

DEFERRED = "2GiB"  # the log a bulk step may write before DuckDB checkpoints anyway


@contextmanager
def deferred(con: duckdb.DuckDBPyConnection, threshold: str = DEFERRED) -> Iterator[None]:
    """Run the ``with`` body with automatic checkpoints at ``threshold`` of log (then
    at the threshold set before)."""
    row = con.execute("SELECT current_setting('checkpoint_threshold')").fetchone()
    before = str(row[0]) if row else "16MiB"
    con.execute(f"SET checkpoint_threshold = '{threshold}'")
    try:
        yield
    finally:
        con.execute(f"SET checkpoint_threshold = '{before}'")
