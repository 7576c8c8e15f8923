"""Automations inside a real ``clm serve``: an event sent to the API triggers an automation
within seconds and a real SMTP server on 127.0.0.1 receives the message once (issue 6,
item 8)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from clm import Workspace
from clm.api.keys import KeyStore
from tests.api import server
from tests.automation.servers import SmtpSink, smtp_server
from tests.automation.world import automation, people

WELCOME = """\
name: welcome
trigger: {event: {type: signup}}
goal: {event: purchase, window: 14d}
steps:
  - id: hello
    type: send
    channel: email
    template: {subject: "Welcome {{ customer_id }}", text: Hello}
"""


def test_a_live_event_triggers_an_automation_within_seconds(tmp_path: Path) -> None:
    sink = SmtpSink()
    with smtp_server(sink) as port:
        root = tmp_path / "ws"
        with Workspace.init(root) as ws:
            people(ws)
            for key, value in {
                "automation.holdout_share": "0",
                "automation.global_control_share": "0",
                "automation.quiet_hours": '""',
                "channels.email.smtp_host": "127.0.0.1",
                "channels.email.smtp_port": str(port),
                "channels.email.sender": "shop@example.com",
            }.items():
                ws.config_set(key, value)
            automation(ws, "welcome", WELCOME)
        _, key = KeyStore(root).create("ingest")
        now = datetime.now(UTC).isoformat()
        with server.running(root, tmp_path / "serve.log") as url:
            for who in ("a", "c"):  # c withdrew email consent: nothing may reach c
                answer = httpx.post(
                    f"{url}/v1/track",
                    auth=(key, ""),
                    json={
                        "userId": who,
                        "event": "signup",
                        "messageId": f"su-{who}",
                        "timestamp": now,
                    },
                )
                assert answer.status_code == 200
            deadline = time.monotonic() + 30
            while sink.count() < 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            waited = 30 - (deadline - time.monotonic())
            time.sleep(1.0)  # anything else that would arrive, arrives
        assert sink.count() == 1, (sink.count(), (tmp_path / "serve.log").read_text()[-2000:])
        assert waited < 15
        [received] = sink.received
        assert received.recipients == ["a@example.com"]
        assert received.message["Subject"] == "Welcome a"
    with Workspace.open(root) as ws:
        kinds = [d["kind"] for d in ws.why("a")]
        assert "enrolled" in kinds and "sent" in kinds and "message_sent" in kinds
        assert "sent" not in [d["kind"] for d in ws.why("c")]
