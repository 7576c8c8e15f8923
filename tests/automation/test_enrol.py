"""The set-based enrolment decision against an independent per-occurrence computation.

:func:`clm.automation.enrol.enrol` decides every occurrence in SQL; the oracle here walks
the occurrences one by one in Python, the way SPEC §6 states the rules: skip what is
already enrolled, then re-entry against the last enrolment (including the ones made
earlier in the same batch), the audience on the facts dicts of
:func:`clm.automation.facts.load_facts`, contactability on consent and address, then the
arm (:func:`clm.experiments.assignment.assign`) and the variant
(:func:`clm.automation.steps.step_variant`). Worlds, prior enrolments, occurrences and
definitions are drawn from a seed.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clm import Workspace
from clm.automation import conditions, enrolments, guards, steps, triggers
from clm.automation.decisions import Decision
from clm.automation.definitions import Automation
from clm.automation.enrol import enrol
from clm.automation.enrol_sql import unit_sql
from clm.automation.facts import FactsCache, load_facts
from clm.experiments import assignment

T0 = datetime(2026, 5, 4, 9, 30)
NOW = datetime(2026, 5, 6, 12, 0)
CARD = ["never", "rare", "often", "1", "true", None]
AUDIENCES: list[dict[str, Any] | None] = [
    None,
    {"attributes.card_usage": {"in": ["never", "rare"]}},
    {"consent.sms": True, "timezone": "Europe/Berlin"},
    {"any": [{"attributes.card_usage": 1}, {"not": {"email": {"exists": True}}}]},
    {"attributes.card_usage": {"not_in": ["often"]}, "customer_id": {"not_equals": "c3"}},
    {"top_category": {"exists": False}},  # no column: read from the facts dicts
]
CHANNELS = [["email"], ["sms"], ["push"], ["email", "sms"], ["webhook"], ["push", "email"]]
REENTRY: list[Any] = ["never", "always", {"after": "2d"}, {"after": "30d"}]


def _world(ws: Workspace, rng: random.Random, n: int) -> list[str]:
    """``n`` customers with random addresses, time zones, card usage and consents (some
    consents given twice: the later record counts)."""
    ids = [f"c{i}" for i in range(n)]

    def maybe(value: Any, p: float = 0.7) -> Any:
        return value if rng.random() < p else rng.choice([None, ""])

    def consent() -> list[bool | None]:
        return [rng.choice([True, False, None]) for _ in ids]

    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "email": [maybe(f"{c}@example.com") for c in ids],
            "phone": [maybe(f"+49151{i:07d}", 0.5) for i, _ in enumerate(ids)],
            "tz": [rng.choice(["Europe/Berlin", "Asia/Tokyo", None]) for _ in ids],
            "card_usage": [rng.choice(CARD) for _ in ids],
        }
    )
    for _ in range(2):
        for channel in ("email", "sms", "push"):
            frame[f"consent_{channel}"] = pd.array(consent(), dtype="boolean")
        ws.import_customers(frame, timezone_column="tz", attributes=["card_usage"])
    return ids


def _automation(rng: random.Random) -> Automation:
    channels = rng.choice(CHANNELS)
    send: list[dict[str, Any]] = []
    for i, channel in enumerate(channels):
        step: dict[str, Any] = {"id": f"s{i}", "type": "send", "channel": channel}
        if i == 0 and rng.random() < 0.5:
            step["variants"] = [
                {"name": "a", "weight": rng.choice([1, 0.3, 2.5])},
                {"name": "b", "weight": rng.choice([1, 0.7])},
                {"name": "c", "weight": 0.1},
            ]
        else:
            step["template"] = {"text": "hello"}
        send.append(step)
    spec: dict[str, Any] = {
        "name": f"auto-{rng.randrange(1000)}",
        "trigger": {"event": {"type": "signup"}},
        "reentry": rng.choice(REENTRY),
        "steps": [{"id": "w", "type": "wait", "duration": "1h"}, *send]
        if rng.random() < 0.3
        else send,
    }
    if rng.random() < 0.7:
        spec["goal"] = {"event": "purchase", "window": rng.choice(["7d", "36h"])}
    audience = rng.choice(AUDIENCES)
    if audience:
        spec["audience"] = audience
    if rng.random() < 0.5:
        spec["holdout"] = rng.choice([0.0, 0.25, 0.5, 1.0])
    return Automation.from_spec(spec, "x.yaml", version=rng.randint(1, 3))


def _priors(
    con: duckdb.DuckDBPyConnection, rng: random.Random, automation: Automation, ids: list[str]
) -> None:
    rows = []
    for cid in rng.sample(ids, len(ids) // 3):
        for j in range(rng.randint(1, 2)):
            at = T0 - timedelta(hours=rng.randint(1, 24 * 40))
            rows.append(
                enrolments.Enrolment(
                    enrolments.enrolment_id(automation.name, cid, f"old:{j}"),
                    automation.name,
                    1,
                    cid,
                    f"old:{j}",
                    "treatment",
                    at,
                    rng.choice(["active", "waiting", "completed", "ended", "converted"]),
                )
            )
    enrolments.insert(con, rows)


def _occurrences(rng: random.Random, automation: Automation, ids: list[str]) -> list[Any]:
    found = []
    for k in range(rng.randint(1, 3 * len(ids))):
        cid = rng.choice([*ids, "nobody"])  # an id without a profile
        at = T0 + timedelta(hours=rng.choice([0, 0, 5, 30, 60]))
        key = f"event:{k}" if rng.random() < 0.9 else f"old:{rng.randint(0, 1)}"
        found.append(triggers.Occurrence(cid, at, key, f"signup event {k}"))
    return sorted(found, key=lambda o: (o.at, o.customer_id, o.key))


def _contactable(channels: frozenset[str], facts: dict[str, Any]) -> bool:
    """Reachable on one channel: what the send path's guards let through."""
    return not channels or any(
        guards.consent_block(ch, facts) is None and guards.address_block(ch, facts) is None
        for ch in channels
    )


