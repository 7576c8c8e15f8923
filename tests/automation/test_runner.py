"""The batch runner end to end on a real DuckDB workspace: enrol, steps, guards, goals."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from clm import Workspace
from clm.errors import AutomationError
from tests.automation.world import automation, decisions, events, outbox, people, quiet_settings

SIGNUP = """
name: welcome
trigger:
  event: {type: signup}
goal: {event: purchase, window: 14d}
steps:
  - id: hello
    type: send
    channel: email
    template: {subject: "Welcome {{ customer_id }}", text: "Hello"}
  - id: pause
    type: wait
    duration: 3d
  - id: nudge
    type: send
    channel: email
    template: {subject: "Still there?", text: "Ten percent off"}
"""


@pytest.fixture
def shop(ws: Workspace) -> Workspace:
    people(ws)
    quiet_settings(ws)
    return ws


def signups(ws: Workspace, *customers: str, at: str = "2024-03-01T10:00:00") -> None:
    events(ws, [(c, "signup", at) for c in customers])


def test_sends_each_step_once_and_only_with_consent(shop: Workspace) -> None:
    automation(shop, "welcome", SIGNUP)
    signups(shop, "a", "b", "c", "d")
    stats = shop.run("2024-03-10", since="2024-03-01")
    sent = outbox(shop)
    # c withdrew email consent, d never gave it: neither is enrolled, nobody writes to them
    assert sorted({m[1] for m in sent}) == ["a", "b"]
    assert len(sent) == 4  # two steps each, three days apart
    times = sorted(m[3] for m in sent if m[1] == "a")
    assert times == [datetime(2024, 3, 1, 10), datetime(2024, 3, 4, 10)]
    skipped = {(r[0], r[3]) for r in decisions(shop, "skipped")}
    assert skipped == {("c", "consent"), ("d", "consent")}
    assert stats.counts["welcome"]["enrolled:treatment"] == 2


def test_running_again_sends_nothing_twice(shop: Workspace) -> None:
    automation(shop, "welcome", SIGNUP)
    signups(shop, "a", "b")
    shop.run("2024-03-02", since="2024-03-01")
    first = outbox(shop)
    again = shop.run("2024-03-02")  # the clock is already there: an empty window
    assert outbox(shop) == first and again.n_messages == 0
    # Wind the clock back as a crash before its update would: the same window again
    shop.con.execute("UPDATE automation_clock SET processed_until = '2024-03-01'")
    shop.run("2024-03-02")
    assert outbox(shop) == first
    n = shop.con.execute("SELECT count(*), count(DISTINCT decision_id) FROM decisions").fetchall()
    assert n[0][0] == n[0][1]
    shop.run("2024-03-10")
    assert len(outbox(shop)) == 4  # the later step, once


def test_goal_event_ends_the_enrolment_before_a_later_step(shop: Workspace) -> None:
    automation(shop, "welcome", SIGNUP)
    signups(shop, "a", "b")
    events(shop, [("a", "purchase", "2024-03-02T12:00:00")], amount=[30.0])
    shop.run("2024-03-20", since="2024-03-01")
    sent_to = [m[1] for m in outbox(shop)]
    assert sent_to.count("a") == 1 and sent_to.count("b") == 2
    states = dict(shop.con.execute("SELECT customer_id, state FROM enrolments").fetchall())
    assert states == {"a": "converted", "b": "ended"}  # b's 14-day window closed on 03-15
    converted = shop.con.execute(
        "SELECT converted_at FROM enrolments WHERE customer_id = 'a'"
    ).fetchall()[0][0]
    assert converted == datetime(2024, 3, 2, 12)


def test_the_triggering_event_is_not_its_own_conversion(shop: Workspace) -> None:
    text = SIGNUP.replace("event: {type: signup}", "event: {type: purchase}")
    automation(shop, "welcome", text)
    events(shop, [("a", "purchase", "2024-03-01T10:00:00")], amount=[30.0])
    shop.run("2024-03-03", since="2024-03-01")
    assert shop.con.execute("SELECT state FROM enrolments").fetchall() == [("active",)]


def test_control_and_global_control_receive_nothing_but_are_enrolled(shop: Workspace) -> None:
    quiet_settings(shop, holdout=0.5, global_share=0.2)
    many = [(f"p{i}", f"p{i}@example.com", None, "UTC", True, None) for i in range(200)]
    people(shop, many)
    automation(shop, "welcome", SIGNUP)
    signups(shop, *[r[0] for r in many])
    shop.run("2024-03-10", since="2024-03-01")
    arms = dict(shop.con.execute("SELECT customer_id, arm FROM enrolments").fetchall())
    assert len(arms) == 200 and set(arms.values()) == {"treatment", "control", "global_control"}
    sent_to = {m[1] for m in outbox(shop)}
    assert sent_to == {c for c, arm in arms.items() if arm == "treatment"}
    from clm.experiments.assignment import assign

    for cid, arm in arms.items():  # the arms are the deterministic assignment
        assert arm == assign("welcome", cid, holdout=0.5, global_share=0.2)


def test_reentry_never_always_after(shop: Workspace) -> None:
    times = ["2024-03-01T10:00:00", "2024-03-05T10:00:00", "2024-03-20T10:00:00"]
    results = {}
    for policy in ("never", "always", "{after: 10d}"):
        name = "w" + str(len(results))
        automation(
            shop,
            name,
            f"name: {name}\nreentry: {policy}\ntrigger: {{event: {{type: ping}}}}\n"
            "steps: [{id: s, type: send, channel: email, template: {subject: x, text: y}}]\n",
        )
        results[policy] = name
    events(shop, [("a", "ping", t) for t in times])
    shop.run("2024-03-25", since="2024-03-01")
    enrolled = dict(
        shop.con.execute("SELECT automation, count(*) FROM enrolments GROUP BY 1").fetchall()
    )
    assert enrolled[results["never"]] == 1
    assert enrolled[results["always"]] == 3
    assert enrolled[results["{after: 10d}"]] == 2  # 03-05 is too soon after 03-01
    reasons = {r[1]: r[3] for r in decisions(shop, "skipped")}
    assert reasons[results["never"]] == "re_entry"


def test_frequency_cap_lets_the_higher_priority_through(shop: Workspace) -> None:
    shop.config_set("automation.frequency_caps", "{email = 1}")
    for name, priority in (("low", 1), ("high", 9)):
        automation(
            shop,
            name,
            f"name: {name}\npriority: {priority}\nreentry: always\n"
            "trigger: {event: {type: ping}}\n"
            "steps: [{id: s, type: send, channel: email, template: {subject: x, text: y}}]\n",
        )
    events(shop, [("a", "ping", "2024-03-01T10:00:00")])
    events(shop, [("a", "ping", "2024-03-12T10:00:00")])
    shop.run("2024-03-15", since="2024-03-01")
    sent = shop.con.execute(
        "SELECT automation, not_before FROM decisions WHERE kind = 'sent' ORDER BY 2"
    ).fetchall()
    # one email per 7 days: the high-priority one each time, the low one skipped (cap)
    assert [a for a, _ in sent] == ["high", "high"]
    capped = [r for r in decisions(shop, "skipped") if r[3] == "cap"]
    assert [r[1] for r in capped] == ["low", "low"]


def test_quiet_hours_move_sends_in_the_customers_time_zone(shop: Workspace) -> None:
    shop.config_set("automation.quiet_hours", "21:00-08:00")
    automation(shop, "welcome", SIGNUP)
    # 23:30 UTC: 00:30 in Berlin (quiet), 18:30 in New York (allowed), 08:30 in Tokyo
    signups(shop, "a", "b", "e", at="2024-03-01T23:30:00")
    shop.run("2024-03-03", since="2024-03-01")
    first = {m[1]: m[3] for m in outbox(shop)}
    assert first == {
        "a": datetime(2024, 3, 2, 7, 0),  # 08:00 CET
        "b": datetime(2024, 3, 1, 23, 30),
        "e": datetime(2024, 3, 1, 23, 30),
    }
    moved = [r for r in decisions(shop, "moved")]
    assert [(r[0], r[3]) for r in moved] == [("a", "quiet_hours")]


def test_branch_and_wait_until_event(shop: Workspace) -> None:
    text = """
