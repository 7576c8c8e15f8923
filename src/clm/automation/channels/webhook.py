"""SMS, push and the generic webhook: a JSON POST to a provider through :mod:`httpx`.

The body is the channel's ``body`` setting rendered (sandboxed Jinja2) against the
message: its content fields (``to``, ``text``, ``title``, ``body`` ...) and
``message_id``, ``customer_id``, ``automation``, ``version``, ``step_id``,
``variant``, ``channel``. An empty ``body`` setting posts the message's content (for
the generic webhook, its ``body``). Every request carries
``Idempotency-Key: <message_id>``, so a provider that honours it (the common
convention, e.g. Stripe's API) drops a repeat; that is why a message a crash left
mid-send is sent again (``after_crash = "resend"``) with the same key.

Answers: 2xx sent; 5xx, 408, 429, timeouts and connection errors retry; any other
4xx failed with the status and reason (never the response body, which may echo the
recipient).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import httpx

from clm.automation.channels.base import OutgoingMessage, RetryPolicy, SendResult
from clm.automation.templates import render_json
from clm.errors import TemplateError

RETRYABLE_4XX = frozenset({408, 425, 429})


def _nothing() -> None:
    return None


def context(message: OutgoingMessage) -> dict[str, Any]:
    """What a body template can use."""
    return {
        **message.content,
        "message_id": message.message_id,
        "customer_id": message.customer_id,
        "automation": message.automation,
        "version": message.version,
        "step_id": message.step_id,
        "variant": message.variant,
        "channel": message.channel,
    }


class WebhookChannel:
    """POSTs each message as JSON to ``url`` (``channels.sms``, ``.push`` or ``.webhook``)."""

    after_crash: Literal["resend"] = "resend"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        concurrency: int = 1,
        max_per_second: float = 0.0,
    ) -> None:
        self.name, self.url = name, url
        self.concurrency, self.max_per_second = concurrency, max_per_second
        parts = httpx.URL(url)  # for messages: no credentials or query (they may hold tokens)
        self.where = f"{parts.scheme}://{parts.host}{f':{parts.port}' if parts.port else ''}"
        self.body_template = dict(body or {})
        self.retry = retry or RetryPolicy()
        self._client = httpx.Client(
            timeout=timeout,
            headers=dict(headers or {}),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=max(concurrency, 1)),
        )  # thread-safe: the channel's sending threads share its connection pool

    def payload(self, message: OutgoingMessage) -> Any:
        """The JSON body for ``message``."""
        if not self.body_template:
            if self.name == "webhook" and "body" in message.content:
                return message.content["body"]
            return message.content
        return render_json(self.body_template, context(message), where=f"channels.{self.name}.body")

    def send(self, message: OutgoingMessage) -> SendResult:
        return self.send_staged(message, _nothing)

    def send_staged(
        self, message: OutgoingMessage, point_of_no_return: Callable[[], None]
    ) -> SendResult:
        try:
            body = self.payload(message)
        except TemplateError as exc:
            return SendResult("failed", str(exc))
        point_of_no_return()
        try:
            response = self._client.post(
                self.url, json=body, headers={"Idempotency-Key": message.message_id}
            )
        except httpx.TimeoutException as exc:
            return SendResult("retry", f"{self.where}: timed out ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return SendResult("retry", f"{self.where}: cannot connect ({type(exc).__name__})")
        return self._result(response)

    def _result(self, response: httpx.Response) -> SendResult:
        code = response.status_code
        detail = f"HTTP {code} {response.reason_phrase}".strip()
        if 200 <= code < 300:
            return SendResult("sent", provider_id=_provider_id(response))
        if code >= 500 or code in RETRYABLE_4XX:
            return SendResult("retry", detail)
        return SendResult("failed", detail)

    def close(self) -> None:
        self._client.close()


def _provider_id(response: httpx.Response) -> str | None:
    """The provider's id for the message, when its JSON answer has one (``id``)."""
    try:
        data = response.json()
    except ValueError:
        return None
    if isinstance(data, dict):
        for key in ("id", "message_id", "sid"):
            if isinstance(data.get(key), str | int):
                return str(data[key])[:200]
    return None
