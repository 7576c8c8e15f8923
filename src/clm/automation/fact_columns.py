"""Profile facts as SQL columns, for a whole set of enrolment candidates at once.

:mod:`clm.automation.facts` builds one dict of every fact per customer (what templates
and branches read). Deciding an enrolment needs a few facts only: the fields of the
automation's audience and, for contactability, the consent and address of its channels.
:func:`columns_sql` reads just those, for every row of a candidate table, as columns of
one query, with the values :func:`clm.automation.facts.load_facts` gives (the same
tables, the same row picked: the latest profile and consent record, the scores of the
row's run); :func:`audience_reasons` then evaluates the audience with
:func:`clm.automation.conditions.failure` once per distinct combination of those values
(so the words of a skip are the per-customer path's).

A field this module cannot read as a column (``top_category``: the scope picked in
Python) makes :func:`supported` false; the caller then falls back to the facts dicts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from clm.automation import conditions
from clm.automation.conditions import ACTIVITY_FIELDS, CLV_FIELDS, SCORE_FIELDS
from clm.automation.enrol_sql import quote

PROFILE_FIELDS = ("email", "phone", "timezone", "signup_at")
US_PER_DAY = 86_400_000_000


def fields_of(condition: Mapping[str, Any]) -> list[str]:
    """The facts ``condition`` reads, in order of first use."""
    out: list[str] = []
    for key, value in condition.items():
        if key in ("all", "any"):
            for sub in value:
                out += fields_of(sub)
        elif key == "not":
            out += fields_of(value)
        else:
            out.append(str(key))
    return list(dict.fromkeys(out))


def supported(field: str) -> bool:
    """Whether :func:`columns_sql` reads ``field``."""
    head, _, tail = field.partition(".")
    if tail:
        return head in ("attributes", "consent") or head in ACTIVITY_FIELDS
    return field in (
        "customer_id",
        "days_since_signup",
        "days_in_segment",
        "next_best_category",
        *PROFILE_FIELDS,
        *SCORE_FIELDS,
        *CLV_FIELDS,
        *ACTIVITY_FIELDS,
    )


def _json_path(key: str) -> str:
    return '$."' + key.replace('"', '\\"') + '"'


class _Joins:
    """The joins a set of fields needs (each once, by alias), onto rows ``r`` with
    ``customer_id`` and ``run_id``, restricted to the rows' customers."""

    def __init__(self, rows: str) -> None:
        self.rows = rows
        self.aliases: dict[str, str] = {}
        self.sql: list[str] = []

    def _add(self, key: str, source: str, on: str) -> str:
        if key not in self.aliases:
            alias = f"j{len(self.aliases)}"
            self.aliases[key] = alias
            self.sql.append(
                f"LEFT JOIN ({source}) {alias} ON {alias}.customer_id = r.customer_id"
                + on.replace("$", alias)
            )
        return self.aliases[key]

    def _mine(self) -> str:
        return f"customer_id IN (SELECT customer_id FROM {self.rows})"

    def profile(self) -> str:
        return self._add(
            "profile",
            "SELECT customer_id, email, phone, timezone, signup_at, attributes "
            f"FROM profiles WHERE {self._mine()} QUALIFY row_number() OVER "
            "(PARTITION BY customer_id ORDER BY updated_at DESC) = 1",
            "",
        )

    def consent(self, channel: str) -> str:
        return self._add(
            f"consent:{channel}",
            "SELECT DISTINCT ON (customer_id) customer_id, granted FROM consents "
            f"WHERE channel = '{quote(channel)}' AND {self._mine()} ORDER BY customer_id, ts DESC",
            "",
        )

    def run_table(self, table: str, where: str = "") -> str:
        return self._add(
            f"{table}:{where}",
            f"SELECT * FROM {table} WHERE {self._mine()}{where}",
            " AND $.run_id = r.run_id",
        )


def _column(field: str, joins: _Joins) -> str:
    """The SQL expression of one supported field."""
    head, _, tail = field.partition(".")
    if field == "customer_id":
        return "r.customer_id"
    if field in PROFILE_FIELDS:
        return f"{joins.profile()}.{field}"
    if head == "attributes":
        return f"json_extract({joins.profile()}.attributes, '{quote(_json_path(tail))}')::VARCHAR"
    if head == "consent":
        return f"{joins.consent(tail)}.granted"
    if field in SCORE_FIELDS:
        return f"{joins.run_table('scores')}.{field}"
    if field in CLV_FIELDS:
        return f"{joins.run_table('clv')}.{field}"
    if head in ACTIVITY_FIELDS:
        scoped = " AND scope = '" + quote(tail or "all") + "'"
        return f"{joins.run_table('activity', scoped)}.{head}"
    if field == "next_best_category":
        return f"{joins.run_table('next_best', ' AND rank = 1')}.category"
    if field == "days_since_signup":
        signup = f"{joins.profile()}.signup_at"
        return f"floor((epoch_us(r.ts) - epoch_us({signup})) / {US_PER_DAY}.0)::BIGINT"
    if field == "days_in_segment":
        return f"datediff('day', {joins.run_table('scores')}.segment_since, r.ts::DATE)"
    raise ValueError(f"fact {field!r} is not read as a column")


def columns_sql(fields: Sequence[str], rows: str, where: str = "TRUE") -> str:
    """``SELECT r.idx, f0, f1, ...`` (one column per field, in order) for the rows of
    table ``rows`` (columns ``idx``, ``customer_id``, ``ts``, ``run_id``) that satisfy
    ``where``: the facts of each row's customer at its time, from its run."""
    joins = _Joins(rows)
    exprs = [f"{_column(f, joins)} AS f{i}" for i, f in enumerate(fields)]
    return (
        f"SELECT r.idx{''.join(', ' + e for e in exprs)} FROM {rows} r "
        + " ".join(joins.sql)
        + f" WHERE {where}"
    )


def value(field: str, raw: Any) -> Any:
    """The facts dict's value of ``field`` from its column (attributes are JSON text)."""
    if field.startswith("attributes.") and raw is not None:
        return json.loads(raw)
    return raw


def audience_reasons(
    con: duckdb.DuckDBPyConnection,
    audience: Mapping[str, Any],
    fields: Sequence[str],
    facts: str,
) -> str:
    """A query of ``(idx, reason)``: why each row of the ``facts`` table (``idx`` and a
    column ``f<i>`` per field) fails ``audience`` (NULL: it holds).

    The condition is evaluated in Python once per distinct combination of the values
    (:func:`conditions.failure`, the same code as branches), the result joined back
    by a combination number."""
    cols = ", ".join(f"f{i}" for i in range(len(fields)))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _enrol_combo AS "
        f"SELECT idx, dense_rank() OVER (ORDER BY {cols}) AS combo, {cols} FROM {facts}"
    )
    distinct = con.execute(
        f"SELECT DISTINCT combo, {cols} FROM _enrol_combo ORDER BY combo"
    ).fetchall()
    combos, reasons = [], []
    for row in distinct:
        facts_row = {f: value(f, v) for f, v in zip(fields, row[1:], strict=True)}
        combos.append(row[0])
        reasons.append(conditions.failure(audience, facts_row))
    reason_table = pa.table(
        {"combo": pa.array(combos, pa.int64()), "reason": pa.array(reasons, pa.string())}
    )
    con.register("_enrol_combo_reason", reason_table)
    return (
        "SELECT c.idx, x.reason FROM _enrol_combo c JOIN _enrol_combo_reason x ON x.combo = c.combo"
    )
