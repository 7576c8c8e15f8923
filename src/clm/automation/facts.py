"""Profile facts as of a time: what conditions, guards and templates read.

The facts of a customer at time ``t`` come from the latest scoring run known at ``t``
(a run as of D is known from D + 1 day 00:00 UTC, SPEC §1), the profile's traits and
attributes, and its current consent per channel (the latest record, whatever its time:
a withdrawn consent stops every later send, also in simulated runs).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import duckdb

from clm.automation.conditions import ACTIVITY_FIELDS, CLV_FIELDS, SCORE_FIELDS

Facts = dict[str, Any]


def knowledge_time(as_of: date) -> datetime:
    """When the scores of a run as of ``as_of`` are known: ``as_of + 1 day`` 00:00."""
    return datetime.combine(as_of + timedelta(days=1), datetime.min.time())


def runs(con: duckdb.DuckDBPyConnection) -> list[tuple[int, date]]:
    """Every scoring run as ``(run_id, as_of)``, oldest first (one run per date)."""
    rows = con.execute("SELECT run_id, as_of FROM scoring_runs ORDER BY as_of, run_id").fetchall()
    return [(int(r), d) for r, d in rows]


def run_at(all_runs: Sequence[tuple[int, date]], t: datetime) -> tuple[int, date] | None:
    """The latest run known at ``t``."""
    known = [r for r in all_runs if knowledge_time(r[1]) <= t]
    return known[-1] if known else None


class FactsCache:
    """Facts per (scoring run, customer), loaded in bulk and kept for one run of the engine."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.all_runs = runs(con)
        self._cache: dict[tuple[int | None, str], Facts] = {}

    def get(self, customer_id: str, t: datetime) -> Facts:
        return self.many([customer_id], t)[customer_id]

    def many(self, customers: Sequence[str], t: datetime) -> dict[str, Facts]:
        run = run_at(self.all_runs, t)
        run_id = run[0] if run else None
        missing = [c for c in dict.fromkeys(customers) if (run_id, c) not in self._cache]
        if missing:
            for cid, facts in load_facts(self.con, run_id, missing).items():
                self._cache[(run_id, cid)] = facts
        out = {c: dict(self._cache[(run_id, c)]) for c in customers}
        for facts in out.values():
            _add_time_facts(facts, t)
        return out

    def at(self, wanted: Sequence[tuple[str, datetime]]) -> dict[tuple[str, datetime], Facts]:
        """Facts of each ``(customer, time)``: one bulk load per scoring run for every
        customer not loaded yet (not one per distinct time), then the time facts (days
        since signup, days in segment) added per pair."""
        run_ids = self.prefetch(wanted)
        out: dict[tuple[str, datetime], Facts] = {}
        for cid, t in wanted:
            facts = dict(self._cache[(run_ids[t], cid)])
            _add_time_facts(facts, t)
            out[(cid, t)] = facts
        return out

    def prefetch(self, wanted: Sequence[tuple[str, datetime]]) -> dict[datetime, int | None]:
        """Load the facts of every ``(customer, time)`` not cached yet, one bulk load per
        scoring run; returns the run of each time. The runner calls it once for all the
        enrolments due in a slice, so their chunks find their facts loaded (a load per
        chunk scanned the score and activity tables once per 5,000 enrolments)."""
        run_ids = {t: _run_id(self.all_runs, t) for t in {t for _, t in wanted}}
        by_run: dict[int | None, list[str]] = defaultdict(list)
        for cid, t in wanted:
            by_run[run_ids[t]].append(cid)
        for run_id, customers in by_run.items():
            missing = [c for c in dict.fromkeys(customers) if (run_id, c) not in self._cache]
            if missing:
                for cid, facts in load_facts(self.con, run_id, missing).items():
                    self._cache[(run_id, cid)] = facts
        return run_ids


def _run_id(all_runs: Sequence[tuple[int, date]], t: datetime) -> int | None:
    run = run_at(all_runs, t)
    return run[0] if run else None


