"""Enrolment decisions, set-based: a trigger's occurrences decided and stored by SQL (SPEC §6).

This is the one implementation of the enrolment decision (the batch runner and the live
path both call :func:`enrol`, with thousands of occurrences or one). Every occurrence
whose enrolment id is new is decided, in this order:

1. **re-entry** against the customer's last enrolment in the automation (``never``:
   one enrolment per customer; ``always``: again once the last one is off its steps; a
   duration: again once that long has passed since the last enrolment);
2. the **audience** filter (:func:`clm.automation.conditions.failure`, evaluated once per
   distinct combination of the facts it reads: :mod:`clm.automation.fact_columns`);
3. **contactability**: a granted consent (email, SMS, push) and an address (email,
   phone) on at least one of the automation's channels;
4. the **arm**: the global control group (a share of all customers, by
   ``automation.global_control_key``), then the automation's holdout (``control``),
   else ``treatment``; the numbers are :func:`clm.experiments.assignment.unit`'s, the
   SHA-256 computed by DuckDB.

A treated enrolment is active at the first step, due at once, with the variant of the
first send step that has variants; a control arm is completed with its goal window open
(or ended without a goal). Enrolments and decisions (``enrolled`` with the arm,
``skipped`` with the reason) are written with one ``INSERT`` each (``INSERT OR IGNORE``
where an id may repeat: see :func:`_store`); the ids are those of
:func:`clm.automation.enrolments.enrolment_id` and
:attr:`clm.automation.decisions.Decision.decision_id`.

Occurrences of one customer are decided in time order, each seeing the enrolment the one
before made: the occurrences are cut into rounds (a customer's first, second, ...
occurrence), each round decided at once against the enrolments before it.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from clm.automation import conditions, fact_columns
from clm.automation.decisions import TYPES as DECISION_TYPES
from clm.automation.decisions import Decision
from clm.automation.definitions import Automation
from clm.automation.enrol_sql import contact_fields, contact_sql, reentry_sql, unit_sql, variant_sql
from clm.automation.enrolments import COLUMNS, Enrolment
from clm.automation.facts import run_at
from clm.automation.steps import Policy

FactsAt = Callable[[Sequence[tuple[str, datetime]]], Mapping[tuple[str, datetime], Any]]
TABLES = (
    "_enrol_todo",
    "_enrol_prior",
    "_enrol_round",
    "_enrol_facts",
    "_enrol_combo",
    "_enrol_decided",
)
VIEWS = ("_enrol_found", "_enrol_combo_reason", "_enrol_rows_reason")


@dataclass
class Batch:
    """What one call decided: counts by decision (``enrolled:<arm>``, ``skipped:<reason>``),
    the occurrence detail of each enrolment (``Engine.why``) and, when asked, the objects."""

    enrolled: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    why: dict[str, str] = field(default_factory=dict)
    enrolments: list[Enrolment] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


def enrol(
    con: duckdb.DuckDBPyConnection,
    automation: Automation,
    found: pa.Table,
    policy: Policy,
    runs: Sequence[tuple[int, date]],
    now: datetime,
    *,
    facts_at: FactsAt,
    quiet: frozenset[str] = frozenset(),
    objects: bool = False,
) -> Batch:
    """Decide and store the enrolments of the occurrences in ``found`` not seen before.

    ``found`` has :func:`clm.automation.triggers.table`'s columns, oldest first. Skips
    whose reason is in ``quiet`` are counted but not logged (the schedule's audience and
    re-entry skips).
    ``facts_at`` gives facts dicts for an audience reading a fact that has no column.
    With ``objects`` the enrolments and logged decisions are also returned as objects
    (the live path)."""
    batch = Batch()
    if not found.num_rows:
        return batch
    con.register("_enrol_found", _with_columns(found, runs))
    try:
        rounds = _todo(con, automation)
        placed: list[tuple[int, Enrolment | Decision]] = []
        for number in range(1, rounds + 1):
            _decide_round(con, automation, policy, number, facts_at)
            _store(con, automation, now, quiet, number == 1)
            _collect(con, batch)
            if objects:
                placed += _objects(con, automation, quiet)
            if number < rounds:
                _carry_prior(con)
        placed.sort(key=lambda p: p[0])  # the occurrences' order, as found
        batch.enrolments = [x for _, x in placed if isinstance(x, Enrolment)]
        batch.decisions = [x for _, x in placed if isinstance(x, Decision)]
    finally:
        _clean(con)
    return batch


def _clean(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the working tables (after an error the transaction's rollback does)."""
    with contextlib.suppress(duckdb.Error):
        for name in TABLES:
            con.execute(f"DROP TABLE IF EXISTS {name}")
    for name in VIEWS:
        con.unregister(name)


