"""The Automations, Experiments and customer pages on a real small workspace: 40 customers
sign up, one automation (send, wait, branch, send) enrols them with a holdout, ``clm run``
delivers its emails to a real SMTP server on 127.0.0.1, some customers buy (the goal).

The pages are checked against oracles queried from the tables directly (enrolments per
arm, outbox rows, decisions), not against the facade's own numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clm import Workspace
from clm.web.flow import END, Link, links
from clm.web.users import UserStore
from tests.automation.servers import SmtpSink, smtp_server
from tests.automation.world import automation, events, people, purchases, quiet_settings
from tests.web.conftest import (
    ADMIN_KEY,
    ALL_CHARTS_DRAWN,
    PASSWORD,
    USER,
    Console,
    Served,
    serve,
    shoot,
    sign_in,
)

WELCOME = """
name: welcome
description: Welcome new sign-ups, then an SMS to those who allow it
trigger:
  event: {type: signup}
holdout: 0.5
goal: {event: purchase, window: 14d}
steps:
  - id: hello
    type: send
    channel: email
    variants:
      - {name: warm, template: {subject: "Welcome {{ customer_id }}", text: "Hello"}}
      - {name: short, template: {subject: "Hi", text: "Hello"}}
  - {id: pause, type: wait, duration: 3d}
  - {id: sms-ok, type: branch, condition: {consent.sms: true}, then: nudge, else: done}
  - id: nudge
    type: send
    channel: email
    template: {subject: "Still there?", text: "Ten percent off"}
  - {id: done, type: exit}
"""
DORMANT = """
name: dormant
trigger:
  event: {type: never_happens}
steps:
  - {id: ping, type: send, channel: email, template: {subject: "Ping", text: "Ping"}}
"""
RETIRED = """
name: retired
trigger:
  event: {type: purchase}
steps:
  - {id: linger, type: wait, duration: 1d}
"""
BROKEN = """name: broken
trigger:
  event: {type: signup}
steps:
  - {id: x, type: wait}
"""
N = 40
BUYERS = [f"p{i:02d}" for i in range(0, N, 3)]


def build(root: Path, port: int) -> None:
    with Workspace.init(root) as ws:
        quiet_settings(ws, holdout=0.5)
        ws.config_set("channels.email.smtp_host", "127.0.0.1")
        ws.config_set("channels.email.smtp_port", str(port))
        ws.config_set("channels.email.sender", "shop@example.com")
        people(
            ws,
            [
                (f"p{i:02d}", f"p{i:02d}@example.com", f"+49151000{i:05d}", "UTC", True, i % 2 == 0)
                for i in range(N)
            ],
        )
        events(ws, [(f"p{i:02d}", "signup", "2024-03-01T10:00:00") for i in range(N)])
        purchases(ws, [(c, "2024-03-05T12:00:00", 25.0) for c in BUYERS])
        automation(ws, "welcome", WELCOME)
        automation(ws, "dormant", DORMANT)
        automation(ws, "broken", BROKEN)
        retired = automation(ws, "retired", RETIRED)
        ws.run("2024-03-20", since="2024-03-01")
        retired.unlink()  # its stored version stays in use
    UserStore(root).create(USER, PASSWORD)


@pytest.fixture(scope="module")
def mail() -> Iterator[tuple[SmtpSink, int]]:
    sink = SmtpSink()
    with smtp_server(sink) as port:
        yield sink, port


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, mail: tuple[SmtpSink, int]
) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("automations") / "ws"
    build(root, mail[1])
    with serve(root, "p00") as running:
        yield running


def oracle(root: Path) -> dict[str, Any]:
    """Counts straight from the tables (not through the facade's listing or reports)."""
    with Workspace.open(root) as ws:
        q = ws.con.execute
        arms = dict(
            q(
                "SELECT arm, count(*) FROM enrolments WHERE automation = 'welcome' GROUP BY arm"
            ).fetchall()
        )
        sent = q("SELECT count(*) FROM outbox WHERE automation = 'welcome'").fetchall()[0][0]
        per_variant = dict(
            q(
                "SELECT variant, count(*) FROM outbox WHERE automation = 'welcome' "
                "AND step_id = 'hello' GROUP BY variant"
            ).fetchall()
        )
        converted = q(
            "SELECT count(*) FROM enrolments WHERE automation = 'welcome' "
            "AND converted_at IS NOT NULL"
        ).fetchall()[0][0]
        treated = q(
            "SELECT customer_id FROM enrolments WHERE arm = 'treatment' ORDER BY customer_id"
        ).fetchall()
        control = q(
            "SELECT customer_id FROM enrolments WHERE arm = 'control' ORDER BY customer_id"
        ).fetchall()
    return {
        "arms": arms,
        "sent": sent,
        "per_variant": per_variant,
        "converted": converted,
        "treated": [r[0] for r in treated],
        "control": [r[0] for r in control],
    }


def get(served: Served, path: str) -> str:
    response = httpx.get(
        served.url + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
    )
    assert response.status_code == 200, response.text[:500]
    return response.text


def table_rows(html: str) -> list[list[str]]:
    """The text of the data cells of every table row."""
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", html, re.S)
    ]


