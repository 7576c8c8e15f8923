"""Guards, as pure functions: consent, address, quiet hours, frequency cap (SPEC §7).

The enrolment guards (re-entry, contactability) are set-based: :mod:`clm.automation.enrol`.

Every guard answers with a reason (a short code and plain words) when it stops something,
so the decision log can say why. Times are naive UTC; quiet hours are read in the
customer's time zone and a send inside them moves to the window's end (it is not dropped).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from clm.automation.durations import parse_clock

CONSENT_CHANNELS = ("email", "sms", "push")
ADDRESS = {"email": "email", "sms": "phone"}


@dataclass(frozen=True)
class Blocked:
    """Why a guard stopped an enrolment or a send."""

    reason: str  # consent, no_address, cap, re_entry, audience, paused
    detail: str


def consent_block(channel: str, facts: Mapping[str, object]) -> Blocked | None:
    """A send on a consent channel needs a granted consent (none recorded: no)."""
    if channel not in CONSENT_CHANNELS:
        return None
    granted = facts.get(f"consent.{channel}")
    if granted is True:
        return None
    state = "withdrawn" if granted is False else "never recorded"
    return Blocked("consent", f"no {channel} consent ({state})")


def address_block(channel: str, facts: Mapping[str, object]) -> Blocked | None:
    field = ADDRESS.get(channel)
    if field is None or facts.get(field):
        return None
    return Blocked("no_address", f"no {field} known for {channel}")


@dataclass(frozen=True)
class QuietHours:
    """A local-time window ``start``-``end`` (may wrap midnight) in which sends wait."""

    start: time
    end: time

    @staticmethod
    def parse(text: str) -> QuietHours | None:
        """``"21:00-08:00"``; an empty text means no quiet hours."""
        if not text:
            return None
        start, end = text.split("-")
        return QuietHours(parse_clock(start), parse_clock(end))

    def contains(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


def zone(name: object, default: str) -> ZoneInfo:
    """The profile's time zone, else the default (an unknown name falls back too)."""
    for candidate in (name, default, "UTC"):
        if isinstance(candidate, str) and candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def next_allowed(t: datetime, quiet: QuietHours | None, tz: ZoneInfo) -> datetime:
    """``t`` (naive UTC) moved to the end of the quiet hours when it falls inside them."""
    if quiet is None:
        return t
    local = t.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz)
    if not quiet.contains(local.time()):
        return t
    day = local.date()
    if quiet.start > quiet.end and local.time() >= quiet.start:
        day += timedelta(days=1)
    target = datetime.combine(day, quiet.end, tzinfo=tz)
    # Round-trip through UTC so a wall time in a DST gap lands on a real instant.
    moved = target.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    return max(moved, t)


def cap_block(sent_in_period: int, cap: int | None, channel: str, days: int) -> Blocked | None:
    """At most ``cap`` messages per channel and customer in the period (None: no cap)."""
    if cap is None or sent_in_period < cap:
        return None
    return Blocked("cap", f"{sent_in_period} {channel} messages in {days} days (cap {cap})")