def _reentry(policy: Any, prior: tuple[datetime, bool] | None, at: datetime) -> str | None:
    if prior is None:
        return None
    last, is_open = prior
    if policy == "never":
        return f"already enrolled on {last:%Y-%m-%d} (never)"
    if is_open:
        return "still enrolled"
    if isinstance(policy, timedelta) and at < last + policy:
        return f"last enrolled {last:%Y-%m-%d}, again after {policy.days} days"
    return None


def _expected(
    con: duckdb.DuckDBPyConnection,
    automation: Automation,
    found: list[Any],
    policy: steps.Policy,
    quiet: frozenset[str],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], Counter[str], dict[str, str]]:
    """Enrolment rows, decision rows, counts and each enrolment's occurrence detail, one
    occurrence at a time. Ids enrolled before the batch are left out; an id found twice
    in the batch is decided twice (the second sees the first as the last enrolment), and
    the table keeps the first row of an id."""
    stored = con.execute(
        "SELECT enrolment_id, customer_id, enrolled_at, state FROM enrolments"
    ).fetchall()
    existing = {r[0] for r in stored}
    prior: dict[str, tuple[datetime, bool]] = {}
    for _, cid, at, state in sorted(stored, key=lambda r: r[2]):
        was = prior.get(cid)
        prior[cid] = (at, state in ("active", "waiting") or bool(was and was[1]))
    facts = load_facts(con, None, sorted({o.customer_id for o in found}))
    new: list[tuple[Any, ...]] = []
    logged: list[tuple[Any, ...]] = []
    counts: Counter[str] = Counter()
    why: dict[str, str] = {}
    window = automation.goal_window
    for o in found:
        eid = enrolments.enrolment_id(automation.name, o.customer_id, o.key)
        if eid in existing:
            continue
        fact = dict(facts[o.customer_id])
        fact["days_since_signup"] = fact["days_in_segment"] = None
        block = _reentry(automation.reentry, prior.get(o.customer_id), o.at)
        reason = "re_entry" if block else None
        if reason is None and automation.audience:
            block = conditions.failure(automation.audience, fact)
            reason = "audience" if block else None
        if reason is None and not _contactable(automation.channels, fact):
            block = "not contactable on " + ", ".join(sorted(automation.channels))
            reason = "consent"
        if reason is not None:
            counts[f"skipped:{reason}"] += 1
            if reason not in quiet:
                d = Decision(
                    o.at,
                    automation.name,
                    automation.version,
                    o.customer_id,
                    "skipped",
                    reason=reason,
                    detail=f"{o.detail}: {block}",
                    scope=o.key,
                )
                logged.append((d.decision_id, None, "skipped", reason, d.detail))
            continue
        arm = assignment.assign(
            automation.experiment_key,
            o.customer_id,
            holdout=automation.holdout(policy.holdout),
            global_share=policy.global_share,
            global_key=policy.global_key,
        )
        counts[f"enrolled:{arm}"] += 1
        treated = arm == "treatment"
        variant = None
        if treated:
            first = [s for s in automation.spec["steps"] if s["type"] == "send" and "variants" in s]
            variant = steps.step_variant(automation, first[0], o.customer_id) if first else None
        state = "active" if treated else ("completed" if window else "ended")
        new.append(
            (
                eid,
                automation.name,
                automation.version,
                o.customer_id,
                o.key,
                arm,
                o.at,
                state,
                automation.order[0] if treated else None,
                o.at if treated else None,
                None,
                o.at + window if window else None,
                None,
                o.at if not treated and not window else None,
                variant,
            )
        )
        d = Decision(
            o.at,
            automation.name,
            automation.version,
            o.customer_id,
            "enrolled",
            enrolment_id=eid,
            reason=arm,
            detail=o.detail,
        )
        logged.append((d.decision_id, eid, "enrolled", arm, d.detail))
        why[eid] = o.detail
        prior[o.customer_id] = (o.at, state in ("active", "waiting"))
    return new, logged, counts, why


