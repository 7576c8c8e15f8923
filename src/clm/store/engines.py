"""Engines that run population work written once as Ibis expressions.

The workspace's data always lives in its DuckDB file. :class:`DuckDBEngine` runs
expressions on that file directly; :class:`SparkEngine` ships the source tables
to Spark as Parquet and runs the same expressions there (DESIGN.md: "one
definition, two executions"). Either way, results come back as Arrow tables or
as tables in the workspace database, so everything after an engine is shared.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa

SOURCE_TABLES = ("events", "identities", "profiles")


@dataclass(frozen=True)
class Sources:
    """The workspace tables that population work reads, as Ibis tables."""

    events: ir.Table
    identities: ir.Table
    profiles: ir.Table


class Engine(Protocol):
    """What scoring needs from an engine."""

    name: str

    def sources(self) -> Sources:
        """The source tables on this engine."""
        ...

    def cache(self, expr: ir.Table) -> ir.Table:
        """Materialize ``expr`` once so that several queries can reuse it."""
        ...

    def to_store(self, expr: ir.Table, name: str) -> None:
        """Materialize ``expr`` as the temporary table ``name`` of the workspace database."""
        ...

    def upload(self, name: str, data: pa.Table) -> ir.Table:
        """A small table computed in Python (constants, the lift matrix) on this engine."""
        ...

    def close(self) -> None:
        """Release what the engine holds (temporary files, cached tables)."""
        ...


class DuckDBEngine:
    """Runs expressions in the workspace's own DuckDB connection."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._ibis = ibis.duckdb.from_connection(con)
        self._cached: list[Any] = []

    def sources(self) -> Sources:
        return Sources(*(self._ibis.table(name) for name in SOURCE_TABLES))

    def cache(self, expr: ir.Table) -> ir.Table:
        cached = expr.cache()
        self._cached.append(cached)
        return cached

    def upload(self, name: str, data: pa.Table) -> ir.Table:
        return self._ibis.create_table(name, data, temp=True, overwrite=True)

    def to_store(self, expr: ir.Table, name: str) -> None:
        # Through Ibis, so that in-memory tables (constants, lift) are registered first.
        self._ibis.create_table(name, expr, temp=True, overwrite=True)

    def close(self) -> None:
        """Drop the cached tables now, while the connection is open."""
        for cached in reversed(self._cached):
            cached.release()
        self._cached.clear()


class SparkEngine:
    """Runs expressions on Spark (local mode or a cluster master).

    The source tables are exported from DuckDB to Parquet in a temporary folder
    that Spark reads; results are collected as Arrow and written back.
    """

    name = "spark"

    def __init__(self, con: duckdb.DuckDBPyConnection, master: str = "local[*]") -> None:
        self._con = con
        self._session = spark_session(master)
        self._ibis = ibis.pyspark.connect(self._session)
        self._dir = Path(tempfile.mkdtemp(prefix="clm-spark-"))
        self._cached: list[Any] = []

    def sources(self) -> Sources:
        tables = []
        for name in SOURCE_TABLES:
            path = self._dir / f"{name}.parquet"
            self._con.execute(f"COPY {name} TO '{path}' (FORMAT parquet)")
            tables.append(self._ibis.read_parquet(str(path), table_name=f"clm_{name}"))
        return Sources(*tables)

    def cache(self, expr: ir.Table) -> ir.Table:
        cached = expr.cache()
        self._cached.append(cached)
        return cached

    def upload(self, name: str, data: pa.Table) -> ir.Table:
        # From Arrow with its schema (a pandas frame without rows has no types to infer).
        frame = self._session.createDataFrame(data)
        frame.createOrReplaceTempView(name)
        return self._ibis.table(name)

    def to_store(self, expr: ir.Table, name: str) -> None:
        result: pa.Table = expr.to_pyarrow()
        self._con.register(f"_{name}_arrow", result)
        self._con.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS SELECT * FROM "_{name}_arrow"')
        self._con.unregister(f"_{name}_arrow")

    def close(self) -> None:
        for cached in reversed(self._cached):
            cached.release()
        self._cached.clear()
        shutil.rmtree(self._dir, ignore_errors=True)


def spark_session(master: str = "local[*]") -> Any:
    """A Spark session set up for clm: UTC, quiet, few shuffle partitions in local mode."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName("clm")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.ansi.enabled", "false")
    )
    if master.startswith("local"):
        builder = builder.config("spark.sql.shuffle.partitions", "8")
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def make_engine(name: str, con: duckdb.DuckDBPyConnection, spark_master: str) -> Engine:
    """The engine called ``name`` over the workspace connection ``con``."""
    if name == "spark":
        return SparkEngine(con, spark_master)
    return DuckDBEngine(con)
