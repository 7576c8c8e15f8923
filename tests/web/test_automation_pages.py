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
}


def arm(arm: str, variant: str | None, n: int, funnel: tuple[int, ...], revenue: float) -> dict:
    sent, delivered, opened, clicked, converted = funnel
    return {"arm": arm, "variant": variant, "n": n, "enrolled": n, "sent": sent,
            "delivered": delivered, "opened": opened, "clicked": clicked,
            "converted": converted, "revenue": revenue, "cost": 0.01 * sent,
            "profit": revenue - 0.01 * sent}  # fmt: skip


def interval(estimate: float, low: float, high: float, p: float | None = None) -> dict:
    return {"estimate": estimate, "ci": [low, high], "p_value": p}


def effect(variant: str | None, metric: str, absolute: dict, chance: float) -> dict:
    return {"arm": "treatment", "variant": variant, "metric": metric, "absolute": absolute,
            "relative": {"estimate": 0.5, "ci": [0.06, 0.94]}, "chance_to_win": chance}  # fmt: skip


WORTH = {
    "treated": 1350, "control": 150, "population": 1500, "cost": 13.38,
    "conversions": interval(43.0, 5.1, 80.9, 0.03),
    "revenue": interval(2_150.25, 310.0, 3_990.5, 0.02),
    "profit": {"estimate": None, "ci": [None, None], "p_value": None,
               "reason": "the control group has no revenue variance"},
}  # fmt: skip
REPORT = {
    "automation": "welcome",
    "margin": 0.4,
    "holdout_share": 0.1,
    "metrics": {"converted": "conversion", "revenue": "mean"},
    "arms": [
        arm("control", None, 150, (0, 0, 0, 0, 12), 600.0),
        arm("treatment", "A", 675, (670, 660, 300, 90, 81), 4_300.5),
        arm("treatment", "B", 675, (668, 655, 280, 70, 70), 3_900.0),
    ],
    "effects": [
        effect("A", "converted", interval(0.04, 0.0047, 0.0753, 0.0265), 0.987),
        effect("B", "converted", interval(0.0237, -0.0098, 0.0572, 0.165), 0.917),
        effect(None, "revenue", {"estimate": None, "ci": [None, None], "p_value": None,
                                 "reason": "zero variance in both arms"}, None),
    ],
    "worth": WORTH,
    "worth_by_variant": [],
    "srm": {"p_value": 0.64, "flag": False, "statistic": 0.2,
            "expected": {"control": 0.1, "treatment": 0.9}},
    "daily": [
        {"day": f"2026-10-{d:02d}", "treated": 50 * d, "control": 5 * d,
         "effects": {"converted": {"estimate": 0.001 * d,
                                   "ci": [0.001 * d - 0.05, 0.001 * d + 0.05]},
                     "revenue": {"estimate": None, "ci": [None, None], "reason": "too few"}},
         "worth": {}}
        for d in range(1, 29)
    ],
}  # fmt: skip
RANKING = {
    "automations": [{"automation": "welcome", "rank": 1, "enrolled": 1500, "margin": 0.4,
                     "worth": WORTH, "srm": REPORT["srm"]}],
    "programme": {"treated_customers": 1400, "global_control_customers": 120, "worth": WORTH},
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

    def report_automations(self) -> dict[str, Any]:
        return RANKING

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
    assert "— (the control group has no revenue variance)" in text  # an undefined profit
    assert "4,300.50" in text  # variant A's revenue
    shoot(page, tmp_path, "automations-shape")
    assert console.errors == []


def test_experiments_page_ranks_and_draws_effects_over_time(
    served: Served, page: Any, tmp_path: Path
) -> None:
    console = Console(page)
    sign_in(page, served, path="/experiments")
    page.wait_for_function(ALL_CHARTS_DRAWN, timeout=15_000)
    assert page.locator("[data-figure]").count() == 2  # effects, cumulative effect
    text = page.locator("main").inner_text()
    assert "4.00 % (0.47 % to 7.53 %)" in text and "98.7 %" in text
    assert "— (zero variance in both arms)" in text
    assert "1,400 treated customers, 120 in the global control group" in text
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
