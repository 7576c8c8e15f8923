"""Small hand-made worlds for automation tests: people, events, purchases, files."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from clm import Workspace

PEOPLE = [
    # id, email, phone, timezone, email consent, sms consent
    ("a", "a@example.com", "+4915100000001", "Europe/Berlin", True, True),
    ("b", "b@example.com", None, "America/New_York", True, None),
    ("c", "c@example.com", None, "Europe/Berlin", False, None),  # withdrew
    ("d", "d@example.com", None, None, None, None),  # never asked
    ("e", "e@example.com", None, "Asia/Tokyo", True, None),
]


def people(ws: Workspace, rows: list[tuple[Any, ...]] | None = None) -> None:
    rows = rows or PEOPLE
    ws.import_customers(
        pd.DataFrame(
            {
                "customer_id": [r[0] for r in rows],
                "email": [r[1] for r in rows],
                "phone": [r[2] for r in rows],
                "tz": [r[3] for r in rows],
                "consent_email": pd.array([r[4] for r in rows], dtype="boolean"),
                "consent_sms": pd.array([r[5] for r in rows], dtype="boolean"),
            }
        ),
        timezone_column="tz",
        attributes=[],
    )


def events(ws: Workspace, rows: list[tuple[str, str, str]], **props: list[Any]) -> None:
    """Events ``(customer, type, time)``; ``props`` adds property columns."""
    frame = pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "type": [r[1] for r in rows],
            "ts": [datetime.fromisoformat(r[2]) for r in rows],
            **props,
        }
    )
    ws.import_events(frame, type_column="type", properties=list(props))


def purchases(
    ws: Workspace, rows: list[tuple[str, str, float]], category: str | None = None
) -> None:
    frame = pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "ts": [datetime.fromisoformat(r[1]) for r in rows],
            "amount": [r[2] for r in rows],
        }
    )
    if category:
        frame["category"] = category
    ws.import_transactions(frame)


def automation(ws: Workspace, name: str, text: str) -> Path:
    path = ws.root / "definitions" / "automations" / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def quiet_settings(ws: Workspace, *, holdout: float = 0.0, global_share: float = 0.0) -> None:
    """Every enrolment treated, no quiet hours: the tests that want them set them."""
    ws.config_set("automation.holdout_share", str(holdout))
    ws.config_set("automation.global_control_share", str(global_share))
    ws.config_set("automation.quiet_hours", '""')
    ws.config_set("clv.enabled", "false")
    port = os.environ.get("CLM_TEST_SMTP_PORT")  # tests/automation/conftest.py
    if port:
        ws.config_set("channels.email.smtp_host", "127.0.0.1")
        ws.config_set("channels.email.smtp_port", port)
        ws.config_set("channels.email.sender", "shop@example.com")


def outbox(ws: Workspace) -> list[tuple[Any, ...]]:
    """Every queued message as (message_id, customer, channel, not_before), sorted."""
    from clm.automation import outbox as box

    rows = box.messages(ws.con, limit=10_000)
    return sorted(
        (r["message_id"], r["customer_id"], r["channel"], datetime.fromisoformat(r["not_before"]))
        for r in rows
    )


def decisions(ws: Workspace, kind: str | None = None) -> list[tuple[Any, ...]]:
    rows = ws.con.execute(
        "SELECT customer_id, automation, kind, reason, step_id FROM decisions "
        "WHERE coalesce(kind = ?, true) ORDER BY ts, customer_id, kind",
        [kind],
    ).fetchall()
    return [tuple(r) for r in rows]
