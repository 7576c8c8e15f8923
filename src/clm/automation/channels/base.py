"""The narrow interface every channel implements: one ``send`` method, the only side effect.

A channel gets an :class:`OutgoingMessage` whose content is already rendered and
answers with a :class:`SendResult`:

- ``sent``: the provider accepted the message;
- ``retry``: a passing problem (server down, timeout, 5xx, 4xx on SMTP); try later;
- ``failed``: the provider refused it for good (4xx on HTTP, 5xx on SMTP);
- ``unknown``: the connection broke after the message was handed over, so it may or
  may not have arrived; the outbox never re-sends such a message by itself.

Channels that know their *point of no return* (the moment after which the receiver may
have the message) implement :meth:`StagedChannel.send_staged` and call
``point_of_no_return()`` just before it; the outbox records that moment durably, which
keeps the window in which a crash leaves a message's fate unknown as small as the
protocol allows (see :mod:`clm.automation.outbox`).

Optional attributes the outbox reads (with their defaults): ``retry``
(:class:`RetryPolicy`), ``after_crash`` (``"hold"``), ``concurrency`` (1 sending
thread; ``send`` must then be thread-safe) and ``max_per_second`` (0: no cap).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

Status = Literal["sent", "retry", "failed", "unknown"]
AfterCrash = Literal["resend", "hold"]


@dataclass(frozen=True)
class OutgoingMessage:
    """One message, decided and rendered; ``message_id`` is deterministic (see contracts)."""

    message_id: str
    automation: str
    version: int
    enrolment_id: str
    step_id: str
    customer_id: str
    channel: str
    variant: str | None
    content: dict[str, Any]
    not_before: datetime
    cost: float = 0.0


@dataclass(frozen=True)
class SendResult:
    """What a channel says about one send; ``detail`` never holds the body or an address."""

    status: Status
    detail: str = ""
    provider_id: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """``1 + retries`` tries; the wait after try ``n`` is ``backoff_seconds * 2**(n - 1)``."""

    retries: int = 5
    backoff_seconds: float = 60.0

    def delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed try (exponential backoff)."""
        return timedelta(seconds=self.backoff_seconds * 2 ** max(attempts - 1, 0))

    def exhausted(self, attempts: int) -> bool:
        return attempts > self.retries


class Channel(Protocol):
    """A way out: email, SMS, push, banner, webhook."""

    name: str

    def send(self, message: OutgoingMessage) -> SendResult: ...


class StagedChannel(Channel, Protocol):
    """A channel that reports its point of no return (see the module docstring)."""

    def send_staged(
        self, message: OutgoingMessage, point_of_no_return: Callable[[], None]
    ) -> SendResult: ...


@dataclass
class MemoryChannel:
    """An in-memory channel for tests: records what it is given, answers from a script.

    ``outcomes`` is consumed one per send (``sent`` when it runs out).
    """

    name: str
    outcomes: list[SendResult] = field(default_factory=list)
    sent: list[OutgoingMessage] = field(default_factory=list)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    after_crash: AfterCrash = "resend"
    concurrency: int = 1

    def send(self, message: OutgoingMessage) -> SendResult:
        result = self.outcomes.pop(0) if self.outcomes else SendResult("sent")
        if result.status == "sent":
            self.sent.append(message)
        return result


def retry_policy(channel: Channel) -> RetryPolicy:
    """The channel's retry policy (the default one for channels without their own)."""
    policy = getattr(channel, "retry", None)
    return policy if isinstance(policy, RetryPolicy) else RetryPolicy()


def after_crash(channel: Channel | None) -> AfterCrash:
    """What to do with a message a crash left mid-send: re-send, or hold it as unknown."""
    rule = getattr(channel, "after_crash", "hold")
    return "resend" if rule == "resend" else "hold"


def close(channel: Channel) -> None:
    """Release the channel's connections, if it holds any."""
    closer = getattr(channel, "close", None)
    if callable(closer):
        closer()
