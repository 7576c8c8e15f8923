"""User-written SQL expressions in import options (``--amount``, ``--where``).

An expression is parsed with sqlglot (DuckDB dialect) and accepted only when it
is one scalar expression over the source's columns: no statements, subqueries
or table references. Column names are checked against the source so that a typo
is reported with the list of columns instead of a database error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from clm.errors import ImportFailed

_FORBIDDEN = (exp.Subquery, exp.Select, exp.Table, exp.Command, exp.Insert, exp.Delete)


@dataclass(frozen=True)
class UserExpression:
    """A checked expression: its SQL text and the source columns it reads."""

    sql: str
    columns: frozenset[str]

    def with_columns_as(self, template: str | Callable[[str], str]) -> str:
        """The SQL with each column reference ``c`` replaced by ``template.format(c)``
        (or by ``template(c)`` when it is a function of the column name)."""
        tree = sqlglot.parse_one(self.sql, dialect="duckdb")
        render = template if callable(template) else (lambda c: template.format(quote(c)))

        def replace(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Column):
                return sqlglot.parse_one(render(node.name), dialect="duckdb")
            return node

        return tree.transform(replace).sql(dialect="duckdb")


def parse(text: str, option: str, columns: dict[str, str]) -> UserExpression:
    """Check ``text`` (given by ``option``) against the source ``columns``."""
    try:
        statements = sqlglot.parse(text, dialect="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise ImportFailed(f"{option} {text!r} is not a valid expression: {exc}") from exc
    if len(statements) != 1 or statements[0] is None:
        raise ImportFailed(f"{option} {text!r} must be a single expression")
    tree = statements[0]
    if any(isinstance(node, _FORBIDDEN) for node in tree.walk()):
        raise ImportFailed(f"{option} {text!r} may only use the source's columns")
    by_lower = {c.lower(): c for c in columns}
    used = set()
    for column in tree.find_all(exp.Column):
        name = by_lower.get(column.name.lower())
        if name is None:
            raise ImportFailed(
                f"{option} {text!r} uses {column.name!r}, which is not a column; "
                f"columns are: {', '.join(columns)}"
            )
        used.add(name)
    return UserExpression(tree.sql(dialect="duckdb"), frozenset(used))


def quote(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'
