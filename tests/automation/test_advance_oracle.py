"""The advance path against an independent computation on seeded random worlds.

Each world has random customers (an email or not, a phone or not, consents granted,
withdrawn or never asked, four time zones), a signup event each and clicks for some,
random holdout and global control shares, an email cap of one or two per week, quiet
hours 21:00-08:00, and two automations on the signup: ``news`` (priority 10, one email)
and ``promo`` (priority 1): an email in two weighted variants, a branch on the time
zone, then either a one-day wait and an SMS, or a wait for a click (two days, else an
exit) and a thank-you email. The engine runs the world in two calls (the waits cross
them); the test works out, from SPEC §6-7 and nothing of the engine but the arm and
variant assignment (:mod:`clm.experiments.assignment`), every enrolment's arm, every
decision (enrolled, skipped with its reason, moved, sent, branched, ended) with its
time, and every message with its content and ``not_before``, and compares them with the
tables.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from clm import Workspace
from clm.experiments import assignment
from tests.automation.world import automation, events

ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", None]
START, MIDDLE, END = datetime(2024, 3, 1), datetime(2024, 3, 3, 12), datetime(2024, 3, 8)
WEEK = timedelta(days=7)
NEWS = """
name: news
priority: 10
trigger: {event: {type: signup}}
steps:
  - {id: n1, type: send, channel: email, template: {subject: "News {{ customer_id }}", text: n}}
"""
PROMO = """
name: promo
priority: 1
trigger: {event: {type: signup}}
steps:
  - id: s1
    type: send
    channel: email
    variants:
      - {name: A, weight: WA, template: {subject: "A {{ customer_id }}", text: "{{ variant }}"}}
      - {name: B, weight: WB, template: {subject: "B {{ customer_id }}", text: "{{ variant }}"}}
  - {id: s2, type: branch, condition: {timezone: Europe/Berlin}, then: s3, else: s5}
  - {id: s3, type: wait, duration: 1d}
  - {id: s4, type: send, channel: sms, template: {text: "sms {{ customer_id }}"}, next: bye}
  - {id: s5, type: wait, until_event: {type: click}, timeout: 2d, on_timeout: bye}
  - {id: s6, type: send, channel: email, template: {subject: "Thanks {{ name }}!", text: t}}
  - {id: bye, type: exit}
"""


@dataclass
class Person:
    cid: str
    email: str | None
    phone: str | None
    zone: str | None
    consent_email: bool | None
    consent_sms: bool | None
    signup: datetime
    clicks: list[datetime] = field(default_factory=list)


@dataclass
class World:
    people: list[Person]
    holdout: float
    global_share: float
    cap: int
    weights: tuple[float, float]


def make_world(seed: int) -> World:
    rng = random.Random(seed)
    people = []
    for i in range(60):
        signup = START + timedelta(minutes=rng.randrange(0, 2 * 24 * 60))
        clicks = [
            signup + timedelta(minutes=rng.randrange(30, 3 * 24 * 60))
            for _ in range(rng.choice([0, 1, 1, 2]))
        ]
        people.append(
            Person(
                f"c{seed}-{i:02d}",
                f"c{i}@example.com" if rng.random() < 0.9 else None,
                f"+49151{i:07d}" if rng.random() < 0.6 else None,
                rng.choice(ZONES),
                rng.choice([True, True, True, False, None]),
                rng.choice([True, True, None]),
                signup,
                clicks,
            )
        )
    return World(
        people,
        rng.choice([0.0, 0.3]),
        rng.choice([0.0, 0.1]),
        rng.choice([1, 2, 3]),
        (float(rng.randint(1, 3)), float(rng.randint(1, 3))),
    )


def build(ws: Workspace, world: World) -> None:
    ps = world.people
    ws.import_customers(
        pd.DataFrame(
            {
                "customer_id": [p.cid for p in ps],
                "email": [p.email for p in ps],
                "phone": [p.phone for p in ps],
                "tz": [p.zone for p in ps],
                "consent_email": pd.array([p.consent_email for p in ps], dtype="boolean"),
                "consent_sms": pd.array([p.consent_sms for p in ps], dtype="boolean"),
            }
        ),
        timezone_column="tz",
        attributes=[],
    )
    settings = {
        "automation.holdout_share": str(world.holdout),
        "automation.global_control_share": str(world.global_share),
        "automation.quiet_hours": "21:00-08:00",
        "automation.frequency_caps": f"{{email = {world.cap}, sms = 2}}",
        "clv.enabled": "false",
    }
    for key, value in settings.items():
        ws.config_set(key, value)
    automation(ws, "news", NEWS)
    wa, wb = world.weights
    automation(ws, "promo", PROMO.replace("WA", str(wa)).replace("WB", str(wb)))
    events(ws, [(p.cid, "signup", p.signup.isoformat()) for p in ps])
    clicks = [(p.cid, "click", c.isoformat()) for p in ps for c in p.clicks]
    if clicks:
        events(ws, clicks)


# -- the independent computation (SPEC §6-7) ------------------------------------------------


def quiet(t: datetime, zone: str | None) -> datetime:
    """``t`` moved to 08:00 local when it falls in 21:00-08:00 in the customer's zone."""
    tz = ZoneInfo(zone or "UTC")
    local = t.replace(tzinfo=UTC).astimezone(tz)
    if time(8) <= local.time() < time(21):
        return t
    day = local.date() + timedelta(days=1 if local.time() >= time(21) else 0)
    target = datetime.combine(day, time(8), tzinfo=tz).astimezone(UTC).replace(tzinfo=None)
    return max(target, t)