def _with_columns(found: pa.Table, runs: Sequence[tuple[int, date]]) -> pa.Table:
    """``found`` with a row number, each time's ISO text (decision ids) and scoring run."""
    ats: list[datetime] = found.column("at").to_pylist()
    iso = {t: t.isoformat() for t in set(ats)}
    run_ids = {t: (r[0] if (r := run_at(runs, t)) else None) for t in iso}
    renamed = found.rename_columns(["customer_id", "ts", "occurrence", "detail"])
    return (
        renamed.append_column("idx", pa.array(range(found.num_rows), pa.int64()))
        .append_column("at_iso", pa.array([iso[t] for t in ats], pa.string()))
        .append_column("run_id", pa.array([run_ids[t] for t in ats], pa.int64()))
    )


def _todo(con: duckdb.DuckDBPyConnection, automation: Automation) -> int:
    """Store the occurrences not enrolled yet (with their ids and rounds) and the
    customers' last enrolments; return the number of rounds."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _enrol_todo AS
        WITH f AS (
            SELECT *, substr(sha256($name || '|' || customer_id || '|' || occurrence), 1, 32)
                AS enrolment_id
            FROM _enrol_found
        )
        SELECT f.*, row_number() OVER (PARTITION BY customer_id ORDER BY idx) AS round
        FROM f WHERE NOT EXISTS (SELECT 1 FROM enrolments e WHERE e.enrolment_id = f.enrolment_id)
        """,
        {"name": automation.name},
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _enrol_prior AS
        SELECT customer_id, max(enrolled_at) AS last,
               bool_or(state IN ('active', 'waiting')) AS open
        FROM enrolments
        WHERE automation = $name AND customer_id IN (SELECT customer_id FROM _enrol_todo)
        GROUP BY customer_id
        """,
        {"name": automation.name},
    )
    rows = con.execute("SELECT coalesce(max(round), 0) FROM _enrol_todo").fetchall()
    return int(rows[0][0])


def _decide_round(
    con: duckdb.DuckDBPyConnection,
    automation: Automation,
    policy: Policy,
    number: int,
    facts_at: FactsAt,
) -> None:
    """Decide the round's occurrences into ``_enrol_decided``: re-entry, then the facts
    and the audience of those it lets through, then contactability and the arm."""
    _round_rows(con, automation, number)
    fields, reasons = _facts_and_reasons(con, automation, facts_at)
    _decide(con, automation, policy, fields, reasons)


def _round_rows(con: duckdb.DuckDBPyConnection, automation: Automation, number: int) -> None:
    """``_enrol_round``: the round's occurrences with what re-entry says of each."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _enrol_round AS
        SELECT t.idx, t.customer_id, t.ts, t.occurrence, t.detail, t.at_iso, t.run_id,
               t.enrolment_id,
               {reentry_sql(automation.reentry)} AS reentry
        FROM _enrol_todo t LEFT JOIN _enrol_prior p ON p.customer_id = t.customer_id
        WHERE t.round = {int(number)}
        """
    )


def _facts_and_reasons(
    con: duckdb.DuckDBPyConnection, automation: Automation, facts_at: FactsAt
) -> tuple[list[str], str]:
    """``_enrol_facts`` (the facts contactability and the audience read, for the rows
    re-entry lets through) and a query of each row's audience failure."""
    audience = automation.audience or {}
    wanted = fact_columns.fields_of(audience)
    columnar = all(fact_columns.supported(f) for f in wanted)
    read = (wanted if columnar else []) + contact_fields(automation.channels)
    fields = list(dict.fromkeys(read))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _enrol_facts AS "
        + fact_columns.columns_sql(fields, "_enrol_round", "r.reentry IS NULL")
    )
    if not audience:
        reasons = "SELECT NULL::BIGINT AS idx, NULL::VARCHAR AS reason WHERE FALSE"
    elif columnar:
        reasons = fact_columns.audience_reasons(con, audience, wanted, "_enrol_facts")
    else:
        reasons = _reasons_from_dicts(con, audience, facts_at)
    return fields, reasons


