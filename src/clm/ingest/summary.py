"""What an import reports and records: counts, bad rows, the quarantine file."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from clm.errors import BadRow, ImportFailed
from clm.ingest.expressions import quote
from clm.ingest.staging import STAGE, Staged

PARSED = "_clm_parsed"


@dataclass(frozen=True)
class ImportSummary:
    """The outcome of one import (SPEC: rows read, imported, duplicates, quarantined)."""

    import_id: int
    kind: str
    source: str
    rows_read: int
    filtered: int
    imported: int
    duplicates: int
    quarantined: int
    linked: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def count_bad(con: duckdb.DuckDBPyConnection) -> int:
    return int(
        con.execute(f"SELECT count(*) FROM {PARSED} WHERE _reason IS NOT NULL").fetchall()[0][0]
    )


def first_bad(con: duckdb.DuckDBPyConnection, limit: int, unit: str) -> list[BadRow]:
    rows = con.execute(
        f"SELECT _line, _reason FROM {PARSED} WHERE _reason IS NOT NULL ORDER BY _line LIMIT ?",
        [limit],
    ).fetchall()
    return [
        BadRow(int(line), reason if unit == "line" else f"(row) {reason}") for line, reason in rows
    ]


def reject(con: duckdb.DuckDBPyConnection, staged: Staged, n_bad: int, limit: int) -> ImportFailed:
    """The error for an import with bad rows and no quarantine file: nothing was imported."""
    sample = first_bad(con, limit, staged.unit)
    unit = staged.unit if n_bad == 1 else f"{staged.unit}s"
    return ImportFailed(
        f"{staged.label}: {n_bad} bad {unit}, nothing imported (fix them, or pass "
        f"--quarantine FILE to import the rest); the first {len(sample)}:",
        sample,
        n_bad,
    )


def write_quarantine(con: duckdb.DuckDBPyConnection, staged: Staged, path: Path) -> None:
    """Write the bad rows, with their source columns, line and reason, to CSV or Parquet."""
    columns = ", ".join(f"s.{quote(c)}" for c in staged.columns)
    fmt = "PARQUET" if path.suffix.lower() in {".parquet", ".pq"} else "CSV, HEADER"
    target = "'" + str(path).replace("'", "''") + "'"
    con.execute(
        f"COPY (SELECT s._line AS {staged.unit}, {columns}, p._reason AS reason "
        f"FROM {STAGE} s JOIN {PARSED} p USING (_line) WHERE p._reason IS NOT NULL "
        f"ORDER BY s._line) TO {target} (FORMAT {fmt})"
    )


def next_import_id(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("SELECT coalesce(max(import_id), 0) + 1 FROM imports").fetchall()[0][0])


def record(con: duckdb.DuckDBPyConnection, summary: ImportSummary, started: datetime) -> None:
    con.execute(
        "INSERT INTO imports VALUES (?, ?, ?, ?, now()::timestamp, ?, ?, ?, ?, ?)",
        [
            summary.import_id,
            summary.kind,
            summary.source,
            started,
            summary.rows_read,
            summary.filtered,
            summary.imported,
            summary.duplicates,
            summary.quarantined,
        ],
    )
