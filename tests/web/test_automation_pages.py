"""The Automations, Experiments and customer pages against the documented shapes of
``ws.automations()``, ``ws.report_automation(name)``, ``ws.why(id)`` and
``ws.messages(...)``, which the automation branch adds to the facade.

Until that branch lands, a Workspace subclass supplies those four methods with data in
the documented shapes (``clm.web.automation_pages``, ``clm.web.customer_page``); the
pages, the server and the browser are the real ones.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import uvicorn
from fastapi import FastAPI

from clm import Workspace
from clm.web import create_router
from clm.web.users import UserStore
from tests.web.conftest import (
    ADMIN_KEY,
    ALL_CHARTS_DRAWN,
    PASSWORD,
    USER,
    Console,
    Served,
    free_port,
    shoot,
    sign_in,
)

AUTOMATION = {
    "name": "welcome",
    "version": 2,
    "status": "active",
    "description": "Welcome new buyers with a tip for their next category.",
    "trigger": "segment entered: First-time Customers",
    "steps": [
        {"id": "s1", "type": "send", "label": "email: welcome", "next": ["w1"]},
        {"id": "w1", "type": "wait", "label": "3 days", "next": ["b1"]},
        {"id": "b1", "type": "branch", "label": "bought again?", "next": ["x1", "s2"]},
        {"id": "s2", "type": "send", "label": "email: reminder", "next": ["x1"]},
        {"id": "x1", "type": "exit", "label": "done", "next": []},
    ],
    "enrolled": 1500,
    "updated_at": "2026-11-01T10:00:00",
}
ARMS = [
    {"arm": "control", "variant": None, "enrolled": 150, "sent": 0, "delivered": 0,
     "opened": 0, "clicked": 0, "converted": 12, "revenue": 600.0},
    {"arm": "treatment", "variant": "A", "enrolled": 675, "sent": 670, "delivered": 660,
     "opened": 300, "clicked": 90, "converted": 81, "revenue": 4_300.5},
    {"arm": "treatment", "variant": "B", "enrolled": 675, "sent": 668, "delivered": 655,
     "opened": 280, "clicked": 70, "converted": 70, "revenue": 3_900.0},
]  # fmt: skip
EFFECTS = [
    {"variant": "A", "metric": "conversion", "difference": 0.04, "ci_low": 0.0047,
     "ci_high": 0.0753, "p_value": 0.0265, "relative_lift": 0.5,
     "chance_to_beat_control": 0.987},
    {"variant": "B", "metric": "conversion", "difference": 0.0237, "ci_low": -0.0098,
     "ci_high": 0.0572, "p_value": 0.165, "relative_lift": 0.296,
     "chance_to_beat_control": 0.917},
]  # fmt: skip
REPORT = {
    "name": "welcome",
    "version": 2,
    "arms": ARMS,
    "effects": EFFECTS,
    "worth": {
        "incremental_conversions": {"value": 43.0, "ci_low": 5.1, "ci_high": 80.9},
        "incremental_revenue": {"value": 2_150.25, "ci_low": 310.0, "ci_high": 3_990.5},
        "incremental_profit": {"value": 760.1, "ci_low": -120.0, "ci_high": 1_640.2},
    },
    "cumulative": [
        {"date": f"2026-10-{d:02d}", "variant": v, "difference": 0.01 * d / 10 + (v == "A") * 0.01,
         "ci_low": 0.01 * d / 10 - 0.05, "ci_high": 0.01 * d / 10 + 0.06}
        for d in range(1, 29) for v in ("A", "B")
    ],
}  # fmt: skip
DECISIONS = [
    {"at": "2026-10-02T08:00:00", "automation": "welcome", "version": 2, "decision": "sent",
     "reason": None, "step_id": "s1", "arm": "treatment", "variant": "A"},
    {"at": "2026-10-01T08:00:00", "automation": "welcome", "version": 2,
     "decision": "enrolled", "reason": "entered First-time Customers", "step_id": None,
     "arm": "treatment", "variant": "A"},
]  # fmt: skip
MESSAGES = [
    {"automation": "welcome", "channel": "email", "variant": "A", "status": "sent",
     "not_before": "2026-10-02T08:00:00"},
]  # fmt: skip


class WithAutomations(Workspace):
    """A workspace whose facade has the automation branch's methods (documented shapes)."""

    def automations(self) -> list[dict[str, Any]]:
        return [AUTOMATION]

    def report_automation(self, name: str) -> dict[str, Any]:
        assert name == "welcome"
        return REPORT

    def why(self, customer_id: str) -> list[dict[str, Any]]:
        return DECISIONS if customer_id == "c1" else []

    def messages(self, *, customer_id: str, limit: int) -> list[dict[str, Any]]:
        return MESSAGES if customer_id == "c1" else []


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("automations") / "ws"
    with Workspace.init(root) as ws:
        ws.import_transactions(
            pd.DataFrame(
                {
                    "customer_id": ["c1", "c2"],
                    "ts": [datetime(2026, 10, 1)] * 2,
                    "amount": [20.0, 30.0],
                }
            )
        )
    UserStore(root).create(USER, PASSWORD)
    base = Workspace.open(root)

    @contextlib.contextmanager
    def open_workspace() -> Iterator[Workspace]:
        cursor = base.con.cursor()
        try:
            yield WithAutomations(base.root, base.settings, cursor)
        finally:
            cursor.close()

    app = FastAPI()
    app.include_router(create_router(open_workspace, lambda k: k == ADMIN_KEY))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield Served(f"http://127.0.0.1:{port}", root, "c1", [])
    server.should_exit = True
    thread.join(10)
    base.close()


def test_automations_page_draws_flow_funnel_and_worth(
    served: Served, page: Any, tmp_path: Path
) -> None:
    console = Console(page)
    sign_in(page, served, path="/automations")
    page.wait_for_function(ALL_CHARTS_DRAWN, timeout=15_000)
    card = page.get_by_role("region", name="welcome v2 · active")
    flow = card.get_by_role("list", name="Steps of welcome")
    assert flow.get_by_role("listitem").count() == 5
    assert "bought again? (→ x1 / s2)" in flow.inner_text()
    assert card.locator("svg.main-svg").count() >= 1
    text = card.inner_text()
    assert "2,150.25 (310.00 to 3,990.50)" in text  # incremental revenue with its CI
    assert "4,300.50" in text  # variant A's revenue
    shoot(page, tmp_path, "automations-shape")
    assert console.errors == []


def test_experiments_page_draws_effects_and_cumulative_effect(
    served: Served, page: Any, tmp_path: Path
) -> None:
    console = Console(page)
    sign_in(page, served, path="/experiments")
    page.wait_for_function(ALL_CHARTS_DRAWN, timeout=15_000)
    assert page.locator("[data-figure]").count() == 2
    text = page.locator("main").inner_text()
    assert "0.0047 to 0.0753" in text and "98.7 %" in text and "50.0 %" in text
    shoot(page, tmp_path, "experiments-shape")
    assert console.errors == []


def test_customer_page_shows_decisions_and_messages(served: Served, page: Any) -> None:
    sign_in(page, served, path="/customers/c1")
    why = page.get_by_role("region", name="Automations and why")
    assert "entered First-time Customers" in why.inner_text()
    assert why.get_by_role("row").count() == 3
    messages = page.get_by_role("region", name="Messages")
    assert "email" in messages.inner_text() and "sent" in messages.inner_text()
    page.goto(served.url + "/customers/c2")
    assert page.get_by_text("No automation has decided anything about this customer yet.")
