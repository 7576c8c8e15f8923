"""The outbox: idempotent enqueue, due times, crash recovery per channel, banners."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clm import Workspace
from clm.automation.channels import MemoryChannel, SendResult
from clm.automation.outbox import (
    OutgoingMessage,
    banner_for,
    deliver,
    enqueue,
    messages,
    requeue,
)
from clm.cli import app
from clm.store.database import transaction
from tests.automation.factory import T0, message, message_id


def test_message_ids_follow_the_contract() -> None:
    expected = hashlib.sha256(b"beauty-points|enr-1|s1").hexdigest()[:32]
    assert message(1).message_id == message_id("beauty-points", "enr-1", "s1") == expected


def test_enqueue_is_idempotent_on_the_message_id(ws: Workspace) -> None:
    first = [message(1), message(2), message(1)]
    assert enqueue(ws.con, first) == 2
    assert enqueue(ws.con, [message(1), message(3)]) == 1
    assert enqueue(ws.con, []) == 0
    rows = ws.outbox()
    assert sorted(r["customer_id"] for r in rows) == ["C1", "C2", "C3"]
    assert {(r["status"], r["attempts"], r["cost"]) for r in rows} == {("queued", 0, 0.01)}
    with pytest.raises(ValueError, match="unknown channel 'fax'"):
        enqueue(ws.con, [message(9, "fax")])


def test_only_due_messages_go_and_aware_times_are_read_as_utc(ws: Workspace) -> None:
    plus_two = timezone(timedelta(hours=2))
    later = message(
        2, not_before=(T0 + timedelta(hours=3)).replace(tzinfo=UTC).astimezone(plus_two)
    )
    enqueue(ws.con, [message(1), later])
    email = MemoryChannel("email")
    assert deliver(ws.con, {"email": email}, T0).sent == 1
    assert deliver(ws.con, {"email": email}, T0 + timedelta(hours=2, minutes=59)).sent == 0
    assert deliver(ws.con, {"email": email}, T0 + timedelta(hours=3)).sent == 1
    assert [m.customer_id for m in email.sent] == ["C1", "C2"]
    assert ws.outbox(customer_id="C2")[0]["not_before"] == (T0 + timedelta(hours=3)).isoformat()


def test_limit_and_batches(ws: Workspace) -> None:
    enqueue(ws.con, [message(i) for i in range(25)])
    email = MemoryChannel("email")
    assert deliver(ws.con, {"email": email}, T0, limit=7, batch_size=3).sent == 7
    assert deliver(ws.con, {"email": email}, T0, batch_size=4).sent == 18
    assert len({m.message_id for m in email.sent}) == 25


def crashed(ws: Workspace, *ids: str) -> None:
    """Leave messages as a process killed mid-send leaves them."""
    for mid in ids:
        ws.con.execute(
            "UPDATE outbox SET status = 'sending', attempts = 1 WHERE message_id = ?", [mid]
        )


def test_after_a_crash_emails_are_held_and_webhooks_resent_with_the_same_key(
    ws: Workspace,
) -> None:
    mail, sms = message(1), message(2, "sms", {"to": "+49", "text": "t"})
    enqueue(ws.con, [mail, sms])
    crashed(ws, mail.message_id, sms.message_id)
    email_channel, sms_channel = MemoryChannel("email", after_crash="hold"), MemoryChannel("sms")
    stats = deliver(ws.con, {"email": email_channel, "sms": sms_channel}, T0)
    assert (stats.held_after_crash, stats.resent_after_crash, stats.sent) == (1, 1, 1)
    assert email_channel.sent == [] and [m.message_id for m in sms_channel.sent] == [sms.message_id]
    held = ws.outbox(status="unknown")
    assert [r["message_id"] for r in held] == [mail.message_id]
    assert "may have arrived" in held[0]["last_error"]
    assert ws.outbox(channel="sms")[0]["attempts"] == 2  # the interrupted try counts
    # an operator decides: requeue sends it again (same Message-ID on a real SMTP channel)
    assert requeue(ws.con, [mail.message_id, sms.message_id]) == 1
    assert deliver(ws.con, {"email": email_channel}, T0).sent == 1
    # a channel that is not configured holds, too (never a blind re-send)
    other = message(3)
    enqueue(ws.con, [other])
    crashed(ws, other.message_id)
    assert deliver(ws.con, {}, T0).held_after_crash == 1


def test_a_channel_that_raises_does_not_stop_the_run(ws: Workspace) -> None:
    class Broken:
        name = "email"

        def send(self, message: object) -> SendResult:
            raise RuntimeError("boom with customer@example.org")

    enqueue(ws.con, [message(1), message(2, "sms", {"to": "+49", "text": "t"})])
    stats = deliver(ws.con, {"email": Broken(), "sms": MemoryChannel("sms")}, T0)
    assert (stats.unknown, stats.sent) == (1, 1)  # raised after its point of no return
    (row,) = ws.outbox(channel="email")
    assert row["last_error"] == "the email channel raised RuntimeError"


def test_unknown_results_and_failed_outcomes_are_recorded(ws: Workspace) -> None:
    enqueue(ws.con, [message(i) for i in range(3)])
    email = MemoryChannel(
        "email",
        outcomes=[
            SendResult("unknown", "connection broke"),
            SendResult("failed", "550 no"),
            SendResult("sent", provider_id="abc"),
        ],
    )
    stats = deliver(ws.con, {"email": email}, T0)
    assert (stats.unknown, stats.failed, stats.sent) == (1, 1, 1)
    assert sorted(r["status"] for r in messages(ws.con)) == ["failed", "sent", "unknown"]
    sent_events = ws.con.execute("SELECT count(*) FROM events WHERE type = 'message_sent'")
    assert sent_events.fetchall() == [(1,)]


def test_messages_filters(ws: Workspace) -> None:
    enqueue(ws.con, [message(1), message(2, automation="win-back"), message(3)])
    assert len(messages(ws.con, automation="win-back")) == 1
    assert len(messages(ws.con, limit=2)) == 2
    assert messages(ws.con, customer_id="C3", with_content=True)[0]["content"]["to"] == (
        "customer3@example.org"
    )
    assert "content" not in messages(ws.con)[0]
    with pytest.raises(ValueError, match="unknown status 'done'"):
        messages(ws.con, status="done")


def banner(i: int, placement: str, title: str, hours: int = 0) -> OutgoingMessage:
    return message(
        i,
        "banner",
        {"placement": placement, "content": {"title": title}},
        not_before=T0 + timedelta(hours=hours),
    )


def test_banner_for_returns_the_live_decision_and_records_impressions(ws: Workspace) -> None:
    old, new, other = banner(1, "home", "old"), banner(2, "home", "new", 1), banner(3, "cart", "x")
    enqueue(ws.con, [replace(b, customer_id="C1") for b in (old, new, other)])
    assert banner_for(ws.con, "C1", "home", T0) is None  # decided but not yet live
    deliver(ws.con, {"banner": MemoryChannel("banner")}, T0)
    shown = banner_for(ws.con, "C1", "home", T0 + timedelta(minutes=30))
    assert shown is not None and shown["content"] == {"title": "old"}
    deliver(ws.con, {"banner": MemoryChannel("banner")}, T0 + timedelta(hours=1))
    shown = ws.banner("C1", "home", T0 + timedelta(hours=2))
    assert shown is not None
    assert shown["content"] == {"title": "new"} and shown["automation"] == "beauty-points"
    assert banner_for(ws.con, "C1", "footer", T0 + timedelta(hours=2)) is None
    assert banner_for(ws.con, "C2", "home", T0 + timedelta(hours=2)) is None
    impressions = ws.con.execute(
        "SELECT customer_id, placement, ts FROM banner_impressions ORDER BY ts"
    ).fetchall()
    assert impressions == [
        ("C1", "home", T0 + timedelta(minutes=30)),
        ("C1", "home", T0 + timedelta(hours=2)),
    ]


def test_the_banner_channel_goes_live_through_workspace_deliver(ws: Workspace) -> None:
    enqueue(ws.con, [banner(1, "home", "hi")])
    assert ws.deliver(T0).sent == 1
    assert ws.banner("C1", "home", T0) is not None


def test_cli_outbox_lists_and_filters_and_config_sets_channels(tmp_path: Path) -> None:
    root = str(tmp_path / "cli")
    with Workspace.init(root) as ws:
        enqueue(ws.con, [message(1), message(2, automation="win-back")])
        ws.deliver(T0)  # email is not configured: both wait
    runner = CliRunner()
    result = runner.invoke(app, ["outbox", "-w", root, "--json", "--automation", "win-back"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["customer_id"] == "C2" and row["status"] == "queued"
    assert row["last_error"] == "waiting: channels.email.smtp_host is not set"
    result = runner.invoke(app, ["outbox", "-w", root, "--status", "queued", "--customer", "C1"])
    assert result.exit_code == 0 and "Outbox (1 newest)" in result.output
    assert "C1" in result.output and "C2" not in result.output
    result = runner.invoke(app, ["outbox", "-w", root, "--status", "sent"])
    assert result.exit_code == 0 and "No messages." in result.output
    with Workspace.open(root) as ws:
        held = message(1).message_id
        ws.con.execute("UPDATE outbox SET status = 'unknown' WHERE message_id = ?", [held])
    result = runner.invoke(app, ["outbox", "-w", root, "--requeue", held, "--requeue", "x"])
    assert result.exit_code == 0 and "Requeued 1 of 2 message(s)." in result.output
    result = runner.invoke(app, ["outbox", "-w", root, "--status", "done"])
    assert result.exit_code != 0 and "--status" in result.output
    for key, value in [
        ("channels.email.smtp_host", "127.0.0.1"),
        ("channels.email.smtp_port", "2525"),
        ("channels.sms.headers.X-Key", "abc"),
    ]:
        result = runner.invoke(app, ["config", "set", key, value, "-w", root])
        assert result.exit_code == 0, result.output
    with Workspace.open(root) as ws:
        assert ws.settings.channels.email.smtp_host == "127.0.0.1"
        assert ws.settings.channels.email.smtp_port == 2525
        assert ws.settings.channels.sms.headers == {"X-Key": "abc"}


def test_enqueue_joins_the_callers_transaction(ws: Workspace) -> None:
    with pytest.raises(RuntimeError), transaction(ws.con):
        assert enqueue(ws.con, [message(1)]) == 1
        raise RuntimeError("the decision failed after the enqueue")
    assert ws.outbox() == []  # rolled back with the caller's transaction
    with transaction(ws.con):
        enqueue(ws.con, [message(1)])
    assert len(ws.outbox()) == 1