def cells(html: str, row_start: str) -> list[str]:
    """The cells of the first table row whose first cell starts with ``row_start``."""
    for found in table_rows(html):
        if found and found[0].startswith(row_start):
            return found
    raise AssertionError(f"no row starting with {row_start!r}")


def test_the_list_shows_the_counts_of_the_tables(
    served: Served, mail: tuple[SmtpSink, int]
) -> None:
    truth = oracle(served.root)
    assert truth["arms"]["treatment"] > 5 and truth["arms"]["control"] > 5  # both arms exist
    html = get(served, "/automations")
    row = cells(html, "welcome")
    enrolled = truth["arms"]["treatment"] + truth["arms"]["control"]
    assert row[1] == "active" and row[2] == "1" and row[3] == "event"
    assert row[4:] == [
        str(enrolled),
        str(truth["arms"]["treatment"]),
        str(truth["arms"]["control"]),
        str(truth["sent"]),
        str(truth["converted"]),
    ]
    assert cells(html, "dormant")[4:] == ["0"] * 5
    # every email the outbox holds went through the real SMTP server
    assert len({m.recipients[0] for m in mail[0].received}) == truth["arms"]["treatment"]
    assert len(mail[0].received) == truth["sent"]


def test_an_automation_without_enrolments_says_to_run(served: Served) -> None:
    html = get(served, "/automations")
    start = html.index('id="auto-dormant"')
    section = html[start : html.index("</section>", start)]
    assert "Not measured: No enrolments yet: run <code>clm run</code>" in section


def test_an_automation_whose_file_is_gone_keeps_its_stored_flow(served: Served) -> None:
    html = get(served, "/automations")
    row = cells(html, "retired")
    assert "invalid or missing: the stored version stays in use" in row[1]
    assert row[4] == str(len(BUYERS))  # every buyer was enrolled before the file went
    start = html.index('id="auto-retired"')
    section = html[start : html.index("</section>", start)]
    assert "<strong>linger</strong> · wait 1d → end" in section
    assert "retired.yaml</code> (invalid or missing" in section


def test_a_file_with_problems_is_named_with_its_line(served: Served) -> None:
    html = get(served, "/automations")
    assert "Files with problems" in html
    problems = re.findall(r"<li><code>(.*?)</code></li>", html)
    assert any(p.startswith("definitions/automations/broken.yaml:5") for p in problems), problems


def test_the_funnel_per_arm_and_variant_matches_the_outbox(served: Served) -> None:
    truth = oracle(served.root)
    html = get(served, "/automations")
    start = html.index('id="auto-welcome"')
    section = html[start : html.index("</section>", start)]
    control = cells(section, "control")
    assert control[2] == str(truth["arms"]["control"]) and control[3] == "0"  # nothing sent
    for variant, n in truth["per_variant"].items():
        rows = table_rows(section)
        mine = [r for r in rows if r[:2] == ["treatment", variant]]
        assert len(mine) == 1, (variant, rows)
        assert int(mine[0][2]) == n  # one welcome email per treated enrolment of the variant
    assert sum(truth["per_variant"].values()) == truth["arms"]["treatment"]
    # A world this small has fewer than 30 enrolments in control: the worth says it is rough.
    assert truth["arms"]["control"] < 30
    assert f"Rough intervals: control has {truth['arms']['control']} units" in section


def test_the_flow_has_every_step_and_link_of_the_definition() -> None:
    import yaml

    steps = yaml.safe_load(WELCOME)["steps"]
    assert links(steps) == [
        Link("hello", "pause"),
        Link("pause", "sms-ok"),
        Link("sms-ok", "nudge", "yes"),
        Link("sms-ok", "done", "no"),
        Link("nudge", "done"),
    ]
    tail = [{"id": "a", "type": "wait", "until_event": {"type": "x"}, "timeout": "1d"}]
    assert links(tail) == [Link("a", END, "event"), Link("a", END, "timeout")]


