"""Bulk writes through Arrow: DuckDB inserts a registered table in one statement, where
``executemany`` pays a round trip (and an index probe) per row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa

Columns = Sequence[tuple[str, pa.DataType]]


def frame(columns: Columns, rows: Sequence[Sequence[Any]]) -> pa.Table:
    return pa.table(
        {name: pa.array([r[i] for r in rows], type=t) for i, (name, t) in enumerate(columns)}
    )


def insert(
    con: duckdb.DuckDBPyConnection, table: str, columns: Columns, rows: Sequence[Sequence[Any]]
) -> None:
    """``INSERT OR IGNORE`` every row: a row whose key exists is left as it is."""
    if not rows:
        return
    _insert(con, table, columns, frame(columns, rows))


def insert_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Columns,
    values: Mapping[str, Sequence[Any]],
) -> None:
    """:func:`insert` from a list of values per column (named as in ``columns``)."""
    if values and len(next(iter(values.values()))):
        data = {name: pa.array(values[name], type=t) for name, t in columns}
        _insert(con, table, columns, pa.table(data))


def _insert(con: duckdb.DuckDBPyConnection, table: str, columns: Columns, rows: pa.Table) -> None:
    names = ", ".join(n for n, _ in columns)
    con.register("_bulk_rows", rows)
    try:
        con.execute(f"INSERT OR IGNORE INTO {table} ({names}) SELECT {names} FROM _bulk_rows")
    finally:
        con.unregister("_bulk_rows")


def update(
    con: duckdb.DuckDBPyConnection,
    table: str,
    key: str,
    columns: Columns,
    rows: Sequence[Sequence[Any]],
) -> None:
    """Set the columns of the rows whose ``key`` (the first column) matches."""
    if not rows:
        return
    sets = ", ".join(f"{n} = _bulk_rows.{n}" for n, _ in columns if n != key)
    con.register("_bulk_rows", frame(columns, rows))
    try:
        con.execute(
            f"UPDATE {table} SET {sets} FROM _bulk_rows WHERE {table}.{key} = _bulk_rows.{key}"
        )
    finally:
        con.unregister("_bulk_rows")