def _decide(
    con: duckdb.DuckDBPyConnection,
    automation: Automation,
    policy: Policy,
    fields: Sequence[str],
    reasons: str,
) -> None:
    """``_enrol_decided``: each row's skip reason and words, or its arm and variant."""
    column = {f: f"f.f{i}" for i, f in enumerate(fields)}
    blocked = f"not contactable on {', '.join(sorted(automation.channels))}"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _enrol_decided AS
        WITH d AS (
            SELECT r.*,
                CASE WHEN r.reentry IS NOT NULL THEN 're_entry'
                     WHEN a.reason IS NOT NULL THEN 'audience'
                     WHEN NOT {contact_sql(automation.channels, column)} THEN 'consent'
                END AS reason,
                CASE WHEN r.reentry IS NOT NULL THEN r.reentry
                     WHEN a.reason IS NOT NULL THEN a.reason
                     ELSE $blocked END AS block
            FROM _enrol_round r LEFT JOIN _enrol_facts f ON f.idx = r.idx
            LEFT JOIN ({reasons}) a ON a.idx = r.idx
        ), armed AS (
            SELECT *, CASE WHEN reason IS NULL THEN
                CASE WHEN {unit_sql(policy.global_key)} < $global THEN 'global_control'
                     WHEN {unit_sql(automation.experiment_key)} < $holdout THEN 'control'
                     ELSE 'treatment' END
            END AS arm
            FROM d
        )
        SELECT *, CASE WHEN arm = 'treatment' THEN {variant_sql(automation)} END AS variant
        FROM armed
        """,
        {
            "blocked": blocked,
            "global": float(policy.global_share),
            "holdout": float(automation.holdout(policy.holdout)),
        },
    )


def _reasons_from_dicts(
    con: duckdb.DuckDBPyConnection, audience: Mapping[str, Any], facts_at: FactsAt
) -> str:
    """The audience reasons of the rows from facts dicts (a fact without a column)."""
    rows = con.execute(
        "SELECT idx, customer_id, ts FROM _enrol_round WHERE reentry IS NULL ORDER BY idx"
    ).fetchall()
    facts = facts_at([(c, t) for _, c, t in rows])
    reasons = [conditions.failure(audience, facts[(c, t)]) for _, c, t in rows]
    table = pa.table(
        {
            "idx": pa.array([r[0] for r in rows], pa.int64()),
            "reason": pa.array(reasons, pa.string()),
        }
    )
    con.register("_enrol_rows_reason", table)
    return "SELECT idx, reason FROM _enrol_rows_reason"


def _store(
    con: duckdb.DuckDBPyConnection,
    automation: Automation,
    now: datetime,
    quiet: frozenset[str],
    first_round: bool,
) -> None:
    """Insert the round's enrolments, then its decisions (but quiet skips).

    In the first round every enrolment id is new (``_todo`` kept only those, and a round
    holds one occurrence per customer), and so is the id of its ``enrolled`` decision:
    they are plain inserts, which probe the key index; ``INSERT OR IGNORE`` reads the
    whole key column of the table instead (DuckDB plans it as a merge). Later rounds (a
    customer's second occurrence may repeat an id) and skips (a live event decided again
    by the scheduler) keep ``INSERT OR IGNORE``."""
    verb = "INSERT" if first_round else "INSERT OR IGNORE"
    window = automation.goal_window
    goal_until = (
        f"ts + to_microseconds({window // timedelta(microseconds=1)}::BIGINT)"
        if window
        else "NULL::TIMESTAMP"
    )
    control = "'completed'" if window else "'ended'"
    con.execute(
        f"""
        {verb} INTO enrolments ({COLUMNS})
        SELECT enrolment_id, $name, $version, customer_id, occurrence, arm, ts,
               CASE WHEN arm = 'treatment' THEN 'active' ELSE {control} END,
               CASE WHEN arm = 'treatment' THEN $first END,
               CASE WHEN arm = 'treatment' THEN ts END,
               NULL, {goal_until}, NULL,
               CASE WHEN arm <> 'treatment' AND {"FALSE" if window else "TRUE"} THEN ts END,
               variant
        FROM _enrol_decided WHERE arm IS NOT NULL ORDER BY idx
        """,
        {"name": automation.name, "version": automation.version, "first": automation.order[0]},
    )
    for kind, insert in (("enrolled", verb), ("skipped", "INSERT OR IGNORE")):
        _log(con, automation, now, quiet, kind, insert)


def _log(
    con: duckdb.DuckDBPyConnection,
    automation: Automation,
    now: datetime,
    quiet: frozenset[str],
    kind: str,
    insert: str,
) -> None:
    """Insert the round's decisions of one kind (``enrolled`` or ``skipped``)."""
    rows = (
        "arm IS NOT NULL"
        if kind == "enrolled"
        else "arm IS NULL AND reason <> ALL($quiet::VARCHAR[])"
    )
    names = ", ".join(n for n, _ in DECISION_TYPES)
    params: dict[str, Any] = {"name": automation.name, "version": automation.version, "now": now}
    if kind == "skipped":
        params["quiet"] = sorted(quiet)
    con.execute(
        f"""
        {insert} INTO decisions ({names})
        SELECT substr(sha256($name || '|' || customer_id || '|'
                             || (CASE WHEN arm IS NULL THEN occurrence ELSE enrolment_id END)
                             || '||{kind}|' || at_iso), 1, 32),
               ts, $name, $version, CASE WHEN arm IS NULL THEN NULL ELSE enrolment_id END,
               customer_id, NULL, '{kind}', coalesce(arm, reason), NULL, NULL, NULL, NULL, NULL,
               CASE WHEN arm IS NULL THEN detail || ': ' || block ELSE detail END, $now
        FROM _enrol_decided WHERE {rows} ORDER BY idx
        """,
        params,
    )


