"""Decisions made without the dataclass ``__init__`` equal the ones made with it."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import pytest

from clm.automation.decisions import Decision, make

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
