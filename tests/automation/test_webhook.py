"""SMS, push and webhooks against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from datetime import timedelta

import pytest

from clm import ConfigError, Workspace
from clm.automation.outbox import enqueue
from tests.automation.factory import T0, message
from tests.automation.servers import HttpSink, free_port, http_server

SMS = {"to": "+4915100000001", "text": "Double points this week"}


def configure(ws: Workspace, channel: str, url: str, **extra: str) -> None:
    ws.config_set(f"channels.{channel}.url", f'"{url}"')
    for key, value in extra.items():
        ws.config_set(f"channels.{channel}.{key}", value)


def test_500_is_retried_with_exponential_backoff_then_sent_with_one_idempotency_key(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLM_TEST_SMS_TOKEN", "Bearer t0k3n")
    sink = HttpSink(statuses=[500, 503])
    msg = message(1, "sms", SMS)
    enqueue(ws.con, [msg])
    with http_server(sink) as base:
        configure(ws, "sms", f"{base}/sms", backoff_seconds="60", retries="3")
        ws.config_set("channels.sms.headers_env.Authorization", "CLM_TEST_SMS_TOKEN")
        ws.config_set("channels.sms.headers.X-Account", "shop")
        assert ws.deliver(T0).retrying == 1
        (row,) = ws.outbox()
        assert row["last_error"] == "HTTP 500 Internal Server Error"
        assert row["next_attempt_at"] == (T0 + timedelta(seconds=60)).isoformat()
        assert ws.deliver(T0 + timedelta(seconds=59)).retrying == 0  # not due yet
        assert ws.deliver(T0 + timedelta(seconds=60)).retrying == 1
        (row,) = ws.outbox()
        assert row["next_attempt_at"] == (T0 + timedelta(seconds=60 + 120)).isoformat()
        assert ws.deliver(T0 + timedelta(seconds=180)).sent == 1
    assert len(sink.requests) == 3
    for request in sink.requests:
        assert request.path == "/sms"
        assert request.headers["Idempotency-Key"] == msg.message_id
        assert request.headers["Authorization"] == "Bearer t0k3n"
        assert request.headers["X-Account"] == "shop"
        assert request.body == {"to": "+4915100000001", "text": "Double points this week"}
    (row,) = ws.outbox()
    assert (row["status"], row["attempts"], row["provider_id"]) == ("sent", 3, "prov-3")
    assert "t0k3n" not in (ws.root / "clm.toml").read_text()


@pytest.mark.parametrize(
    ("status", "reason"), [(400, "Bad Request"), (404, "Not Found"), (422, "Unprocessable")]
)
def test_4xx_fails_at_once_with_the_status_and_reason(
    ws: Workspace, status: int, reason: str
) -> None:
    sink = HttpSink(statuses=[status])
    enqueue(ws.con, [message(1, "sms", SMS)])
    with http_server(sink) as base:
        configure(ws, "sms", base)
        assert ws.deliver(T0).failed == 1
        assert ws.deliver(T0 + timedelta(days=1)).failed == 0
    assert len(sink.requests) == 1
    (row,) = ws.outbox()
    assert row["status"] == "failed"
    assert row["last_error"].startswith(f"HTTP {status} {reason}")


def test_retries_run_out_then_the_message_fails(ws: Workspace) -> None:
    sink = HttpSink(statuses=[502] * 10)
    enqueue(ws.con, [message(1, "push", {"to": "device-1", "title": "Hi", "body": "B"})])
    with http_server(sink) as base:
        configure(ws, "push", base, retries="2", backoff_seconds="0")
        stats = ws.deliver(T0)  # no backoff: all tries in one run
    assert (stats.retrying, stats.failed) == (2, 1)
    assert len(sink.requests) == 3
    (row,) = ws.outbox()
    assert row["status"] == "failed"
    assert row["last_error"] == "gave up after 3 tries: HTTP 502 Bad Gateway"
    assert sink.requests[0].body == {"to": "device-1", "title": "Hi", "body": "B"}


def test_timeouts_and_refused_connections_are_retried(ws: Workspace) -> None:
    sink = HttpSink(delay=1.0)
    enqueue(ws.con, [message(1, "sms", SMS)])
    with http_server(sink) as base:
        configure(ws, "sms", base, timeout="0.2")
        assert ws.deliver(T0).retrying == 1
    assert "timed out" in ws.outbox()[0]["last_error"]
    port = free_port()
    configure(ws, "sms", f"http://user:pw@127.0.0.1:{port}/send?token=t0k3n")
    assert ws.deliver(T0 + timedelta(hours=1)).retrying == 1
    error = ws.outbox()[0]["last_error"]
    assert error == f"http://127.0.0.1:{port}: cannot connect (ConnectError)"


def test_the_generic_webhook_renders_its_body_template_against_the_message(
    ws: Workspace,
) -> None:
    sink = HttpSink()
    msg = message(3, "webhook", {"body": {"event": "beauty_offer", "points": 2}}, variant="B")
    enqueue(ws.con, [msg])
    with http_server(sink) as base:
        configure(ws, "webhook", base)
        ws.config_set(
            "channels.webhook.body",
            '{ id = "{{ message_id }}", customer = "{{ customer_id }}", '
            'variant = "{{ variant }}", event = "{{ body.event }}", tags = ["{{ automation }}"] }',
        )
        assert ws.deliver(T0).sent == 1
    assert sink.requests[0].body == {
        "id": msg.message_id,
        "customer": "C3",
        "variant": "B",
        "event": "beauty_offer",
        "tags": ["beauty-points"],
    }


def test_an_empty_body_template_posts_the_message_content(ws: Workspace) -> None:
    sink = HttpSink()
    enqueue(ws.con, [message(4, "webhook", {"body": {"event": "x", "n": [1, 2]}})])
    with http_server(sink) as base:
        configure(ws, "webhook", base)
        ws.deliver(T0)
    assert sink.requests[0].body == {"event": "x", "n": [1, 2]}


def test_settings_are_checked(ws: Workspace) -> None:
    with pytest.raises(ConfigError, match=r"channels\.sms\.url"):
        ws.config_set("channels.sms.url", "ftp://x")
    enqueue(ws.con, [message(1, "sms", SMS)])
    stats = ws.deliver(T0)
    assert stats.waiting == {"sms": "waiting: channels.sms.url is not set"}
    configure(ws, "sms", "http://127.0.0.1:9")
    ws.config_set("channels.sms.body.text", '"{{ text"')
    assert "syntax error" in ws.deliver(T0).waiting["sms"]
    assert ws.outbox()[0]["status"] == "queued"