def _add_time_facts(facts: Facts, t: datetime) -> None:
    signup = facts.get("signup_at")
    facts["days_since_signup"] = (t - signup).days if isinstance(signup, datetime) else None
    since = facts.get("segment_since")
    facts["days_in_segment"] = (t.date() - since).days if isinstance(since, date) else None


def load_facts(
    con: duckdb.DuckDBPyConnection, run_id: int | None, customers: Sequence[str]
) -> dict[str, Facts]:
    """Facts of ``customers`` from run ``run_id`` (None: traits and consent only).

    Rows are read as tuples and zipped onto precomputed field names (a dict per row and
    per activity scope cost more than the queries for a large slice)."""
    ids = list(customers)
    out: dict[str, Facts] = {c: {"customer_id": c} for c in ids}
    if not ids:
        return out
    names, rows = _rows(
        con,
        """
        SELECT customer_id, email, phone, timezone, signup_at, attributes
        FROM profiles WHERE customer_id IN (SELECT unnest($ids))
        QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY updated_at DESC) = 1
        """,
        ids,
    )
    plain = names[:-1]
    for row in rows:
        facts = out[row[0]]
        facts.update(zip(plain, row[:-1], strict=True))
        attributes = json.loads(row[-1] or "{}")
        facts.update({f"attributes.{k}": v for k, v in attributes.items()})
    _, rows = _rows(
        con,
        """
        SELECT DISTINCT ON (customer_id, channel) customer_id, channel, granted FROM consents
        WHERE customer_id IN (SELECT unnest($ids)) ORDER BY customer_id, channel, ts DESC
        """,
        ids,
    )
    for cid, channel, granted in rows:
        out[cid][f"consent.{channel}"] = bool(granted)
    if run_id is not None:
        _run_facts(con, run_id, ids, out)
    return out


def _run_facts(
    con: duckdb.DuckDBPyConnection, run_id: int, ids: list[str], out: dict[str, Facts]
) -> None:
    for sql in (
        f"SELECT customer_id, {', '.join(SCORE_FIELDS)} FROM scores WHERE run_id = $run "
        "AND customer_id IN (SELECT unnest($ids))",
        f"SELECT customer_id, {', '.join(CLV_FIELDS)} FROM clv WHERE run_id = $run "
        "AND customer_id IN (SELECT unnest($ids))",
    ):
        names, rows = _rows(con, sql, ids, run_id)
        for row in rows:
            out[row[0]].update(zip(names, row, strict=True))
    best: dict[str, tuple[float, str]] = {}
    keys: dict[str, list[str]] = {}
    v_long = ACTIVITY_FIELDS.index("v_long") + 2
    _, rows = _rows(
        con,
        f"SELECT customer_id, scope, {', '.join(ACTIVITY_FIELDS)} FROM activity "
        "WHERE run_id = $run AND customer_id IN (SELECT unnest($ids))",
        ids,
        run_id,
    )
    for row in rows:
        cid, scope = row[0], row[1]
        if scope not in keys:
            suffix = "" if scope == "all" else f".{scope}"
            keys[scope] = [f"{k}{suffix}" for k in ACTIVITY_FIELDS]
        out[cid].update(zip(keys[scope], row[2:], strict=True))
        if scope != "all" and row[v_long] > best.get(cid, (0.0, ""))[0]:
            best[cid] = (row[v_long], scope)
    for cid, (_, scope) in best.items():
        out[cid]["top_category"] = scope
    _, rows = _rows(
        con,
        "SELECT customer_id, category FROM next_best WHERE run_id = $run AND rank = 1 "
        "AND customer_id IN (SELECT unnest($ids))",
        ids,
        run_id,
    )
    for cid, category in rows:
        out[cid]["next_best_category"] = category


def _rows(
    con: duckdb.DuckDBPyConnection, sql: str, ids: list[str], run_id: int | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The column names and the rows (tuples) of a query on ``$ids`` (and ``$run``)."""
    params: dict[str, Any] = {"ids": ids}
    if run_id is not None:
        params["run"] = run_id
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return names, cursor.fetchall()
