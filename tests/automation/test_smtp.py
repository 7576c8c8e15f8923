"""Email against a real SMTP server on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from datetime import timedelta
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from clm import Workspace
from clm.automation import tracking
from clm.automation.channels import SmtpChannel
from clm.automation.outbox import enqueue
from tests.automation.factory import T0, email_content, message
from tests.automation.servers import SmtpSink, free_port, smtp_server


def configure(ws: Workspace, port: int, **extra: str) -> None:
    ws.config_set("channels.email.smtp_host", "127.0.0.1")
    ws.config_set("channels.email.smtp_port", str(port))
    ws.config_set("channels.email.sender", '"Shop <news@shop.example>"')
    for key, value in extra.items():
        ws.config_set(f"channels.email.{key}", value)


def parts(mail: Message) -> dict[str, str]:
    out = {}
    for part in mail.walk():
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            out[part.get_content_type()] = payload.decode(part.get_content_charset() or "ascii")
    return out


def test_an_email_arrives_with_headers_both_parts_and_a_deterministic_message_id(
    ws: Workspace,
) -> None:
    sink = SmtpSink()
    msg = message(1, content={**email_content(1), "subject": "Doppelte Punkte für Sie ✨"})
    enqueue(ws.con, [msg])
    with smtp_server(sink) as port:
        configure(ws, port)
        stats = ws.deliver(T0)
    assert stats.sent == 1
    (got,) = sink.received
    assert got.sender == "news@shop.example"
    assert got.recipients == ["customer1@example.org"]
    mail = got.message
    assert mail["Message-ID"] == f"<{msg.message_id}@shop.example>"
    assert str(mail["From"]) == "Shop <news@shop.example>"
    assert mail["To"] == "customer1@example.org"
    assert str(make_header(decode_header(mail["Subject"]))) == "Doppelte Punkte für Sie ✨"
    assert mail.get_content_type() == "multipart/alternative"
    body = parts(mail)
    assert body["text/plain"].replace("\r\n", "\n").rstrip("\n") == email_content(1)["text"]
    assert "<p>Hello 1</p>" in body["text/html"]
    # the outbox and the event log agree
    (row,) = ws.outbox()
    assert row["status"] == "sent" and row["attempts"] == 1 and row["sent_at"] == T0.isoformat()
    assert row["provider_id"].startswith("2.0.0 Ok")
    events = ws.con.execute(
        "SELECT event_id, customer_id, type, ts, properties FROM events"
    ).fetchall()
    assert len(events) == 1
    event_id, customer, kind, ts, props = events[0]
    assert (event_id, customer, kind, ts) == (
        f"msg:{msg.message_id}:sent",
        "C1",
        "message_sent",
        T0,
    )
    assert json.loads(props) == {
        "message_id": msg.message_id,
        "automation": "beauty-points",
        "channel": "email",
        "variant": "A",
    }
    # delivering again sends nothing
    with smtp_server(sink, port):
        assert ws.deliver(T0 + timedelta(days=1)).sent == 0
    assert len(sink.received) == 1


# aiosmtpd warns about its own deprecated Session.login_data when it authenticates
@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")
def test_login_with_the_password_from_the_environment(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = SmtpSink()
    enqueue(ws.con, [message(1), message(2)])
    with smtp_server(sink, logins={"shop": "s3cret"}) as port:
        configure(ws, port, username="shop", password_env="CLM_TEST_SMTP_PASSWORD")
        stats = ws.deliver(T0)
        assert stats.sent == 0 and stats.waiting_messages == 2
        assert "CLM_TEST_SMTP_PASSWORD" in stats.waiting["email"]
        monkeypatch.setenv("CLM_TEST_SMTP_PASSWORD", "wrong")
        stats = ws.deliver(T0)
        assert stats.retrying == 2 and sink.count() == 0
        assert "refused the login" in ws.outbox()[0]["last_error"]
        monkeypatch.setenv("CLM_TEST_SMTP_PASSWORD", "s3cret")
        assert ws.deliver(T0 + timedelta(hours=1)).sent == 2
    assert sink.count() == 2
    assert "s3cret" not in (ws.root / "clm.toml").read_text()


@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")
def test_starttls_then_login_against_a_server_with_its_own_certificate(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    monkeypatch.setenv("CLM_TEST_SMTP_PASSWORD", "s3cret")
    sink = SmtpSink()
    enqueue(ws.con, [message(1)])
    with smtp_server(sink, logins={"shop": "s3cret"}, tls=server_tls) as port:
        configure(ws, port, username="shop", password_env="CLM_TEST_SMTP_PASSWORD")
        assert ws.deliver(T0).retrying == 1  # no STARTTLS: the server offers no login
        assert "SMTPNotSupportedError" in ws.outbox()[0]["last_error"]
        monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent")
        ws.config_set("channels.email.starttls", "true")
        assert ws.deliver(T0 + timedelta(minutes=1)).retrying == 1  # an untrusted certificate
        assert "TLS with the SMTP server" in ws.outbox()[0]["last_error"]
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust it (as a private CA would be)
        assert ws.deliver(T0 + timedelta(minutes=3)).sent == 1
    assert sink.count() == 1


def test_smtp_down_messages_wait_with_backoff_and_go_out_when_it_is_back(ws: Workspace) -> None:
    port = free_port()
    configure(ws, port, backoff_seconds="60", retries="5")
    enqueue(ws.con, [message(i) for i in range(3)])
    stats = ws.deliver(T0)
    assert stats.retrying == 3 and stats.sent == 0
    rows = ws.outbox()
    assert {r["status"] for r in rows} == {"retrying"}
    assert {r["next_attempt_at"] for r in rows} == {(T0 + timedelta(seconds=60)).isoformat()}
    assert all(f"127.0.0.1:{port}" in r["last_error"] for r in rows)
    # still down a minute later: the wait doubles
    assert ws.deliver(T0 + timedelta(seconds=60)).retrying == 3
    assert {r["next_attempt_at"] for r in ws.outbox()} == {
        (T0 + timedelta(seconds=60 + 120)).isoformat()
    }
    sink = SmtpSink()
    with smtp_server(sink, port):
        assert ws.deliver(T0 + timedelta(seconds=179)).sent == 0  # not yet due
        stats = ws.deliver(T0 + timedelta(seconds=180))
    assert stats.sent == 3
    assert sorted(sink.by_message_id().values()) == [1, 1, 1]
    assert {(r["status"], r["attempts"]) for r in ws.outbox()} == {("sent", 3)}


def test_a_server_that_is_down_is_tried_three_times_per_run_not_once_per_message(
    ws: Workspace,
) -> None:
    configure(ws, free_port())
    enqueue(ws.con, [message(i) for i in range(10)])
    stats = ws.deliver(T0)
    assert (stats.retrying, stats.waiting_messages) == (3, 7)
    assert "3 tries in a row" in stats.waiting["email"]
    tries = sorted(r["attempts"] for r in ws.outbox())
    assert tries == [0] * 7 + [1] * 3


def test_a_refused_recipient_fails_with_the_server_reply(ws: Workspace) -> None:
    sink = SmtpSink(refuse_rcpt="550 5.1.1 mailbox unavailable")
    enqueue(ws.con, [message(1), message(2)])
    with smtp_server(sink) as port:
        configure(ws, port)
        stats = ws.deliver(T0)
    assert stats.failed == 2 and sink.count() == 0
    row = ws.outbox()[0]
    assert row["status"] == "failed"
    assert row["last_error"] == "RCPT TO refused: 550 5.1.1 mailbox unavailable"
    assert "example.org" not in row["last_error"]


def test_a_temporary_refusal_is_retried(ws: Workspace) -> None:
    sink = SmtpSink(refuse_rcpt="451 4.3.0 try again later")
    enqueue(ws.con, [message(1)])
    with smtp_server(sink) as port:
        configure(ws, port)
        assert ws.deliver(T0).retrying == 1
        sink.refuse_rcpt = None
        assert ws.deliver(T0 + timedelta(minutes=1)).sent == 1
    assert sink.count() == 1


def test_links_are_tracked_and_an_open_pixel_added_when_a_base_url_is_set(ws: Workspace) -> None:
    sink = SmtpSink()
    msg = message(7)
    enqueue(ws.con, [msg])
    with smtp_server(sink) as port:
        configure(ws, port, track_base_url="https://clm.shop.example/")
        ws.deliver(T0)
    html = parts(sink.received[0].message)["text/html"]
    assert f'src="https://clm.shop.example/t/o/{msg.message_id}.gif"' in html
    assert html.index("t/o/") < html.index("</body>")
    href = html.split('href="')[1].split('"')[0].replace("&amp;", "&")
    parsed = urlsplit(href)
    assert parsed.path == f"/t/c/{msg.message_id}"
    query = parse_qs(parsed.query)
    assert query["u"] == ["https://shop.example/beauty?c=7&x=1"]
    secret = tracking.workspace_secret(ws.root)
    assert tracking.verify_click(secret, msg.message_id, query["u"][0], query["s"][0])
    assert ws.record_click(msg.message_id, query["u"][0], query["s"][0], T0) == query["u"][0]
    # the text part is untouched
    assert "t/c/" not in parts(sink.received[0].message)["text/plain"]


def test_nothing_is_sent_without_settings_and_the_reason_names_the_setting(ws: Workspace) -> None:
    enqueue(ws.con, [message(1)])
    stats = ws.deliver(T0)
    assert stats.sent == 0 and stats.waiting_messages == 1
    assert stats.waiting == {"email": "waiting: channels.email.smtp_host is not set"}
    (row,) = ws.outbox()
    assert row["status"] == "queued"
    assert row["last_error"] == "waiting: channels.email.smtp_host is not set"
    ws.config_set("channels.email.smtp_host", "127.0.0.1")
    assert ws.deliver(T0).waiting == {"email": "waiting: channels.email.sender is not set"}


def test_a_kept_connection_the_server_dropped_is_reopened_before_the_point_of_no_return() -> None:
    port = free_port()
    channel = SmtpChannel("127.0.0.1", port, "news@shop.example")
    marks: list[str] = []
    first, second = SmtpSink(), SmtpSink()
    try:
        with smtp_server(first, port):
            result = channel.send_staged(message(1), lambda: marks.append("1"))
            assert result.status == "sent"
        with smtp_server(second, port):  # a new server: the kept connection is dead
            result = channel.send_staged(message(2), lambda: marks.append("2"))
            assert result.status == "sent", result.detail
    finally:
        channel.close()
    assert (first.count(), second.count(), marks) == (1, 1, ["1", "2"])
