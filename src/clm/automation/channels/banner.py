"""Web banners: the decision is the delivery.

``send`` makes the decided content live (the outbox marks it ``sent``); a page asks
for it through :func:`banner_for` (``GET /v1/banners/{customer_id}?placement=...``),
which answers with the latest live banner of that customer and placement and records
an impression in ``banner_impressions``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

import duckdb

from clm.automation.channels.base import OutgoingMessage, SendResult


class BannerChannel:
    """No provider: sending a banner only makes it live."""

    name = "banner"
    after_crash: Literal["resend"] = "resend"

    def send(self, message: OutgoingMessage) -> SendResult:
        if not isinstance(message.content.get("placement"), str):
            return SendResult("failed", "a banner message needs a placement")
        return SendResult("sent")


def banner_for(
    con: duckdb.DuckDBPyConnection, customer_id: str, placement: str, now: datetime
) -> dict[str, Any] | None:
    """The live banner of ``customer_id`` for ``placement`` (the latest sent one whose
    time has come), or None; records an impression when there is one."""
    rows = con.execute(
        """
        SELECT message_id, automation, version, variant, content
        FROM outbox
        WHERE channel = 'banner' AND status = 'sent' AND customer_id = ?
          AND json_extract_string(content, '$.placement') = ? AND not_before <= ?
        ORDER BY not_before DESC, sent_at DESC, message_id DESC
        LIMIT 1
        """,
        [customer_id, placement, now],
    ).fetchall()
    if not rows:
        return None
    message_id, automation, version, variant, content = rows[0]
    con.execute(
        "INSERT INTO banner_impressions VALUES (?, ?, ?, ?)",
        [message_id, customer_id, placement, now],
    )
    return {
        "message_id": message_id,
        "automation": automation,
        "version": version,
        "variant": variant,
        "placement": placement,
        "content": json.loads(content).get("content"),
    }