def test_automations_page_draws_flow_funnel_and_worth(
    served: Served, page: Any, tmp_path: Path
) -> None:
    console = Console(page)
    sign_in(page, served, path="/automations")
    page.wait_for_function(ALL_CHARTS_DRAWN, timeout=15_000)
    card = page.locator("#auto-welcome")
    steps = card.get_by_role("list", name="Steps of welcome")
    assert steps.get_by_role("listitem").count() == 5
    assert "yes: nudge, no: done" in steps.inner_text()
    assert card.get_by_role("img", name=re.compile("^Flow of welcome")).count() == 1
    assert card.locator("svg.flow-svg g.flow-box").count() == 6  # trigger and 5 steps (done exits)
    assert card.locator("svg.main-svg").count() >= 1  # the funnel chart
    assert "Incremental revenue" in card.inner_text()
    shoot(page, tmp_path, "automations")
    assert console.errors == []


def test_experiments_page_measures_the_automation(
    served: Served, page: Any, tmp_path: Path
) -> None:
    truth = oracle(served.root)
    console = Console(page)
    sign_in(page, served, path="/experiments")
    page.wait_for_function(ALL_CHARTS_DRAWN, timeout=15_000)
    text = page.locator("main").inner_text()
    assert "welcome" in text and "dormant" not in text  # only measured automations
    enrolled = truth["arms"]["treatment"] + truth["arms"]["control"]
    row = page.get_by_role("row", name=re.compile(r"^1\s+welcome"))
    assert f"{enrolled}" in row.inner_text()
    shoot(page, tmp_path, "experiments")
    assert console.errors == []


def test_customer_page_shows_enrolment_decisions_and_messages(
    served: Served, page: Any, tmp_path: Path
) -> None:
    truth = oracle(served.root)
    treated, control = truth["treated"][0], truth["control"][0]
    console = Console(page)
    sign_in(page, served, path=f"/customers/{treated}")
    page.wait_for_function(ALL_CHARTS_DRAWN, timeout=15_000)
    why = page.get_by_role("region", name="Automations and why")
    enrolment = why.get_by_role("table", name="Enrolments").inner_text()
    assert "welcome v1" in enrolment and "treatment" in enrolment
    decisions = why.get_by_role("list", name=f"Decisions about {treated}").get_by_role("listitem")
    with Workspace.open(served.root) as ws:
        expected = [r["text"] for r in ws.why(treated)][::-1]  # the sentences, newest first
        outbox = ws.con.execute(
            "SELECT channel, status, step_id FROM outbox WHERE customer_id = ? "
            "ORDER BY created_at DESC, not_before DESC, message_id",
            [treated],
        ).fetchall()
    assert [t.split(" · ", 1)[1] for t in decisions.all_inner_texts()] == expected
    assert expected[-1].startswith("Enrolled in welcome (v1)")
    messages = page.get_by_role("region", name="Messages").get_by_role("row")
    assert messages.count() == len(outbox) + 1 >= 2  # header and one row per message
    for i, (channel, status, step) in enumerate(outbox, start=1):
        text = messages.nth(i).inner_text()
        assert channel in text and status in text and step in text
    assert "messages (outbox)" in page.locator("#h-timeline + p + div").get_attribute("data-figure")
    shoot(page, tmp_path, "customer-automations")
    page.goto(f"{served.url}/customers/{control}")
    assert page.get_by_text("No messages to this customer.").is_visible()
    assert "control (the automation's holdout" in why.inner_text()
    assert console.errors == []


def test_every_customers_enrolments_are_the_tables(served: Served) -> None:
    words = {
        "active": "active",
        "waiting": "waiting for an event",
        "completed": "steps done",
        "converted": "converted",
        "ended": "ended without a conversion",
    }
    with Workspace.open(served.root) as ws:
        rows = ws.con.execute(
            "SELECT customer_id, automation, arm, variant, state FROM enrolments "
            "ORDER BY customer_id"
        ).fetchall()
    assert {r[4] for r in rows} >= {"converted", "ended"}  # the oracle covers both endings
    for customer, name, arm, variant, state in rows:
        html = get(served, f"/customers/{customer}")
        row = cells(html, f"{name} v1")
        shown_arm = arm.replace("_", " ") + (f" · {variant}" if variant else "")
        assert row[1] == shown_arm and row[3].startswith(words[state]), (customer, row)
