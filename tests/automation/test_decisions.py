"""Decisions made without the dataclass ``__init__`` equal the ones made with it, and
:func:`record` stores them under the ids their Python form gives."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import pytest

from clm import Workspace
from clm.automation.decisions import Decision, make, record

T = datetime(2024, 3, 1, 10, 30)


@pytest.mark.parametrize(
    "more",
    [
        {},
        {"enrolment_id": "e1", "step_id": "s", "reason": "cap", "channel": "email"},
        {"message_id": "m", "variant": "B", "cost": 0.01, "not_before": T, "detail": "x"},
        {"scope": "event:1", "detail": "occurrence"},
    ],
)
def test_make_equals_the_dataclass(more: dict[str, Any]) -> None:
    made = make(T, "promo", 2, "c1", "sent", **more)
    built = Decision(T, "promo", 2, "c1", "sent", **more)
    assert made == built
    assert hash(made) == hash(built)
    assert made.decision_id == built.decision_id
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.kind = "skipped"  # type: ignore[misc]


def test_make_refuses_an_unknown_field() -> None:
    with pytest.raises(TypeError, match="colour"):
        make(T, "promo", 2, "c1", "sent", colour="red")


def test_record_stores_each_decision_under_its_python_id(ws: Workspace) -> None:
    """:func:`record` computes the ids in SQL: they are the dataclass's, every column is
    stored as given, and a second record of the same decisions adds nothing."""
    at = datetime(2024, 3, 1, 10, 30, 0, 250)
    made = [
        make(
            T,
            "promo",
            2,
            "c1",
            "sent",
            enrolment_id="e1",
            step_id="s1",
            channel="email",
            message_id="m1",
            variant="B",
            cost=0.01,
            not_before=at,
            detail="email message",
        ),
        make(at, "promo", 2, "c1", "moved", enrolment_id="e1", step_id="s1", reason="quiet_hours"),
        make(T, "promo", None, "c2", "skipped", scope="event:9", reason="audience", detail="ü'|x"),
        Decision(T, "promo", 2, "c2", "ended", enrolment_id="", scope="occ", reason="exit"),
    ]
    record(ws.con, made, T)
    record(ws.con, made, T)
    rows = ws.con.execute(
        "SELECT decision_id, ts, automation, version, customer_id, kind, enrolment_id, "
        "step_id, reason, channel, message_id, variant, cost, not_before, detail, recorded_at "
        "FROM decisions ORDER BY customer_id, ts, kind"
    ).fetchall()
    expected = sorted(
        (
            (
                d.decision_id,
                d.ts,
                d.automation,
                d.version,
                d.customer_id,
                d.kind,
                d.enrolment_id,
                d.step_id,
                d.reason,
                d.channel,
                d.message_id,
                d.variant,
                d.cost,
                d.not_before,
                d.detail,
                T,
            )
            for d in made
        ),
        key=lambda r: (r[4], r[1], r[5]),
    )
    assert rows == expected