def reachable(p: Person, channel: str) -> str | None:
    """None when a send on ``channel`` may go out, else the reason it may not."""
    consent, address = (
        (p.consent_email, p.email) if channel == "email" else (p.consent_sms, p.phone)
    )
    if consent is not True:
        return "consent"
    return None if address else "no_address"


Row = tuple[Any, ...]


class Expected:
    """Decisions ``(customer, automation, ts, kind, reason, step)`` and messages."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.decisions: list[Row] = []
        self.messages: list[Row] = []
        self.sent: dict[tuple[str, str], list[datetime]] = {}

    def decide(self, p: Person, name: str, t: datetime, kind: str, reason: Any, step: Any) -> None:
        self.decisions.append((p.cid, name, t, kind, reason, step))

    def send(self, p: Person, name: str, step: str, channel: str, t: datetime, **kw: Any) -> None:
        blocked = reachable(p, channel)
        if blocked is not None:
            self.decide(p, name, t, "skipped", blocked, step)
            return
        at = quiet(t, p.zone)
        if at != t:
            self.decide(p, name, t, "moved", "quiet_hours", step)
        times = self.sent.setdefault((p.cid, channel), [])
        cap = self.world.cap if channel == "email" else 2
        if sum(abs(s - at) < WEEK for s in times) >= cap:
            self.decide(p, name, t, "skipped", "cap", step)
            return
        times.append(at)
        self.decide(p, name, t, "sent", None, step)
        content = dict(kw["content"])
        content["to"] = p.email if channel == "email" else p.phone
        self.messages.append((p.cid, name, step, channel, kw.get("variant"), at, content))

    def enrol(self, p: Person, name: str, channels: list[str]) -> bool:
        if all(reachable(p, ch) is not None for ch in channels):
            self.decide(p, name, p.signup, "skipped", "consent", None)
            return False
        arm = assignment.assign(
            name,
            p.cid,
            holdout=self.world.holdout,
            global_share=self.world.global_share,
            global_key="global-control",
        )
        self.decide(p, name, p.signup, "enrolled", arm, None)
        return arm == "treatment"

    def run(self) -> None:
        # Steps at one instant go by automation priority (news first); a customer's
        # steps at different times go in time order, which is what the cap sees.
        steps: list[tuple[datetime, int, Person, str]] = []
        for p in self.world.people:
            if self.enrol(p, "news", ["email"]):
                steps.append((p.signup, 0, p, "n1"))
            if self.enrol(p, "promo", ["email", "sms"]):
                steps.append((p.signup, 1, p, "s1"))
        steps.sort(key=lambda s: (s[0], s[1]))
        later: list[tuple[datetime, int, Person, str]] = []
        for t, _, p, step in steps:
            self.step(t, p, step, later)
        later.sort(key=lambda s: (s[0], s[1]))
        for t, _, p, step in later:
            self.step(t, p, step, [])

    def step(
        self, t: datetime, p: Person, step: str, later: list[tuple[datetime, int, Person, str]]
    ) -> None:
        if step == "n1":
            content = {"subject": f"News {p.cid}", "text": "n"}
            self.send(p, "news", "n1", "email", t, content=content)
            self.decide(p, "news", t, "ended", "completed", None)
            return
        if step == "s1":
            wa, wb = self.world.weights
            variant = assignment.variant("promo|s1", p.cid, [("A", wa), ("B", wb)])
            content = {"subject": f"{variant} {p.cid}", "text": variant}
            self.send(p, "promo", "s1", "email", t, content=content, variant=variant)
            berlin = p.zone == "Europe/Berlin"
            self.decide(p, "promo", t, "branched", "s3" if berlin else "s5", "s2")
            if berlin:
                later.append((t + timedelta(days=1), 1, p, "s4"))
                return
            clicked = sorted(c for c in p.clicks if t < c <= t + timedelta(days=2))
            if clicked:
                later.append((clicked[0], 1, p, "s6"))
            else:
                self.decide(p, "promo", t + timedelta(days=2), "ended", "exit", None)
            return
        if step == "s4":
            self.send(p, "promo", "s4", "sms", t, content={"text": f"sms {p.cid}"})
        else:  # s6: the name is empty (no first_name attribute)
            self.send(p, "promo", "s6", "email", t, content={"subject": "Thanks !", "text": "t"})
        self.decide(p, "promo", t, "ended", "exit", None)


# -- the test ----------------------------------------------------------------------------------


def tables(ws: Workspace) -> tuple[list[Row], list[Row], list[Row]]:
    decisions = ws.con.execute(
        "SELECT customer_id, automation, ts, kind, reason, step_id FROM decisions"
    ).fetchall()
    messages = [
        (*r[:6], json.loads(r[6]))
        for r in ws.con.execute(
            "SELECT customer_id, automation, step_id, channel, variant, not_before, content "
            "FROM outbox"
        ).fetchall()
    ]
    states = ws.con.execute("SELECT DISTINCT state FROM enrolments").fetchall()
    return decisions, messages, states


def key(row: Row) -> str:
    return repr(row)


SEEDS = [2, 3, 6, 8]


def test_the_seeds_cover_every_guard_arm_variant_and_path() -> None:
    found: set[Any] = set()
    for seed in SEEDS:
        expected = Expected(make_world(seed))
        expected.run()
        found |= {(d[3], d[4]) for d in expected.decisions}
        found |= {(m[2], m[4]) for m in expected.messages}
    assert {
        ("skipped", "consent"),
        ("skipped", "no_address"),
        ("skipped", "cap"),
        ("moved", "quiet_hours"),
        ("enrolled", "control"),
        ("enrolled", "global_control"),
        ("branched", "s3"),
        ("branched", "s5"),
        ("s1", "A"),
        ("s1", "B"),
        ("s4", None),  # after the one-day wait
        ("s6", None),  # after a click
        ("ended", "exit"),  # also after a wait that timed out
    } <= found


@pytest.mark.parametrize("seed", SEEDS)
def test_the_engine_decides_what_the_rules_say(ws: Workspace, seed: int) -> None:
    world = make_world(seed)
    build(ws, world)
    ws.run(MIDDLE, since=START)
    ws.run(END)
    decisions, messages, states = tables(ws)
    expected = Expected(world)
    expected.run()
    assert sorted(decisions, key=key) == sorted(expected.decisions, key=key)
    assert sorted(messages, key=key) == sorted(expected.messages, key=key)
    assert states == [("ended",)]  # every enrolment over: no goal, every wait timed out
