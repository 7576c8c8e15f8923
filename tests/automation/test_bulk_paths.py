"""The set-based paths of the engine against the per-customer paths they replaced.

- :meth:`FactsCache.at` (one load per scoring run) against :meth:`FactsCache.many` per
  distinct time and against the row-by-row loader it replaced (kept here as the oracle);
- :func:`audience.schedule_candidates` (the audience in SQL) against
  :func:`conditions.holds` on every known customer's facts;
- score crossings in SQL against the per-customer walk of :func:`triggers.cross`;
- a schedule automation's enrolments, decisions and messages with the SQL audience
  against the same run with every known customer as an occurrence (the previous path).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pandas as pd
import pytest

from clm import Workspace
from clm.automation import audience, conditions, triggers
from clm.automation.conditions import ACTIVITY_FIELDS, CLV_FIELDS, SCORE_FIELDS
from clm.automation.definitions import Automation
from clm.automation.facts import FactsCache, knowledge_time, load_facts, run_at
from clm.ingest import demo
from tests.automation.world import quiet_settings

EXTRA = pd.DataFrame(  # attributes of every shape the conditions compare
    {
        "customer_id": ["x1", "x2", "x3", "x4", "x5"],
        "email": ["x1@example.com", None, "x3@example.com", "x4@example.com", "x5@example.com"],
        "card_usage": ["rare", "never", "1", "true", None],
        "tier": ["gold", "Gold", "gold ", "silver", "gold"],
        "ok": pd.array([True, True, False, None, True], dtype="boolean"),
    }
)


def _world(ws: Workspace) -> list[tuple[int, Any]]:
    ws.config_set("clv.enabled", "false")
    demo.build(ws, n_profiles=300, seed=5)
    for as_of in ("2026-10-10", "2026-10-17", "2026-10-24"):
        ws.score(as_of)
    ws.import_customers(
        EXTRA,
        customer="customer_id",
        email="email",
        consent={"email": "ok"},
        attributes=["card_usage", "tier"],
    )
    return FactsCache(ws.con).all_runs


def _old_load_facts(
    con: duckdb.DuckDBPyConnection, run_id: int | None, ids: list[str]
) -> dict[str, dict[str, Any]]:
    """The loader before the tuple rows: a dict per row, per scope (the oracle)."""

    def rows(sql: str) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"ids": ids} | ({"run": run_id} if "$run" in sql else {})
        cursor = con.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

    out: dict[str, dict[str, Any]] = {c: {"customer_id": c} for c in ids}
    for row in rows(
        "SELECT customer_id, email, phone, timezone, signup_at, attributes FROM profiles "
        "WHERE customer_id IN (SELECT unnest($ids)) QUALIFY row_number() OVER "
        "(PARTITION BY customer_id ORDER BY updated_at DESC) = 1"
    ):
        attributes = json.loads(row.pop("attributes") or "{}")
        out[row["customer_id"]].update(row)
        out[row["customer_id"]].update({f"attributes.{k}": v for k, v in attributes.items()})
    for row in rows(
        "SELECT DISTINCT ON (customer_id, channel) customer_id, channel, granted FROM consents "
        "WHERE customer_id IN (SELECT unnest($ids)) ORDER BY customer_id, channel, ts DESC"
    ):
        out[row["customer_id"]][f"consent.{row['channel']}"] = bool(row["granted"])
    if run_id is None:
        return out
    for table, fields in (("scores", SCORE_FIELDS), ("clv", CLV_FIELDS)):
        for row in rows(
            f"SELECT customer_id, {', '.join(fields)} FROM {table} WHERE run_id = $run "
            "AND customer_id IN (SELECT unnest($ids))"
        ):
            out[row["customer_id"]].update(row)
    best: dict[str, tuple[float, str]] = {}
    for row in rows(
        f"SELECT customer_id, scope, {', '.join(ACTIVITY_FIELDS)} FROM activity "
        "WHERE run_id = $run AND customer_id IN (SELECT unnest($ids))"
    ):
        cid, scope = row.pop("customer_id"), row.pop("scope")
        suffix = "" if scope == "all" else f".{scope}"
        out[cid].update({f"{k}{suffix}": v for k, v in row.items()})
        if scope != "all" and row["v_long"] > best.get(cid, (0.0, ""))[0]:
            best[cid] = (row["v_long"], scope)
    for cid, (_, scope) in best.items():
        out[cid]["top_category"] = scope
    for row in rows(
        "SELECT customer_id, category FROM next_best WHERE run_id = $run AND rank = 1 "
        "AND customer_id IN (SELECT unnest($ids))"
    ):
        out[row["customer_id"]]["next_best_category"] = row["category"]
    return out


def _known(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every customer a schedule trigger fired for before the audience moved into SQL."""
    rows = con.execute(
        "SELECT customer_id FROM profiles UNION "
        "SELECT customer_id FROM scores WHERE customer_id IS NOT NULL ORDER BY 1"
    ).fetchall()
    return [str(r[0]) for r in rows]