name: cart
trigger: {event: {type: cart}}
steps:
  - {id: wait, type: wait, until_event: {type: visit}, timeout: 2d, on_timeout: nudge}
  - {id: check, type: branch, condition: {timezone: Europe/Berlin}, then: de, else: done}
  - {id: de, type: send, channel: email, template: {subject: Hallo, text: x}, next: done}
  - {id: nudge, type: send, channel: email, template: {subject: Come back, text: x}}
  - {id: done, type: exit}
"""
    automation(shop, "cart", text)
    events(shop, [(c, "cart", "2024-03-01T10:00:00") for c in ("a", "b", "e")])
    events(shop, [("a", "visit", "2024-03-02T09:00:00"), ("b", "visit", "2024-03-02T09:00:00")])
    shop.run("2024-03-05", since="2024-03-01")
    steps = sorted(
        shop.con.execute(
            "SELECT customer_id, step_id, not_before FROM decisions WHERE kind = 'sent'"
        ).fetchall()
    )
    assert steps == [
        ("a", "de", datetime(2024, 3, 2, 9)),  # visited; lives in Berlin
        ("e", "nudge", datetime(2024, 3, 3, 10)),  # no visit: the timeout's step
    ]
    branched = {r[0]: r[3] for r in decisions(shop, "branched")}
    assert branched == {"a": "de", "b": "done"}


def test_pause_and_resume(shop: Workspace) -> None:
    automation(shop, "welcome", SIGNUP)
    signups(shop, "a")
    shop.run("2024-03-02", since="2024-03-01")
    shop.automation_pause("welcome")
    signups(shop, "b", at="2024-03-03T10:00:00")
    shop.run("2024-03-06")
    assert [m[1] for m in outbox(shop)] == ["a"]  # no new enrolment, a's step waits
    shop.automation_resume("welcome")
    shop.run("2024-03-07")
    assert [m[1] for m in outbox(shop)] == ["a", "a"]
    with pytest.raises(AutomationError, match="no automation named 'nope'"):
        shop.automation_pause("nope")


def test_new_version_keeps_running_enrolments_and_bad_edit_changes_nothing(
    shop: Workspace,
) -> None:
    path = automation(shop, "welcome", SIGNUP)
    signups(shop, "a")
    shop.run("2024-03-02", since="2024-03-01")
    path.write_text(SIGNUP.replace("Still there?", "Version two"), encoding="utf-8")
    signups(shop, "b", at="2024-03-02T10:00:00")
    stats = shop.run("2024-03-03")
    assert stats.versions == [("welcome", 2)]
    path.write_text(SIGNUP.replace("channel: email", "channel: fax"), encoding="utf-8")
    stats = shop.run("2024-03-10")
    assert stats.problems and "welcome.yaml:" in stats.problems[0]
    nudges = dict(
        shop.con.execute(
            "SELECT customer_id, version FROM decisions WHERE kind = 'sent' AND step_id = 'nudge'"
        ).fetchall()
    )
    assert nudges == {"a": 1, "b": 2}  # each on the version it enrolled on


def test_dry_run_writes_nothing(shop: Workspace) -> None:
    automation(shop, "welcome", SIGNUP)
    signups(shop, "a", "b")
    shop.run("2024-03-02", since="2024-03-01")
    tables = [
        "enrolments",
        "decisions",
        "automation_versions",
        "automation_clock",
        "crossing_states",
        "events",
    ]

    def snapshot() -> list[object]:
        return [shop.con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables]

    before, box = snapshot(), outbox(shop)
    stats = shop.run("2024-03-20", since="2024-02-20", dry_run=True)
    assert snapshot() == before and outbox(shop) == box
    assert len(stats.messages) == 4 and {m["customer_id"] for m in stats.messages} == {"a", "b"}
    assert all(m["why"] == "signup event " + m["why"].split()[-1] for m in stats.messages)
    with pytest.raises(AutomationError, match="--since"):
        shop.run("2024-03-20", dry_run=True)


def test_since_only_starts_the_first_run_and_time_does_not_go_back(shop: Workspace) -> None:
    shop.run("2024-03-02", since="2024-03-01")
    with pytest.raises(AutomationError, match="only starts the first run"):
        shop.run("2024-03-05", since="2024-03-01")
    with pytest.raises(AutomationError, match="time does not go back"):
        shop.run("2024-02-01")


def test_a_live_event_enrols_at_once_and_the_next_tick_adds_nothing(shop: Workspace) -> None:
    from clm.automation.live import on_event
    from clm.automation.runner import run_due

    automation(shop, "welcome", SIGNUP)
    signups(shop, "a")
    event = (
        shop.con.execute(
            "SELECT event_id, customer_id, type, ts, category, amount, order_id, properties "
            "FROM events WHERE type = 'signup'"
        )
        .fetchdf()
        .to_dict("records")[0]
    )
    event["ts"] = event["ts"].to_pydatetime()
    made = on_event(shop.con, shop.root, shop.settings, event)
    assert [d.kind for d in made] == ["enrolled", "sent"]
    assert [m[1] for m in outbox(shop)] == ["a"]
    assert on_event(shop.con, shop.root, shop.settings, event) == []  # seen: nothing new
    shop.con.execute("INSERT INTO automation_clock VALUES ('batch', TIMESTAMP '2024-03-01', now())")
    run_due(shop.con, shop.root, shop.settings, datetime(2024, 3, 2))
    assert [m[1] for m in outbox(shop)] == ["a"]  # the tick finds the enrolment made live
    other = dict(event, type="visit")
    assert on_event(shop.con, shop.root, shop.settings, other) == []


def test_templates_see_profile_fields_even_when_empty(shop: Workspace) -> None:
    text = SIGNUP.replace(
        'text: "Hello"', 'text: "{{ offer }}{% if next_best_category %}!{% endif %} {{ email }}"'
    ).replace("name: welcome", "name: welcome\noffer: ten percent")
    automation(shop, "welcome", text)
    signups(shop, "a")
    shop.run("2024-03-02", since="2024-03-01")
    from clm.automation import outbox as box

    [message] = box.messages(shop.con, with_content=True)
    content = message["content"]
    content = json.loads(content) if isinstance(content, str) else content
    assert content["text"] == "ten percent a@example.com"
    assert content["subject"] == "Welcome a" and content["to"] == "a@example.com"


def test_the_live_path_sees_a_changed_file(shop: Workspace) -> None:
    from clm.automation.live import on_event

    path = automation(shop, "welcome", SIGNUP)
    base = {"customer_id": "a", "type": "signup", "properties": None, "amount": None,
            "category": None, "order_id": None}  # fmt: skip
    first = on_event(shop.con, shop.root, shop.settings,
                     {**base, "event_id": "e1", "ts": datetime(2024, 3, 1, 10)})  # fmt: skip
    path.write_text(SIGNUP.replace("Still there?", "Still here?"), encoding="utf-8")
    second = on_event(shop.con, shop.root, shop.settings,
                      {**base, "event_id": "e2", "customer_id": "b",
                       "ts": datetime(2024, 3, 9, 10)})  # fmt: skip
    assert [d.version for d in first] == [1, 1] and [d.version for d in second] == [2, 2]


def test_a_loop_without_a_wait_stops_and_sends_once(shop: Workspace) -> None:
    text = """
name: loop
trigger: {event: {type: ping}}
steps:
  - {id: mail, type: send, channel: email, template: {subject: x, text: y}}
  - {id: again, type: branch, condition: {email: {exists: true}}, then: mail, else: mail}
"""
    automation(shop, "loop", text)
    events(shop, [("a", "ping", "2024-03-01T10:00:00")])
    shop.run("2024-03-02", since="2024-03-01")
    assert len(outbox(shop)) == 1  # one message per (automation, enrolment, step)
    ended = decisions(shop, "ended")
    assert [(r[0], r[3]) for r in ended] == [("a", "loop")]
