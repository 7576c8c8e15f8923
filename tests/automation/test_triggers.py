"""Each trigger kind on hand-made data in a real workspace, and score-crossing hysteresis."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from clm import Workspace
from clm.automation.triggers import cross
from tests.automation.world import automation, events, people, purchases, quiet_settings

SEND = "steps: [{id: s, type: send, channel: email, template: {subject: x, text: y}}]\n"


def enrolled(ws: Workspace, name: str) -> list[tuple[str, datetime]]:
    rows = ws.con.execute(
        "SELECT customer_id, enrolled_at FROM enrolments WHERE automation = ? ORDER BY 2, 1",
        [name],
    ).fetchall()
    return [(str(c), t) for c, t in rows]


def five_buyers(ws: Workspace) -> None:
    people(ws)
    quiet_settings(ws)
    purchases(
        ws,
        [
            ("a", "2024-01-10", 50),
            ("b", "2023-03-01", 10),
            ("c", "2023-06-01", 20),
            ("d", "2023-09-01", 30),
            ("e", "2023-12-01", 40),
        ],
    )
    ws.score("2024-01-31")
    purchases(ws, [("b", "2024-02-10", 100)])
    ws.score("2024-02-29")


def test_segment_entered_fires_once_when_the_run_is_known(ws: Workspace) -> None:
    five_buyers(ws)
    automation(
        ws,
        "moved",
        "name: moved\ntrigger: {segment_entered: {segments: [Recent Customers, "
        "Falling Asleep Customers]}}\n" + SEND,
    )
    ws.run("2024-03-05", since="2024-02-25")
    # b entered Recent Customers and d Falling Asleep in the run as of 02-29 (known 03-01);
    # c has been Falling Asleep since the first run: not an entry. d has no consent.
    assert enrolled(ws, "moved") == [("b", datetime(2024, 3, 1))]
    skipped = ws.con.execute(
        "SELECT customer_id, reason, detail FROM decisions WHERE kind = 'skipped'"
    ).fetchall()
    assert [(c, r) for c, r, _ in skipped] == [("d", "consent")]
    assert "entered Falling Asleep Customers on 2024-02-29 (from First-time" in skipped[0][2]


def test_score_crossing_with_hysteresis_over_six_runs(ws: Workspace) -> None:
    people(ws, [(c, f"{c}@example.com", None, "UTC", True, None) for c in ("x", "y", "z")])
    quiet_settings(ws)
    ws.config_set("activity.enabled", "false")
    x = [
        ("x", "2024-01-05", 50),  # run 01-31: 50, the baseline (armed: below 100)
        ("x", "2024-02-10", 100),  # run 02-29: 150 -> fires
        ("x", "2024-03-10", -80),  # run 03-31: 70, not below 60: stays disarmed
        ("x", "2024-04-10", 40),  # run 04-30: 110, disarmed: no fire
        ("x", "2024-05-10", -60),  # run 05-31: 50 < 60: re-armed
        ("x", "2024-06-10", 60),  # run 06-30: 110 -> fires again
    ]
    runs = ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31", "2024-06-30"]
    extra = {
        "2024-01-31": [("z", "2024-01-20", 500)],  # above at the baseline: no fire
        "2024-04-30": [("y", "2024-04-20", 200)],  # first seen later, above: fires
    }
    for i, day in enumerate(runs):
        purchases(ws, [x[i], *extra.get(day, [])])
        ws.score(day)
    automation(
        ws,
        "big",
        "name: big\nreentry: always\n"
        "trigger: {score_crossing: {score: monetary, above: 100, rearm_below: 60}}\n" + SEND,
    )
    ws.config_set("automation.slice_hours", "168")
    ws.run("2024-07-02", since="2024-01-15")
    assert enrolled(ws, "big") == [
        ("x", datetime(2024, 3, 1)),
        ("y", datetime(2024, 5, 1)),
        ("x", datetime(2024, 7, 1)),
    ]
    # the state is per (automation, customer, scope); a second run fires nothing new
    ws.con.execute("UPDATE automation_clock SET processed_until = '2024-01-15'")
    ws.run("2024-07-02")
    assert len(enrolled(ws, "big")) == 3


def test_activity_crossing_matches_the_stored_scores(ws: Workspace) -> None:
    five_buyers(ws)
    purchases(ws, [("a", "2024-02-20", 20), ("e", "2024-02-21", 30), ("e", "2024-02-25", 30)])
    ws.score("2024-02-29")  # replaces the run of that date with these purchases included
    values = ws.con.execute(
        "SELECT r.as_of, a.customer_id, a.activity FROM activity a JOIN scoring_runs r "
        "USING (run_id) WHERE a.scope = 'all' ORDER BY 1"
    ).fetchall()
    first = {c: v for d, c, v in values if str(d) == "2024-01-31"}
    second = {c: v for d, c, v in values if str(d) == "2024-02-29"}
    above = sorted(second.values())[len(second) // 2]
    expected = sorted(c for c, v in second.items() if v >= above and first.get(c, 0) < above)
    consented = {"a", "b", "e"}
    assert expected, "the data should make someone cross"
    automation(
        ws,
        "active",
        f"name: active\ntrigger: {{score_crossing: {{score: activity, above: {above}}}}}\n" + SEND,
    )
    ws.run("2024-03-02", since="2024-02-15")
    assert [c for c, _ in enrolled(ws, "active")] == [c for c in expected if c in consented]


def test_event_trigger_with_a_property_filter_and_an_anonymous_visitor(ws: Workspace) -> None:
    people(ws)
    quiet_settings(ws)
    events(
        ws,
        [("a", "form", "2024-03-01T10:00:00"), ("b", "form", "2024-03-01T11:00:00")],
        plan=["gold", "basic"],
    )
    ws.import_events(  # an anonymous event of a visitor later linked to e
        __import__("pandas").DataFrame(
            {"anon": ["v-1"], "type": ["form"], "ts": [datetime(2024, 3, 1, 12)], "plan": ["gold"]}
        ),
        anonymous="anon",
        type_column="type",
        properties=["plan"],
    )
    ws.con.execute("INSERT INTO identities VALUES ('v-1', 'e', NULL)")
    automation(
        ws, "gold", "name: gold\ntrigger: {event: {type: form, where: {plan: gold}}}\n" + SEND
    )
    ws.run("2024-03-02", since="2024-03-01")
    assert enrolled(ws, "gold") == [
        ("a", datetime(2024, 3, 1, 10)),
        ("e", datetime(2024, 3, 1, 12)),
    ]


def test_schedule_with_audience_and_reentry(ws: Workspace) -> None:
    people(ws)
    quiet_settings(ws)
    ws.config_set("automation.frequency_caps", "{email = 10}")
    for name, reentry in (("daily", "always"), ("once", "never")):
        automation(
            ws,
            name,
            f"name: {name}\nreentry: {reentry}\n"
            "trigger: {schedule: {every: 'daily at 09:00'}}\n"
            "audience: {timezone: Europe/Berlin}\n" + SEND,
        )
    ws.run("2024-03-04", since="2024-03-01")
    # a and c live in Berlin; c withdrew consent: skipped every day, logged
    assert [c for c, _ in enrolled(ws, "daily")] == ["a", "a", "a"]
    assert enrolled(ws, "once") == [("a", datetime(2024, 3, 1, 9))]
    logged = ws.con.execute(
        "SELECT DISTINCT customer_id, reason FROM decisions WHERE kind = 'skipped'"
    ).fetchall()
    assert logged == [("c", "consent")]  # audience and re-entry skips of ticks are not logged


def test_no_conversion_hands_off_non_responders(ws: Workspace) -> None:
    people(ws)
    quiet_settings(ws)
    automation(
        ws,
        "first",
        "name: first\ntrigger: {event: {type: ping}}\ngoal: {event: purchase, window: 3d}\n" + SEND,
    )
    automation(ws, "second", "name: second\ntrigger: {no_conversion: {automation: first}}\n" + SEND)
    events(ws, [(c, "ping", "2024-03-01T10:00:00") for c in ("a", "b")])
    events(ws, [("a", "purchase", "2024-03-02T10:00:00")], amount=[25.0])
    ws.run("2024-03-08", since="2024-03-01")
    assert enrolled(ws, "second") == [("b", datetime(2024, 3, 4, 10))]  # when b's window closed
    sent = ws.con.execute(
        "SELECT automation, customer_id FROM decisions WHERE kind = 'sent' ORDER BY 1, 2"
    ).fetchall()
    assert sent == [("first", "a"), ("first", "b"), ("second", "b")]


@given(values=st.lists(st.floats(0, 200), min_size=1, max_size=40))
def test_cross_fires_once_per_rise_through_the_band(values: list[float]) -> None:
    above, rearm = 100.0, 60.0
    armed, fired = True, []
    for v in values:
        armed, hit = cross(armed, v, above, rearm)
        fired.append(hit)
    # oracle: walk the sequence with an explicit "must fall below rearm first" flag
    waiting_for_low, expected = False, []
    for v in values:
        hit = not waiting_for_low and v >= above
        if hit:
            waiting_for_low = True
        elif waiting_for_low and v < rearm:
            waiting_for_low = False
        expected.append(hit)
    assert fired == expected


def test_a_scoring_run_stored_late_is_still_evaluated(ws: Workspace) -> None:
    people(ws)
    quiet_settings(ws)
    purchases(ws, [("a", "2024-01-10", 50), ("b", "2023-03-01", 10), ("c", "2023-06-01", 20)])
    ws.score("2024-01-31")
    automation(
        ws,
        "recent",
        "name: recent\ntrigger: {segment_entered: {segments: [Recent Customers]}}\n" + SEND,
    )
    ws.run("2024-03-05", since="2024-02-25")  # the run of 01-31 is history: nothing
    assert enrolled(ws, "recent") == []
    purchases(ws, [("b", "2024-02-10", 100)])
    ws.score("2024-02-29")  # known from 03-01, stored after the clock passed 03-05
    ws.run("2024-03-06")
    assert enrolled(ws, "recent") == [("b", datetime(2024, 3, 5))]  # news when it was seen
