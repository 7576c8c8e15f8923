"""Local delivery into a folder: every message a file, nothing leaves the machine.

For demos, rehearsals and staging workspaces: ``channels.<name>.folder`` (a path, relative
to the workspace) makes a channel write each message as one JSON file named by its
message id (``<folder>/<message_id>.json``; an email also gets an ``.eml`` beside it, a
real MIME message a mail client opens). Writing the same message again replaces the
file, so a re-send after a crash leaves one copy.
"""

from __future__ import annotations

import json
import os
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

from clm.automation.channels.base import OutgoingMessage, SendResult


class FolderChannel:
    """A channel whose provider is a folder."""

    after_crash: Literal["resend"] = "resend"

    def __init__(self, name: str, folder: Path, sender: str = "") -> None:
        self.name = name
        self.folder = folder
        self.sender = sender

    def send(self, message: OutgoingMessage) -> SendResult:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            record = {
                "message_id": message.message_id,
                "channel": self.name,
                "automation": message.automation,
                "variant": message.variant,
                "customer_id": message.customer_id,
                "not_before": message.not_before.isoformat(),
                "content": message.content,
            }
            _write(self.folder / f"{message.message_id}.json", json.dumps(record, indent=2))
            if self.name == "email":
                _write(self.folder / f"{message.message_id}.eml", self._mime(message))
        except OSError as exc:
            return SendResult("retry", f"cannot write to {self.folder}: {exc.strerror}")
        return SendResult("sent", provider_id=str(self.folder / message.message_id))

    def _mime(self, message: OutgoingMessage) -> str:
        mail = EmailMessage()
        mail["From"] = self.sender or "clm@localhost"
        mail["To"] = str(message.content.get("to", ""))
        mail["Subject"] = str(message.content.get("subject", ""))
        mail["Message-ID"] = f"<{message.message_id}@clm>"
        mail.set_content(str(message.content.get("text") or ""))
        if message.content.get("html"):
            mail.add_alternative(str(message.content["html"]), subtype="html")
        return mail.as_string()


def _write(path: Path, text: str) -> None:
    temp = path.with_suffix(path.suffix + ".tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)