@pytest.mark.slow  # builds a small demo world: about 10 s
def test_facts_at_matches_the_per_time_and_row_loaders(ws: Workspace) -> None:
    runs = _world(ws)
    customers = _known(ws.con)
    times = [datetime(2026, 10, 17, 12), datetime(2026, 10, 18, 3), datetime(2026, 10, 26, 9)]
    wanted = [(c, t + timedelta(minutes=i % 7)) for i, c in enumerate(customers) for t in times]
    bulk = FactsCache(ws.con).at(wanted)
    per_time = FactsCache(ws.con)
    assert bulk == {(c, t): per_time.many([c], t)[c] for c, t in wanted}
    for t in times:
        run = run_at(runs, t)
        new = load_facts(ws.con, run[0] if run else None, customers)
        old = _old_load_facts(ws.con, run[0] if run else None, customers)
        assert new == old
        assert [list(f) for f in new.values()] == [list(f) for f in old.values()]  # key order


AUDIENCES: list[tuple[dict[str, Any], bool]] = [  # (audience, translated exactly)
    ({"segment": {"in": ["Champions", "Loyal Customers"]}}, True),
    ({"segment": "At Risk Customers", "consent.email": True}, True),
    ({"timezone": "Europe/Berlin"}, True),
    ({"attributes.card_usage": {"in": ["never", "rare"]}}, True),
    ({"attributes.tier": "gold"}, True),
    ({"attributes.card_usage": "true"}, True),
    ({"consent.email": False}, True),
    ({"all": [{"segment": {"in": ["Champions"]}}, {"consent.sms": True}]}, True),
    ({"attributes.card_usage": 1}, False),  # a number: Python compares it
    ({"segment": {"not_in": ["Champions"]}}, False),
    ({"any": [{"segment": "Champions"}, {"attributes.tier": "silver"}]}, False),
    ({"recency_days": {"below": 60}, "segment": {"in": ["Champions", "Hibernating"]}}, False),
    ({"not": {"segment": "Champions"}}, False),
]


@pytest.mark.slow  # builds a small demo world: about 10 s
def test_schedule_candidates_keep_every_audience_member(ws: Workspace) -> None:
    runs = _world(ws)
    customers = _known(ws.con)
    for t in (datetime(2026, 10, 17, 9), datetime(2026, 10, 26, 9)):
        run = run_at(runs, t)
        run_id = run[0] if run else None
        facts = FactsCache(ws.con).at([(c, t) for c in customers])
        for condition, exact in AUDIENCES:
            members = {c for c in customers if conditions.holds(condition, facts[(c, t)])}
            found = audience.schedule_candidates(ws.con, condition, run_id, t)
            assert found == sorted(found)
            assert members <= set(found), (condition, t)
            if exact:
                assert members == set(found), (condition, t)
        assert audience.schedule_candidates(ws.con, None, run_id, t) == customers
    segments = {c for c in customers if facts[(c, t)].get("segment") == "Champions"}
    assert 0 < len(segments) < len(customers)  # the world has something to filter


NEWSLETTER = """name: newsletter
trigger: {schedule: {every: 'daily at 09:00'}}
reentry: always
audience: {segment: {in: [Champions, Loyal Customers, At Risk Customers]}, consent.sms: false}
goal: {event: purchase, window: 3d}
steps:
  - id: issue
    type: send
    channel: email
    template: {subject: "News for {{ segment }}", text: "Hello {{ customer_id }}."}
"""


def _state(ws: Workspace) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "enrolments": ws.con.execute("SELECT * FROM enrolments ORDER BY ALL").fetchall(),
        "decisions": ws.con.execute(
            "SELECT * EXCLUDE (recorded_at) FROM decisions ORDER BY ALL"
        ).fetchall(),
        "messages": ws.con.execute(
            "SELECT message_id, customer_id, channel, content, not_before FROM outbox ORDER BY ALL"
        ).fetchall(),
    }


