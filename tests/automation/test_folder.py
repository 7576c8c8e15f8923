"""Local delivery into folders: one file per message, a real MIME email beside it."""

from __future__ import annotations

import email
import json

from clm import Workspace
from clm.automation import outbox
from tests.automation.factory import T0, message


def test_messages_land_in_their_channel_folders_once(ws: Workspace) -> None:
    ws.config_set("channels.email.folder", "sent/email")
    ws.config_set("channels.email.sender", "shop@example.com")
    ws.config_set("channels.sms.folder", "sent/sms")
    mail, sms = message(1), message(2, "sms", {"to": "+491510000002", "text": "Hi"})
    outbox.enqueue(ws.con, [mail, sms])
    ws.deliver(T0)
    ws.deliver(T0)  # nothing is due twice
    statuses = {m["message_id"]: m["status"] for m in ws.outbox()}
    assert statuses == {mail.message_id: "sent", sms.message_id: "sent"}
    folder = ws.root / "sent"
    assert sorted(p.name for p in (folder / "email").iterdir()) == sorted(
        [f"{mail.message_id}.json", f"{mail.message_id}.eml"]
    )
    parsed = email.message_from_string((folder / "email" / f"{mail.message_id}.eml").read_text())
    assert parsed["Subject"] == mail.content["subject"] and parsed["To"] == mail.content["to"]
    assert parsed["From"] == "shop@example.com"
    assert parsed["Message-ID"] == f"<{mail.message_id}@clm>"
    record = json.loads((folder / "sms" / f"{sms.message_id}.json").read_text())
    assert record["content"] == {"to": "+491510000002", "text": "Hi"}
    assert record["customer_id"] == "C2"
