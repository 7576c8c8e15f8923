"""The demo's response simulator: known true effects that the measurement recovers."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from clm import Workspace
from clm.automation.measure import units_query
from clm.ingest.demo.responses import Effect, simulate
from tests.automation.world import automation, events, people, quiet_settings

OFFER = """
name: offer
holdout: 0.5
trigger: {event: {type: ping}}
goal: {event: purchase, where: {category: beauty}, window: 7d}
steps:
  - {id: mail, type: send, channel: email, template: {subject: a, text: b}}
"""


def test_measured_lift_recovers_the_true_effect(ws: Workspace) -> None:
    ids = [f"p{i:04d}" for i in range(2000)]
    people(ws, [(c, f"{c}@example.com", None, "UTC", True, None) for c in ids])
    quiet_settings(ws)
    ws.config_set("automation.frequency_caps", "{}")
    automation(ws, "offer", OFFER)
    events(ws, [(c, "ping", "2024-03-01T10:00:00") for c in ids])
    truth = {"offer": Effect(base=0.10, lift=0.10, median_amount=30.0)}
    day = datetime(2024, 3, 2)
    ws.run(day, since="2024-03-01")
    added = simulate(ws, effects=truth)
    assert simulate(ws, effects=truth) == 0  # simulating again adds nothing
    for _ in range(8):
        day += timedelta(days=1)
        ws.run(day)
    sql, params = units_query("offer")
    units = ws.con.execute(
        f"SELECT arm, count(*), avg(converted::INT), sum(converted::INT) FROM ({sql}) GROUP BY arm",
        params,
    ).fetchall()
    rates = {arm: (n, p) for arm, n, p, _ in units}
    assert sum(k for *_, k in units) == added  # every simulated conversion was recorded
    (n1, p1), (n0, p0) = rates["treatment"], rates["control"]
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    assert abs((p1 - p0) - 0.10) < 4 * se
    assert abs(p0 - 0.10) < 4 * math.sqrt(0.09 / n0)
    categories = ws.con.execute(
        "SELECT DISTINCT category FROM events WHERE event_id LIKE 'sim:%'"
    ).fetchall()
    assert categories == [("beauty",)]
