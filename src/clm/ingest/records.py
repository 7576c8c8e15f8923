"""clm's records of what happened: events, identify calls and identity links, as the
event journal, the live profiles and the database writer take them (SPEC §1), whatever
their source (the Segment-spec calls of :mod:`clm.ingest.tracking`, tracked opens and
clicks). Times are µs since the epoch (UTC); amounts integer ten-thousandths
(:data:`AMOUNT_SCALE`), the precision of the workspace's ``DECIMAL(18, 4)`` money.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from clm.errors import InvalidMessage

AMOUNT_SCALE = 10_000
MAX_UNITS = 10**18  # DECIMAL(18, 4) holds |amount| < 10^14, i.e. < 10^18 ten-thousandths
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)  # earlier times are refused (no shop data is)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)  # the live state's dates end in year 9999


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One event as clm stores it (SPEC §1); ``ts`` in µs since the epoch, UTC."""

    event_id: str
    customer_id: str | None
    anonymous_id: str | None
    type: str
    ts: int
    category: str | None = None
    amount: int | None = None  # ten-thousandths (AMOUNT_SCALE)
    order_id: str | None = None
    properties: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ProfileRecord:
    """An identify call: traits, consent and attributes of a customer at ``ts``."""

    message_id: str
    customer_id: str
    ts: int
    traits: dict[str, Any] = field(default_factory=dict)  # email, phone, timezone, signup_at
    consent: dict[str, bool] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LinkRecord:
    """Visitor ``anonymous_id`` is customer ``customer_id`` from ``ts`` on (SPEC §1)."""

    message_id: str
    anonymous_id: str
    customer_id: str
    ts: int


Record = EventRecord | ProfileRecord | LinkRecord


def micros(ts: datetime) -> int:
    """µs since the epoch of an aware time (naive times are UTC)."""
    aware = ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(microseconds=1)


_EARLIEST_US, _LATEST_US = micros(EARLIEST), micros(LATEST)


def check_record(record: Record) -> None:
    """Refuse a record the live state or the database could not hold, before it is
    journaled (records also come from other paths than :func:`records`, e.g. tracked
    opens and clicks). Raises :class:`InvalidMessage` naming the field."""
    if not _EARLIEST_US <= record.ts < _LATEST_US:
        raise InvalidMessage("timestamp", "before 1900-01-01 or after 9998")
    amount = record.amount if isinstance(record, EventRecord) else None
    if amount is not None and (not isinstance(amount, int) or abs(amount) >= MAX_UNITS):
        raise InvalidMessage("amount", "too large for money (18 digits)")
