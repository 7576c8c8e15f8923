"""The ``--where`` row filter of imports."""

from __future__ import annotations

import duckdb

from clm.ingest import expressions
from clm.ingest.expressions import quote
from clm.ingest.staging import STAGE, Staged


def where_sql(con: duckdb.DuckDBPyConnection, staged: Staged, where: str | None) -> str:
    """The row filter. Text columns whose every value reads as a number compare as
    numbers, so ``--where "Quantity > 0"`` means what it says on a CSV file."""
    if not where:
        return "true"
    expr = expressions.parse(where, "--where", staged.columns)
    names = {c.lower(): c for c in staged.columns}
    used = [names[c.lower()] for c in expr.columns]
    text_cols = [c for c in used if staged.columns[c] == "VARCHAR"]
    numeric: set[str] = set()
    if text_cols:
        checks = ", ".join(
            f"bool_and({quote(c)} IS NULL OR TRY_CAST({quote(c)} AS DOUBLE) IS NOT NULL)"
            for c in text_cols
        )
        flags = con.execute(f"SELECT {checks} FROM {STAGE}").fetchall()[0]
        numeric = {c for c, flag in zip(text_cols, flags, strict=True) if flag}

    def typed(column: str) -> str:
        name = names[column.lower()]
        if name in numeric:
            return f"TRY_CAST(src.{quote(name)} AS DOUBLE)"
        return f"src.{quote(name)}"

    return expr.with_columns_as(typed)