@pytest.mark.slow  # builds a small demo world and runs four days twice: about 20 s
def test_schedule_enrols_as_the_per_customer_path(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    _world(ws)
    quiet_settings(ws)
    (ws.root / "definitions" / "automations" / "newsletter.yaml").write_text(NEWSLETTER)
    ws.run("2026-10-27", since="2026-10-23")
    fast = _state(ws)
    for table in (  # the blank state of a dry run (runner._dry), and the outbox
        "enrolments",
        "decisions",
        "crossing_states",
        "crossing_runs",
        "automation_clock",
        "outbox",
    ):
        ws.con.execute(f"DELETE FROM {table}")
    universe = _known(ws.con)
    monkeypatch.setattr(triggers, "schedule_candidates", lambda *_: universe)
    ws.run("2026-10-27", since="2026-10-23")
    assert _state(ws) == fast
    newsletter = [e for e in fast["enrolments"] if e[1] == "newsletter"]
    assert len(newsletter) > 10 and len(fast["messages"]) > 5


def _old_crossings(
    con: duckdb.DuckDBPyConnection,
    runs: list[tuple[int, Any]],
    score: str,
    scope: str,
    above: float,
    rearm: float,
) -> tuple[set[tuple[str, datetime, float]], dict[str, bool]]:
    """The per-customer walk the SQL replaced: a baseline (the first run), then
    :func:`triggers.cross` for every customer of each later run (the oracle)."""
    table = triggers.SCORE_TABLE.get(score, "activity")
    states: dict[str, bool] = {}
    fired: set[tuple[str, datetime, float]] = set()
    for i, (run_id, as_of) in enumerate(runs):
        extra = f" AND scope = '{scope}'" if table == "activity" else ""
        values = con.execute(
            f"SELECT customer_id, {score}::DOUBLE FROM {table} WHERE run_id = ? "
            f"AND customer_id IS NOT NULL AND {score} IS NOT NULL{extra}",
            [run_id],
        ).fetchall()
        for cid, value in values:
            before = states.get(cid, value < above if i == 0 else True)
            states[cid], hit = triggers.cross(before, value, above, rearm)
            if hit and i > 0:
                fired.add((cid, knowledge_time(as_of), value))
    return fired, states


CROSSINGS = [  # (score, category, above, rearm_below)
    ("activity", None, 60.0, 45.0),
    ("rising", "beauty", 1.0, 1.0),
    ("trend", "fashion", 1.05, 0.95),
    ("m_score", None, 5.0, 4.0),
]


@pytest.mark.slow  # builds a small demo world: about 10 s
def test_crossings_in_sql_fire_as_the_per_customer_walk(ws: Workspace) -> None:
    runs = _world(ws)  # as of 10-10, 10-17, 10-24 and the demo's own 10-31
    walk = runs[:3]
    start, end = knowledge_time(walk[0][1]), knowledge_time(walk[2][1])
    fired_somewhere = 0
    for score, category, above, rearm in CROSSINGS:
        trigger: dict[str, Any] = {"score": score, "above": above, "rearm_below": rearm}
        if category:
            trigger["category"] = category
        spec = {
            "name": f"x-{score}",
            "trigger": {"score_crossing": trigger},
            "steps": [{"id": "end", "type": "exit"}],
        }
        automation = Automation.from_spec(spec, "test.yaml")
        found = triggers.occurrences(triggers.crossings(ws.con, automation, start, end, runs))
        scope = category or "all"
        expected, states = _old_crossings(ws.con, walk, score, scope, above, rearm)
        assert {(o.customer_id, o.at) for o in found} == {(c, t) for c, t, _ in expected}
        assert all(o.key.startswith(f"crossing:{scope}:") for o in found)
        stored = ws.con.execute(
            "SELECT customer_id, armed FROM crossing_states WHERE automation = ? AND scope = ?",
            [automation.name, scope],
        ).fetchall()
        assert dict(stored) == states
        fired_somewhere += len(found)
    assert fired_somewhere > 0


def test_a_json_boolean_attribute_is_left_to_python(tmp_path: Any) -> None:
    """``attributes.vip: "True"`` holds for ``{"vip": true}`` in Python (text compared
    ignoring case); the SQL narrowing must not drop that customer."""
    ws = Workspace.init(tmp_path / "w")
    try:
        ws.import_customers(
            pd.DataFrame({"id": ["c1", "c2"], "email": ["a@x.org", "b@x.org"]}),
            customer="id",
            email="email",
        )
        ws.con.execute(
            "UPDATE profiles SET attributes = ? WHERE customer_id = 'c1'",
            [json.dumps({"vip": True})],
        )
        facts = load_facts(ws.con, None, ["c1"])["c1"]
        at = datetime(2026, 2, 1)
        for wanted in ("True", "true", {"in": ["TRUE", "yes"]}):
            audience_ = {"attributes.vip": wanted}
            assert conditions.holds(audience_, facts), wanted
            assert "c1" in audience.schedule_candidates(ws.con, audience_, None, at), wanted
    finally:
        ws.close()
