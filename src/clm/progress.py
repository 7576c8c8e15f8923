"""Progress reporting without a dependency on any user interface.

The domain reports progress through a :class:`Progress` object; the CLI passes
one that draws Rich progress bars, the Python API passes none. Long DuckDB
statements report their own progress through :func:`run_tracked`, which polls
``query_progress()`` from a second thread while the statement runs.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol

import duckdb


class Progress(Protocol):
    """Receives the phases of a long operation and how far each one is."""

    def phase(self, description: str) -> None:
        """A new phase starts (its fraction starts at 0)."""
        ...

    def advance(self, fraction: float) -> None:
        """The current phase is ``fraction`` (0..1) done."""
        ...


class NoProgress:
    """Reports nothing (the default for the Python API)."""

    def phase(self, description: str) -> None:
        return None

    def advance(self, fraction: float) -> None:
        return None


def run_tracked(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Sequence[Any] | None = None,
    progress: Progress | None = None,
    description: str = "",
) -> list[tuple[Any, ...]]:
    """Execute ``sql`` and return its rows, reporting DuckDB's progress meanwhile."""
    if progress is None or isinstance(progress, NoProgress):
        return con.execute(sql, params or []).fetchall()
    progress.phase(description)
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.2):
            value = con.query_progress()
            if value >= 0:
                progress.advance(min(value, 100.0) / 100.0)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        rows = con.execute(sql, params or []).fetchall()
    finally:
        done.set()
        watcher.join()
    progress.advance(1.0)
    return rows
