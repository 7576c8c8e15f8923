"""Messages for the outbox tests, with ids made the way the contract says."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from clm.automation.outbox import OutgoingMessage

T0 = datetime(2026, 3, 2, 9, 0)


def message_id(automation: str, enrolment_id: str, step_id: str) -> str:
    key = f"{automation}|{enrolment_id}|{step_id}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def email_content(i: int) -> dict[str, Any]:
    return {
        "to": f"customer{i}@example.org",
        "subject": f"Double points, customer {i}",
        "text": f"Hello {i},\nyour beauty points are doubled.\n.\nA line with a dot above.",
        "html": f'<html><body><p>Hello {i}</p><a href="https://shop.example/beauty?c={i}&x=1">'
        "Shop</a></body></html>",
    }


def message(
    i: int,
    channel: str = "email",
    content: dict[str, Any] | None = None,
    *,
    automation: str = "beauty-points",
    not_before: datetime = T0,
    variant: str | None = "A",
) -> OutgoingMessage:
    enrolment = f"enr-{i}"
    return OutgoingMessage(
        message_id=message_id(automation, enrolment, "s1"),
        automation=automation,
        version=1,
        enrolment_id=enrolment,
        step_id="s1",
        customer_id=f"C{i}",
        channel=channel,
        variant=variant,
        content=content if content is not None else email_content(i),
        not_before=not_before,
        cost=0.01,
    )
