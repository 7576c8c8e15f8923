"""Trigger occurrences in a window ``(start, end]`` of (simulated) time (SPEC §7).

Each trigger kind turns the workspace's data into occurrences: a customer and the time
and key of what happened. The key makes the enrolment id, so finding an occurrence twice
enrols once.

- ``segment_entered``: a scores row whose segment is one of the trigger's and changed in
  that run (``segment_since`` is the run's date); known at ``as_of + 1 day``.
- ``score_crossing``: the score of each scoring run known in the window, compared with a
  per (automation, customer, scope) hysteresis state (:func:`cross`).
- ``event``: events of a type (and property filter) with ``ts`` in the window;
  an anonymous event counts for the customer its anonymous id is linked to.
- ``schedule``: every known customer at each tick (those the audience, read in SQL,
  may hold).
- ``no_conversion``: treated enrolments of another automation that ended without a
  conversion in the window (the hand-off of non-responders).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import duckdb
import pyarrow as pa

from clm.automation.audience import schedule_candidates
from clm.automation.definitions import Automation
from clm.automation.durations import schedule_ticks
from clm.automation.facts import knowledge_time, run_at

EVENT_COLUMNS = {
    "category": "VARCHAR",
    "order_id": "VARCHAR",
    "amount": "DOUBLE",
    "anonymous_id": "VARCHAR",
}
SCORE_TABLE = {
    **{
        k: "scores"
        for k in (
            "r_score",
            "f_score",
            "m_score",
            "recency_days",
            "frequency",
            "monetary",
            "n_orders_life",
        )
    },
    **{k: "clv" for k in ("p_alive", "clv", "churn_risk", "expected_purchases", "expected_spend")},
}


@dataclass(frozen=True)
class Occurrence:
    """Something that happened to a customer and may enrol them."""

    customer_id: str
    at: datetime
    key: str
    detail: str


TS = pa.timestamp("us")
NAMES = ("customer_id", "at", "key", "detail")


def table(found: Sequence[Occurrence]) -> pa.Table:
    """Occurrences as columns (``customer_id``, ``at``, ``key``, ``detail``), in order."""
    return columns(
        [o.customer_id for o in found],
        [o.at for o in found],
        [o.key for o in found],
        [o.detail for o in found],
    )


def columns(
    customers: Sequence[str], ats: Sequence[datetime], keys: Sequence[str], details: Sequence[str]
) -> pa.Table:
    """:func:`table` from one list per column."""
    return pa.table(
        {
            "customer_id": pa.array(customers, pa.string()),
            "at": pa.array(ats, TS),
            "key": pa.array(keys, pa.string()),
            "detail": pa.array(details, pa.string()),
        }
    )


def find_table(
    con: duckdb.DuckDBPyConnection,
    automation: Automation,
    start: datetime,
    end: datetime,
    runs: Sequence[tuple[int, date]],
) -> pa.Table:
    """Occurrences of the automation's trigger in ``(start, end]`` as columns
    (:func:`table`), oldest first (then by customer and key).

    Triggers on scoring runs (segments, crossings) record the runs they evaluated (and
    crossings their hysteresis state): call this inside the transaction that enrols
    what it returns. Segments, crossings and schedules build their columns without an
    object per occurrence (a schedule may hold a good share of all customers).
    """
    kind, body = automation.trigger_kind, automation.trigger
    if kind == "segment_entered":
        found = segment_entered(con, automation.name, body["segments"], start, end, runs)
    elif kind == "event":
        found = table(events(con, body["type"], body.get("where") or {}, start, end))
    elif kind == "schedule":
        found = schedule(con, body["every"], start, end, automation.audience, runs)
    elif kind == "no_conversion":
        found = table(no_conversion(con, body["automation"], start, end))
    else:
        found = crossings(con, automation, start, end, runs)
    return found.sort_by([("at", "ascending"), ("customer_id", "ascending"), ("key", "ascending")])


def find(
    con: duckdb.DuckDBPyConnection,
    automation: Automation,
    start: datetime,
    end: datetime,
    runs: Sequence[tuple[int, date]],
) -> list[Occurrence]:
    """:func:`find_table` as objects."""
    return occurrences(find_table(con, automation, start, end, runs))


def occurrences(found: pa.Table) -> list[Occurrence]:
    """The rows of an occurrence table as objects, in order."""
    values = [found.column(n).to_pylist() for n in NAMES]
    return [Occurrence(*row) for row in zip(*values, strict=True)]


def _empty() -> pa.Table:
    return columns([], [], [], [])


def segment_entered(
    con: duckdb.DuckDBPyConnection,
    name: str,
    segments: Sequence[str],
    start: datetime,
    end: datetime,
    runs: Sequence[tuple[int, date]],
) -> pa.Table:
    found = [_empty()]
    if not seen_runs(con, name):
        history = [r for r in runs if knowledge_time(r[1]) <= start]
        if history:  # what was known before the first window is history, not news
            mark_run(con, name, history[-1][1])
    for run_id, as_of in pending_runs(con, name, start, end, runs):
        rows = con.sql(
            """
            SELECT customer_id, $at::TIMESTAMP AS at,
                   'segment:' || segment || ':' || $day AS key,
                   'entered ' || segment || ' on ' || $day
                   || CASE WHEN coalesce(previous_segment, '') = '' THEN ''
                           ELSE ' (from ' || previous_segment || ')' END AS detail
            FROM scores
            WHERE run_id = $run AND customer_id IS NOT NULL AND segment_since = as_of
              AND segment IN (SELECT unnest($segments))
            """,
            params={
                "run": run_id,
                "segments": list(segments),
                "at": max(knowledge_time(as_of), start),  # a run stored late is news when seen
                "day": str(as_of),
            },
        ).to_arrow_table()
        found.append(rows.cast(_empty().schema))
        mark_run(con, name, as_of)
    return pa.concat_tables(found)


def pending_runs(
    con: duckdb.DuckDBPyConnection,
    name: str,
    start: datetime,
    end: datetime,
    runs: Sequence[tuple[int, date]],
) -> list[tuple[int, date]]:
    """Scoring runs this automation has yet to evaluate, known by ``end``.

    Runs are taken by a watermark (the latest as-of date evaluated), not by the window
    alone, so a scoring run stored after the run window passed its knowledge time is
    still evaluated; before the first evaluation, only runs known inside the window count.
    """
    seen = seen_runs(con, name)
    latest = max(seen) if seen else None
    return [
        r
        for r in runs
        if knowledge_time(r[1]) <= end
        and (r[1] > latest if latest is not None else knowledge_time(r[1]) > start)
    ]


def seen_runs(con: duckdb.DuckDBPyConnection, name: str) -> set[date]:
    rows = con.execute("SELECT as_of FROM crossing_runs WHERE automation = ?", [name]).fetchall()
    return {r[0] for r in rows}


def mark_run(con: duckdb.DuckDBPyConnection, name: str, as_of: date) -> None:
    con.execute("INSERT OR IGNORE INTO crossing_runs VALUES (?, ?)", [name, as_of])


def where_sql(where: Mapping[str, Any], alias: str = "e") -> tuple[str, list[Any]]:
    """SQL (``AND ...``) and parameters for an event filter on columns or properties."""
    parts: list[str] = []
    params: list[Any] = []
    for key, value in where.items():
        values = value if isinstance(value, list) else [value]
        if key in EVENT_COLUMNS:
            column = f"{alias}.{key}::{EVENT_COLUMNS[key]}"
            cast = [float(v) if EVENT_COLUMNS[key] == "DOUBLE" else str(v) for v in values]
        else:
            column = f"json_extract_string({alias}.properties, ?)"
            params.append(f"$.{json_key(key)}")
            cast = [_json_text(v) for v in values]
        parts.append(f" AND {column} IN ({', '.join('?' for _ in cast)})")
        params += cast
    return "".join(parts), params


def event_matches(where: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """The Python twin of :func:`where_sql` for one event (a mapping with the events
    table's columns; ``properties`` a mapping or JSON text)."""
    props = event.get("properties") or {}
    if isinstance(props, str):
        props = json.loads(props)
    for key, value in where.items():
        wanted = value if isinstance(value, list) else [value]
        actual = event.get(key) if key in EVENT_COLUMNS else props.get(key)
        if actual is None:
            return False
        if key == "amount":
            if float(actual) not in [float(w) for w in wanted]:
                return False
        elif _json_text(actual) not in [_json_text(w) for w in wanted]:
            return False
    return True


def json_key(key: str) -> str:
    return '"' + key.replace('"', '\\"') + '"'


def _json_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def customer_expr(alias: str = "e") -> str:
    """The customer of an event: its own id, else the one its anonymous id is linked to."""
    return (
        f"coalesce({alias}.customer_id, (SELECT min(i.customer_id) FROM identities i "
        f"WHERE i.anonymous_id = {alias}.anonymous_id))"
    )


def events(
    con: duckdb.DuckDBPyConnection,
    type_: str,
    where: Mapping[str, Any],
    start: datetime,
    end: datetime,
) -> list[Occurrence]:
    filter_sql, params = where_sql(where)
    rows = con.execute(
        f"""
        SELECT * FROM (
            SELECT e.event_id, {customer_expr()} AS cid, e.ts FROM events e
            WHERE e.type = ? AND e.ts > ? AND e.ts <= ? {filter_sql}
        ) WHERE cid IS NOT NULL
        """,
        [type_, start, end, *params],
    ).fetchall()
    return [
        Occurrence(str(cid), ts, f"event:{event_id}", f"{type_} event {event_id}")
        for event_id, cid, ts in rows
    ]


def schedule(
    con: duckdb.DuckDBPyConnection,
    every: str,
    start: datetime,
    end: datetime,
    audience: Mapping[str, Any] | None = None,
    runs: Sequence[tuple[int, date]] = (),
) -> pa.Table:
    """One occurrence per tick for every known customer that may be in the audience
    (:func:`clm.automation.audience.schedule_candidates`: the audience in SQL, with the
    scores of the run known at the tick)."""
    out = [_empty()]
    for tick in schedule_ticks(every, start, end):
        run = run_at(runs, tick)
        customers = schedule_candidates(con, audience, run[0] if run else None, tick)
        key, detail = f"schedule:{tick:%Y-%m-%dT%H:%M}", f"schedule at {tick:%Y-%m-%d %H:%M}"
        n = len(customers)
        out.append(columns(customers, [tick] * n, [key] * n, [detail] * n))
    return pa.concat_tables(out)


def no_conversion(
    con: duckdb.DuckDBPyConnection, other: str, start: datetime, end: datetime
) -> list[Occurrence]:
    rows = con.execute(
        """
        SELECT enrolment_id, customer_id, ended_at FROM enrolments
        WHERE automation = ? AND arm = 'treatment' AND state = 'ended'
          AND converted_at IS NULL AND ended_at > ? AND ended_at <= ?
        """,
        [other, start, end],
    ).fetchall()
    return [
        Occurrence(str(cid), ended, f"handoff:{eid}", f"no conversion after {other}")
        for eid, cid, ended in rows
    ]


# -- score crossings with hysteresis ---------------------------------------------------------


def cross(armed: bool, value: float, above: float, rearm_below: float) -> tuple[bool, bool]:
    """One hysteresis step: ``(armed after, fired)``.

    An armed state fires when the value reaches ``above`` and disarms; a disarmed state
    re-arms only once the value falls below ``rearm_below``.
    """
    if armed and value >= above:
        return False, True
    if not armed and value < rearm_below:
        return True, False
    return armed, False


def crossings(
    con: duckdb.DuckDBPyConnection,
    automation: Automation,
    start: datetime,
    end: datetime,
    runs: Sequence[tuple[int, date]],
) -> pa.Table:
    """Evaluate every scoring run known in the window that this automation has not seen.

    The first evaluation starts from the latest run known before the window (a baseline
    that fires nothing); without one, the first run itself is the baseline. Afterwards a
    customer seen for the first time starts armed.
    """
    body = automation.trigger
    score, scope = body["score"], body.get("category") or "all"
    above = float(body["above"])
    rearm = float(body.get("rearm_below", above))
    seen = seen_runs(con, automation.name)
    found = [_empty()]
    todo = pending_runs(con, automation.name, start, end, runs)
    if not seen:
        before = [r for r in runs if knowledge_time(r[1]) <= start]
        baseline = before[-1] if before else (todo.pop(0) if todo else None)
        if baseline is not None:
            _evaluate(con, automation.name, baseline, score, scope, above, rearm, None)
    for run in todo:
        found.append(_evaluate(con, automation.name, run, score, scope, above, rearm, start))
    return pa.concat_tables(found)


def _evaluate(
    con: duckdb.DuckDBPyConnection,
    name: str,
    run: tuple[int, date],
    score: str,
    scope: str,
    above: float,
    rearm: float,
    start: datetime | None,
) -> pa.Table:
    """One run against the stored states, in SQL (:func:`cross` for every customer at
    once); ``start`` None evaluates a baseline (fires nothing). A customer without a
    state starts armed, or, in a baseline, armed when below ``above``. States that
    changed are stored; the customers that fired are returned."""
    baseline = start is None
    run_id, as_of = run
    table = SCORE_TABLE.get(score, "activity")
    scoped = " AND scope = $scope" if table == "activity" else ""
    default = "v.value < $above" if baseline else "TRUE"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE crossing_step AS
        WITH v AS (
            SELECT customer_id, {score}::DOUBLE AS value FROM {table}
            WHERE run_id = $run AND customer_id IS NOT NULL AND {score} IS NOT NULL{scoped}
        ), j AS (
            SELECT v.customer_id, v.value, s.armed AS old,
                   coalesce(s.armed, {default}) AS was
            FROM v LEFT JOIN crossing_states s ON s.automation = $name
             AND s.scope = $scope AND s.customer_id = v.customer_id
        ), k AS (  -- NaN is above everything in DuckDB, below nothing in Python: never reached
            SELECT *, value >= $above AND NOT isnan(value) AS reached FROM j
        )
        SELECT customer_id, value, old, was AND reached AS fired,
               CASE WHEN was AND reached THEN FALSE
                    WHEN NOT was AND value < $rearm THEN TRUE
                    ELSE was END AS armed
        FROM k
        """,
        {"run": run_id, "scope": scope, "above": above, "rearm": rearm, "name": name},
    )
    try:
        _store_states(con, name, scope, as_of)
        fired = (
            []
            if baseline
            else con.execute(
                "SELECT customer_id, value FROM crossing_step WHERE fired ORDER BY customer_id"
            ).fetchall()
        )
    finally:
        con.execute("DROP TABLE IF EXISTS crossing_step")
    mark_run(con, name, as_of)
    at = max(knowledge_time(as_of), start or knowledge_time(as_of))
    ids = [str(cid) for cid, _ in fired]
    if score == "rising":  # the words do not depend on the value
        details = [_crossed(score, scope, 0.0, above, as_of)] * len(fired)
    else:
        details = [_crossed(score, scope, float(value), above, as_of) for _, value in fired]
    n = len(ids)
    return columns(ids, [at] * n, [f"crossing:{scope}:{as_of}"] * n, details)


def _store_states(con: duckdb.DuckDBPyConnection, name: str, scope: str, as_of: date) -> None:
    """Store the hysteresis states ``crossing_step`` changed: an UPDATE of the stored
    ones that flipped and a plain INSERT of the customers seen for the first time (an
    ``INSERT OR REPLACE`` is a merge that reads every stored key and deletes and inserts
    each changed row in the index)."""
    params = {"name": name, "scope": scope, "as_of": as_of}
    con.execute(
        "UPDATE crossing_states s SET armed = c.armed, value = c.value, as_of = $as_of::DATE "
        "FROM crossing_step c WHERE s.automation = $name AND s.scope = $scope "
        "AND s.customer_id = c.customer_id AND c.old IS NOT NULL AND c.old <> c.armed",
        params,
    )
    con.execute(
        "INSERT INTO crossing_states SELECT $name, customer_id, $scope, armed, value, "
        "$as_of::DATE FROM crossing_step WHERE old IS NULL",
        params,
    )


def _crossed(score: str, scope: str, value: float, above: float, as_of: date) -> str:
    """What a crossing means, in words."""
    where = "" if scope == "all" else f" in {scope}"
    if score == "rising":
        return f"interest{where} started rising as of {as_of}"
    return f"{score}{where} rose to {value:.4g} (≥ {above:g}) as of {as_of}"
