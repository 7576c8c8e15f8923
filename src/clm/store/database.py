"""Opening the workspace's DuckDB file and keeping its schema current."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from clm.errors import WorkspaceError
from clm.store.schema import MIGRATIONS

DB_FILE = "clm.duckdb"
#: Held while making a cursor: a connection is not safe to use from two threads at once.
CURSORS = threading.Lock()
DISABLED_OPTIMIZERS = "projection_pullup"
#: The errors of the database's operation (PEP 249's ``OperationalError``: I/O, memory, a
#: conflict, a lost connection), not of the query: worth trying again later (a 503).
TRANSIENT = duckdb.OperationalError


def connect(
    path: Path, *, memory_limit: str = "", threads: int = 0, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open the workspace database, naming the holder when another process has it."""
    config: dict[str, str | bool | int | float | list[str]] = {}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if threads:
        config["threads"] = threads
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WorkspaceError(
                f"the workspace database {path} is in use by another process (another "
                "clm command or a Python session with the workspace open); wait for it to "
                "finish or close it, then try again"
            ) from exc
        raise WorkspaceError(f"cannot open {path}: {exc}") from exc
    # TimeZone needs ICU, which loads on first use: set it after connecting.
    con.execute(
        "SET TimeZone = 'UTC'; SET enable_progress_bar = true; "
        "SET enable_progress_bar_print = false"
    )
    # DuckDB 2.0.0's projection pull-up drops rows of a UNION ALL branch that reads a
    # materialized CTE twice (seen on the RFM inputs: a customer's orders vanished);
    # tests/store/test_duckdb_workarounds.py pins the case.
    con.execute(f"SET disabled_optimizers = '{DISABLED_OPTIMIZERS}'")
    return con


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A new cursor of ``con`` for another thread (made under :data:`CURSORS`); close it
    after use."""
    with CURSORS:
        return con.cursor()


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply pending migrations; return the schema version."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER, applied_at TIMESTAMP)"
    )
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()
    current = int(row[0][0])
    for version, ddl in MIGRATIONS:
        if version <= current:
            continue
        with transaction(con):
            con.execute(ddl)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, current_timestamp::timestamp)",
                [version],
            )
        current = version
    return current


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """All or nothing: commit on success, roll back on any exception."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def records(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> list[dict[str, Any]]:
    """The rows of a query as dicts, dates and times as ISO text (JSON-friendly)."""
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [{k: plain(v) for k, v in zip(names, row, strict=True)} for row in cursor.fetchall()]


def plain(value: Any) -> Any:
    """A JSON-friendly value: dates and times as ISO text, anything else as it is."""
    return value.isoformat() if hasattr(value, "isoformat") else value


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> object:
    """The single value of a one-row, one-column query."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None
