"""Cases that broke on DuckDB itself; each pins a workaround in clm.store.database."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from clm import Workspace

T = datetime(2024, 7, 1)


def test_orders_survive_a_shared_events_expression(ws: Workspace) -> None:
    """With DuckDB 2.0.0's projection pull-up, the RFM inputs (a union of per-profile
    aggregates over one materialized CTE of events) lost c0's only positive order."""
    lines = [("c0", -12.5)] * 5 + [("c0", 3.99), ("c1", -12.5)]
    ws.import_transactions(
        pd.DataFrame(
            {
                "event_id": [f"e{i}" for i in range(len(lines))],
                "customer_id": [c for c, _ in lines],
                "ts": [T - timedelta(microseconds=1)] * len(lines),
                "amount": [a for _, a in lines],
            }
        )
    )
    ws.score("2024-06-30")
    scores = ws.scores().set_index("customer_id")
    assert scores.loc["c0", "n_orders_life"] == 1
    assert scores.loc["c1", "n_orders_life"] == 0
    assert ws.calibration().activity.m == 3 * 3.99  # type: ignore[union-attr]