@pytest.mark.parametrize("seed", range(20))
def test_enrol_matches_the_per_occurrence_rules(ws: Workspace, seed: int) -> None:
    rng = random.Random(seed)
    ids = _world(ws, rng, rng.randint(5, 40))
    automation = _automation(rng)
    _priors(ws.con, rng, automation, ids)
    found = _occurrences(rng, automation, ids)
    policy = steps.Policy(global_share=rng.choice([0.0, 0.1, 0.4]), holdout=rng.choice([0.0, 0.3]))
    quiet = frozenset({"audience", "re_entry"}) if seed % 3 == 0 else frozenset()
    before = set(ws.con.execute("SELECT enrolment_id FROM enrolments").fetchall())
    new, logged, counts, why = _expected(ws.con, automation, found, policy, quiet)

    batch = enrol(
        ws.con,
        automation,
        triggers.table(found),
        policy,
        [],
        NOW,
        facts_at=FactsCache(ws.con).at,
        quiet=quiet,
        objects=True,
    )

    made = ws.con.execute(
        f"SELECT {enrolments.COLUMNS} FROM enrolments ORDER BY enrolment_id"
    ).fetchall()
    first: dict[str, tuple[Any, ...]] = {}
    for row in new:
        first.setdefault(row[0], row)
    assert sorted(r for r in made if (r[0],) not in before) == sorted(first.values())
    rows = ws.con.execute(
        "SELECT decision_id, enrolment_id, kind, reason, detail FROM decisions"
    ).fetchall()
    first_logged: dict[str, tuple[Any, ...]] = {}
    for row in logged:
        first_logged.setdefault(row[0], row)
    assert sorted(rows) == sorted(first_logged.values())
    assert batch.counts == counts
    assert batch.enrolled == len(new)
    assert sorted(d.decision_id for d in batch.decisions) == sorted(r[0] for r in logged)
    assert [e.enrolment_id for e in batch.enrolments] == [r[0] for r in new]
    assert batch.why == why
    assert all(
        r[1] == NOW
        for r in ws.con.execute("SELECT decision_id, recorded_at FROM decisions").fetchall()
    )


def test_arm_shares_follow_the_settings(ws: Workspace) -> None:
    """Over 4,000 customers the global control and holdout shares are near the settings."""
    rng = random.Random(7)
    ids = [f"k{i}" for i in range(4000)]
    spec = {
        "name": "shares",
        "trigger": {"event": {"type": "signup"}},
        "reentry": "always",
        "holdout": 0.2,
        "steps": [{"id": "hook", "type": "send", "channel": "webhook", "template": {"body": {}}}],
    }
    automation = Automation.from_spec(spec, "x.yaml", 1)
    found = [triggers.Occurrence(c, T0, "k", "d") for c in ids]
    del rng
    batch = enrol(
        ws.con,
        automation,
        triggers.table(found),
        steps.Policy(global_share=0.1, holdout=0.5),
        [],
        NOW,
        facts_at=FactsCache(ws.con).at,
    )
    n = len(ids)
    assert batch.enrolled == n
    assert abs(batch.counts["enrolled:global_control"] / n - 0.1) < 0.02
    assert abs(batch.counts["enrolled:control"] / (0.9 * n) - 0.2) < 0.03


@settings(max_examples=200, deadline=None)
@given(key=st.text(max_size=20), customer=st.text(max_size=20))
def test_unit_in_sql_is_the_assignment_unit(key: str, customer: str) -> None:
    con = duckdb.connect()
    if "\x00" in key + customer:
        return  # DuckDB strings end at NUL
    got = con.execute(f"SELECT {unit_sql(key, '?')}", [customer]).fetchall()[0][0]
    assert got == assignment.unit(key, customer)
