"""Local delivery into a folder: every message a file, nothing leaves the machine.

For demos, rehearsals and staging workspaces: ``channels.<name>.folder`` (a path, relative
to the workspace) makes a channel write each message as one JSON file named by its
message id (``<folder>/<message_id>.json``; an email also gets an ``.eml`` beside it, a
real MIME message a mail client opens, written by
:mod:`clm.automation.channels.mime`). Writing the same message again replaces the
file, so a re-send after a crash leaves one copy.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from clm.automation.channels import mime
from clm.automation.channels.base import OutgoingMessage, SendResult


class FolderChannel:
    """A channel whose provider is a folder."""

    after_crash: Literal["resend"] = "resend"

    def __init__(
        self,
        name: str,
        folder: Path,
        sender: str = "",
        *,
        concurrency: int = 1,
        max_per_second: float = 0.0,
    ) -> None:
        self.name = name
        self.folder = folder
        self.sender = sender
        self.concurrency, self.max_per_second = concurrency, max_per_second

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
            data = json.dumps(record, indent=2).encode()
            _write(self.folder / f"{message.message_id}.json", data)
            if self.name == "email":
                _write(self.folder / f"{message.message_id}.eml", self._mime(message))
        except OSError as exc:
            return SendResult("retry", f"cannot write to {self.folder}: {exc.strerror}")
        except ValueError as exc:  # a header with a line break: never written
            return SendResult("failed", f"cannot build the email: {exc}")
        return SendResult("sent", provider_id=str(self.folder / message.message_id))

    def _mime(self, message: OutgoingMessage) -> bytes:
        content = message.content
        html = content.get("html")
        return mime.render(
            [
                ("From", mime.address(self.sender or "clm@localhost")),
                ("To", mime.address(str(content.get("to", "")))),
                ("Subject", mime.header_text(str(content.get("subject", "")))),
                ("Message-ID", f"<{message.message_id}@clm>"),
            ],
            str(content.get("text") or ""),
            str(html) if html else None,
            message.message_id,
        )


def _write(path: Path, data: bytes) -> None:
    temp = path.with_suffix(path.suffix + ".tmp")
    temp.write_bytes(data)
    os.replace(temp, path)
