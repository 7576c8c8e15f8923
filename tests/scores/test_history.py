"""Segment history across scoring runs, and what "as of D" means for a run."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from clm import ScoringError, Workspace


def buy(ws: Workspace, rows: list[tuple[str, str, float]]) -> None:
    ws.import_transactions(
        pd.DataFrame(
            {
                "customer_id": [r[0] for r in rows],
                "ts": [datetime.fromisoformat(r[1]) for r in rows],
                "amount": [r[2] for r in rows],
            }
        )
    )


def segment_of(ws: Workspace, customer: str) -> dict[str, object]:
    scores = ws.customer(customer)["scores"]
    assert scores is not None
    return scores


def test_previous_segment_and_since_follow_transitions(ws: Workspace) -> None:
    # Five buyers so that quintile cut points separate them; "a" buys once, then again.
    buy(
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
    first = segment_of(ws, "a")
    assert first["segment"] == "First-time Customers"
    assert first["previous_segment"] is None
    assert first["segment_since"] == "2024-01-31"

    ws.score("2024-02-29")  # nothing happened: same segment, same since
    same = segment_of(ws, "a")
    assert (same["segment"], same["segment_since"]) == ("First-time Customers", "2024-01-31")

    buy(ws, [("a", "2024-03-05", 60)])
    ws.score("2024-03-31")
    moved = segment_of(ws, "a")
    assert moved["segment"] != "First-time Customers"
    assert moved["previous_segment"] == "First-time Customers"
    assert moved["segment_since"] == "2024-03-31"


def test_rescoring_a_date_replaces_that_run(ws: Workspace) -> None:
    buy(ws, [("a", "2024-01-10", 50)])
    ws.score("2024-01-31")
    ws.score("2024-01-31")
    runs = ws.status()["scoring_runs"]
    assert [r["as_of"] for r in runs] == ["2024-01-31"]
    assert len(ws.scores()) == 1


def test_as_of_includes_the_whole_day_and_nothing_after(ws: Workspace) -> None:
    buy(
        ws,
        [
            ("a", "2024-01-31 23:59:59", 10),
            ("a", "2024-02-01 00:00:00", 99),
            ("b", "2024-02-01 00:00:00", 5),
        ],
    )
    run = ws.score("2024-01-31")
    scores = ws.scores().set_index("customer_id")
    assert list(scores.index) == ["a"]  # b has no event as of D
    assert scores.loc["a", "monetary"] == pytest.approx(10.0)
    assert scores.loc["a", "recency_days"] == 0
    assert run.as_of == date(2024, 1, 31)


def test_default_as_of_is_the_latest_event_date(ws: Workspace) -> None:
    buy(ws, [("a", "2024-05-17 08:00", 10)])
    assert ws.score().as_of == date(2024, 5, 17)


def test_bad_as_of_and_no_scores_are_clear_errors(ws: Workspace) -> None:
    with pytest.raises(ScoringError, match="not a date"):
        ws.score("31/01/2024")
    with pytest.raises(ScoringError, match="run `clm score` first"):
        ws.segments()
