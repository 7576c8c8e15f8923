"""Staging a source (CSV, gzip CSV, Parquet, or a DataFrame) as a temporary table.

Staging keeps every source column as it is (CSV columns as text, so that no
value is lost to type guessing) and adds ``_line``: the line number in a CSV
file (counting the header line) or the row number of Parquet and DataFrames.
Validation then works on the staged table and can name the line of every bad
row.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from clm.errors import ImportFailed

STAGE = "_clm_stage"
WHITESPACE = "whitespace"  # the delimiter of aligned text files: any run of spaces or tabs


@dataclass(frozen=True)
class CsvOptions:
    """How to read a delimited text file."""

    delimiter: str | None = None
    header: bool = True
    columns: tuple[str, ...] = ()
    encoding: str | None = None  # None: UTF-8, falling back to Latin-1 for legacy exports


@dataclass(frozen=True)
class Staged:
    """A staged source: its name for messages, columns with their types, row count."""

    label: str
    columns: dict[str, str]
    n_rows: int
    unit: str  # "line" for text files, "row" otherwise

    def require(self, column: str, option: str) -> None:
        """Fail with the available columns when ``column`` is not in the source."""
        if column not in self.columns:
            available = ", ".join(self.columns)
            raise ImportFailed(
                f"{self.label}: no column {column!r} (given by {option}); columns are: {available}"
            )


def stage(con: duckdb.DuckDBPyConnection, source: Any, csv: CsvOptions) -> Staged:
    """Load ``source`` into the temporary table ``_clm_stage`` with a ``_line`` column."""
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.exists():
            raise ImportFailed(f"{path}: no such file")
        label = str(path)
        reader, unit, offset = _file_reader(path, csv)
    else:
        path = None
        label = f"<{type(source).__module__.split('.')[0]}.{type(source).__name__}>"
        con.register("_clm_source", _as_registrable(source))
        reader, unit, offset = "_clm_source", "row", 1
    try:
        _load(con, reader, path, csv)
    except duckdb.Error as exc:
        raise ImportFailed(f"{label}: cannot read ({_first_line(exc)})") from exc
    finally:
        if reader == "_clm_source":
            con.unregister("_clm_source")
    # rowid follows the source order (DuckDB preserves insertion order).
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {STAGE} AS "
        f"SELECT rowid + {offset} AS _line, * FROM {STAGE}_raw"
    )
    described = con.execute(f"DESCRIBE {STAGE}").fetchall()
    columns = {str(r[0]): str(r[1]) for r in described if r[0] != "_line"}
    n_rows = int(con.execute(f"SELECT count(*) FROM {STAGE}").fetchall()[0][0])
    return Staged(label, columns, n_rows, unit)


def _load(con: duckdb.DuckDBPyConnection, reader: str, path: Path | None, csv: CsvOptions) -> None:
    """Copy the source into the raw stage table; a text file that is not UTF-8 and has
    no declared encoding is read as Latin-1 (as many legacy exports are)."""
    if path is not None and csv.delimiter == WHITESPACE:
        _load_whitespace(con, path, csv)
        return
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {STAGE}_raw AS SELECT * FROM {reader}")
    except duckdb.InvalidInputException as exc:
        if path is None or csv.encoding is not None or "unicode" not in str(exc).lower():
            raise
        latin, _, _ = _file_reader(
            path, CsvOptions(csv.delimiter, csv.header, csv.columns, "latin-1")
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE {STAGE}_raw AS SELECT * FROM {latin}")


def _load_whitespace(con: duckdb.DuckDBPyConnection, path: Path, csv: CsvOptions) -> None:
    """An aligned text file (fields separated by runs of blanks, leading blanks and CR
    line ends ignored, e.g. the CDNOW files): every line is split by DuckDB, and a
    line with another number of fields than the header fails the import by number."""
    quoted = "'" + str(path).replace("'", "''") + "'"
    options = ["delim = '\x1f'", "quote = ''", "escape = ''", "header = false"]
    options += ["columns = {'_text': 'VARCHAR'}", f"skip = {int(csv.header)}"]
    if csv.encoding:
        options.append(f"encoding = '{csv.encoding.replace(chr(39), '')}'")
    fields = r"regexp_split_to_array(regexp_replace(_text, '^\s+|\s+$', '', 'g'), '\s+')"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {STAGE}_split AS "
        f"SELECT {fields} AS f FROM read_csv({quoted}, {', '.join(options)})"
    )
    try:
        names = list(csv.columns) or _whitespace_header(con, path, csv)
        bad = con.execute(
            f"SELECT rowid, len(f) FROM {STAGE}_split WHERE len(f) <> ? ORDER BY rowid LIMIT 1",
            [len(names)],
        ).fetchall()
        if bad:
            line = int(bad[0][0]) + 1 + int(csv.header)
            raise ImportFailed(
                f"{path}: line {line} has {bad[0][1]} fields, expected {len(names)} "
                f"({', '.join(names)})"
            )
        picks = ", ".join(
            f'f[{i}] AS "{name.replace(chr(34), chr(34) * 2)}"' for i, name in enumerate(names, 1)
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {STAGE}_raw AS SELECT {picks} FROM {STAGE}_split"
        )
    finally:
        con.execute(f"DROP TABLE IF EXISTS {STAGE}_split")


def _whitespace_header(con: duckdb.DuckDBPyConnection, path: Path, csv: CsvOptions) -> list[str]:
    """Column names: the header line's fields, else ``column0``, ``column1``, … (as DuckDB
    names the columns of a CSV file without a header)."""
    if csv.header:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt", encoding=csv.encoding or "utf-8", errors="replace") as handle:
            return handle.readline().split()
    width = con.execute(f"SELECT max(len(f)) FROM {STAGE}_split").fetchall()[0][0] or 0
    return [f"column{i}" for i in range(int(width))]


def drop(con: duckdb.DuckDBPyConnection) -> None:
    """Remove the staged table."""
    con.execute(f"DROP VIEW IF EXISTS {STAGE}")
    con.execute(f"DROP TABLE IF EXISTS {STAGE}_raw")


def _file_reader(path: Path, csv: CsvOptions) -> tuple[str, str, int]:
    name = path.name.lower()
    quoted = "'" + str(path).replace("'", "''") + "'"
    if name.endswith((".parquet", ".pq")):
        return f"read_parquet({quoted})", "row", 1
    options = ["all_varchar = true", f"header = {str(csv.header).lower()}"]
    if csv.encoding:
        options.append(f"encoding = '{csv.encoding.replace(chr(39), '')}'")
    if csv.delimiter:
        delimiter = csv.delimiter.replace("\\t", "\t").replace("'", "''")
        options.append(f"delim = '{delimiter}'")
    if csv.columns:
        names = ", ".join("'" + c.replace("'", "''") + "'" for c in csv.columns)
        options.append(f"names = [{names}]")
    return f"read_csv({quoted}, {', '.join(options)})", "line", 2 if csv.header else 1


def _as_registrable(source: Any) -> Any:
    """pandas, polars and Arrow objects register as they are; anything else is refused."""
    module = type(source).__module__.split(".")[0]
    if module in {"pandas", "polars", "pyarrow"}:
        return source
    raise ImportFailed(
        f"cannot import a {type(source).__name__}: give a file path, or a pandas, "
        "polars or Arrow table"
    )


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
