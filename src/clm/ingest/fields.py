"""SQL for turning staged source columns into typed fields, with the reason a
value is rejected.

Each builder returns a :class:`Field`: the SQL of the typed value and the SQL
of its rejection reason (NULL when the value is fine). Reasons name the source
column and quote the offending value, so a user can find and fix it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb

from clm.errors import ImportFailed
from clm.ingest.expressions import UserExpression, quote

TEMPORAL = (
    "TIMESTAMP",
    "DATE",
    "TIMESTAMP WITH TIME ZONE",
    "TIMESTAMP_NS",
    "TIMESTAMP_MS",
    "TIMESTAMP_S",
)
AMOUNT_TYPE = "DECIMAL(18, 4)"


@dataclass(frozen=True)
class Field:
    sql: str
    reason: str | None = None


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _shown(column: str) -> str:
    """The raw value of a column, shortened for messages."""
    return f"left(CAST({quote(column)} AS VARCHAR), 40)"


def _complaint(column: str, what: str, prefix: str = "") -> str:
    """SQL for "field COL: [PREFIX]'value' WHAT", quoting the row's raw value."""
    return (
        f"{literal(f'field {column}: {prefix}' + chr(39))} || {_shown(column)} || "
        f"{literal(chr(39) + ' ' + what)}"
    )


def text(column: str, *, required: bool = False, what: str = "value") -> Field:
    """A trimmed text value; an empty cell is NULL."""
    sql = f"NULLIF(trim(CAST({quote(column)} AS VARCHAR)), '')"
    if not required:
        return Field(sql)
    return Field(
        sql, f"CASE WHEN {sql} IS NULL THEN {literal(f'field {column}: missing {what}')} END"
    )


def constant(value: str | None) -> Field:
    return Field("NULL::VARCHAR" if value is None else literal(value))


def timestamp(column: str, column_type: str, time_format: str | None, *, required: bool) -> Field:
    """A UTC instant from a text, integer (with a format), date or timestamp column.

    Values without an offset are read in the session time zone, which the
    importer sets to the import's zone (UTC unless the import names one).
    """
    col = quote(column)
    if column_type.upper() in TEMPORAL and time_format is None:
        sql = f"timezone('UTC', CAST(CAST({col} AS TIMESTAMP) AS TIMESTAMPTZ))"
        if column_type.upper() == "TIMESTAMP WITH TIME ZONE":
            sql = f"timezone('UTC', {col})"
    elif time_format is not None:
        parsed = f"try_strptime(CAST({col} AS VARCHAR), {literal(time_format)})"
        sql = f"timezone('UTC', CAST({parsed} AS TIMESTAMPTZ))"
    else:
        sql = f"timezone('UTC', TRY_CAST(CAST({col} AS VARCHAR) AS TIMESTAMPTZ))"
    hint = f" with format {time_format}" if time_format else " (give --time-format)"
    bad = (
        f"CASE WHEN {col} IS NULL THEN {literal(f'field {column}: missing time')} "
        if required
        else "CASE "
    ) + (
        f"WHEN {col} IS NOT NULL AND {sql} IS NULL THEN "
        f"{_complaint(column, 'as a time' + hint, prefix='cannot read ')} END"
    )
    return Field(sql, bad)


def amount(expr: UserExpression, option_name: str) -> Field:
    """A money amount from an expression over numeric columns (``Quantity*UnitPrice``)."""
    value = expr.with_columns_as("TRY_CAST({} AS DOUBLE)")
    sql = f"TRY_CAST(round({value}, 4) AS {AMOUNT_TYPE})"
    checks = [
        f"WHEN {quote(c)} IS NOT NULL AND TRY_CAST({quote(c)} AS DOUBLE) IS NULL THEN "
        f"{_complaint(c, 'is not a number')}"
        for c in sorted(expr.columns)
    ]
    missing = literal(f"{option_name} {expr.sql}: missing or out of range")
    return Field(sql, "CASE " + " ".join(checks) + f" WHEN {sql} IS NULL THEN {missing} END")


def boolean(column: str) -> Field:
    """A yes/no value (true/false, yes/no, y/n, 1/0, granted/revoked); empty is NULL."""
    raw = f"lower(trim(CAST({quote(column)} AS VARCHAR)))"
    sql = (
        f"CASE WHEN {raw} IN ('true','t','yes','y','1','granted','opt-in','optin') THEN true "
        f"WHEN {raw} IN ('false','f','no','n','0','revoked','opt-out','optout') THEN false END"
    )
    bad = (
        f"CASE WHEN NULLIF({raw}, '') IS NOT NULL AND ({sql}) IS NULL THEN "
        f"{_complaint(column, 'is not yes/no (true/false, yes/no, 1/0)')} END"
    )
    return Field(sql, bad)


def email(column: str) -> Field:
    """An email address, checked for the one shape every address has: x@y.z."""
    base = text(column)
    bad = (
        f"CASE WHEN {base.sql} IS NOT NULL AND NOT regexp_matches({base.sql}, "
        f"'^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$') THEN "
        f"{_complaint(column, 'is not an email address')} END"
    )
    return Field(base.sql, bad)


def zone(column: str) -> Field:
    """An IANA time zone name (``Europe/Berlin``)."""
    base = text(column)
    bad = (
        f"CASE WHEN {base.sql} IS NOT NULL AND {base.sql} NOT IN "
        "(SELECT name FROM pg_timezone_names()) THEN "
        f"{_complaint(column, 'is not a time zone')} END"
    )
    return Field(base.sql, bad)


def reasons(fields: list[Field]) -> str:
    """One SQL value joining every rejection reason of a row (NULL when none)."""
    parts = [f.reason for f in fields if f.reason]
    if not parts:
        return "NULL::VARCHAR"
    return f"NULLIF(concat_ws('; ', {', '.join(parts)}), '')"


@contextmanager
def session_timezone(con: duckdb.DuckDBPyConnection, zone: str) -> Iterator[None]:
    """Read times without an offset in ``zone`` for the duration of the block."""
    valid = con.execute("SELECT count(*) FROM pg_timezone_names() WHERE name = ?", [zone])
    if zone != "UTC" and not valid.fetchall()[0][0]:
        raise ImportFailed(f"--timezone {zone!r} is not a time zone name (e.g. Europe/Berlin)")
    con.execute(f"SET TimeZone = {literal(zone)}")
    try:
        yield
    finally:
        con.execute("SET TimeZone = 'UTC'")