def _collect(con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
    """Add the round's counts and enrolment details to ``batch``."""
    for key, n in con.execute(
        "SELECT CASE WHEN arm IS NULL THEN 'skipped:' || reason ELSE 'enrolled:' || arm END, "
        "count(*) FROM _enrol_decided GROUP BY 1"
    ).fetchall():
        batch.counts[str(key)] += int(n)
        if str(key).startswith("enrolled:"):
            batch.enrolled += int(n)
    ids, details = con.execute(
        "SELECT list(enrolment_id ORDER BY idx), list(detail ORDER BY idx) "
        "FROM _enrol_decided WHERE arm IS NOT NULL"
    ).fetchall()[0]
    batch.why.update(zip(ids or [], details or [], strict=True))


def _objects(
    con: duckdb.DuckDBPyConnection, automation: Automation, quiet: frozenset[str]
) -> list[tuple[int, Enrolment | Decision]]:
    """The round's enrolments (as stored) and logged decisions as objects, by position."""
    stored = ", ".join(f"e.{c.strip()}" for c in COLUMNS.split(","))
    out: list[tuple[int, Enrolment | Decision]] = [
        (row[0], Enrolment(*row[1:]))
        for row in con.execute(
            f"SELECT d.idx, {stored} FROM _enrol_decided d JOIN enrolments e "
            "ON e.enrolment_id = d.enrolment_id WHERE d.arm IS NOT NULL"
        ).fetchall()
    ]
    rows = con.execute(
        "SELECT idx, ts, customer_id, occurrence, detail, enrolment_id, reason, block, arm "
        "FROM _enrol_decided"
    ).fetchall()
    name, version = automation.name, automation.version
    for idx, at, cid, key, detail, eid, reason, block, arm in rows:
        if arm is not None:
            enrolled = Decision(
                at, name, version, cid, "enrolled", enrolment_id=eid, reason=arm, detail=detail
            )
            out.append((idx, enrolled))
        elif reason not in quiet:
            skipped = Decision(
                at,
                name,
                version,
                cid,
                "skipped",
                reason=reason,
                detail=f"{detail}: {block}",
                scope=key,
            )
            out.append((idx, skipped))
    return out


def _carry_prior(con: duckdb.DuckDBPyConnection) -> None:
    """The round's enrolments become their customers' last ones for the next round."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _enrol_prior AS
        SELECT * FROM _enrol_prior WHERE customer_id NOT IN
            (SELECT customer_id FROM _enrol_decided WHERE arm IS NOT NULL)
        UNION ALL
        SELECT customer_id, ts, arm = 'treatment' FROM _enrol_decided WHERE arm IS NOT NULL
        """
    )
