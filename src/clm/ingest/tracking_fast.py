"""The common tracking calls read without pydantic: the server's fast path.

Almost every call a tracking SDK sends is a ``track`` with string ids, a message id, an
ISO 8601 timestamp (or none) and JSON objects for ``properties`` and ``context``. For
those, building the pydantic models of :mod:`clm.ingest.tracking` costs more than the
records made from them. :func:`parse_batch` and :func:`parse_message` take such calls
directly and hand everything else to the validated path (:func:`tracking.parse_batch`,
:func:`tracking.parse_message`):

- a call is taken here only when every field has a shape the models certainly accept
  and map to the same value (no number where text is expected, no other ISO format,
  no key longer than the models allow, ...); anything else is *not sure*, and the whole
  request goes the validated way;
- the records are made by the same function (:func:`tracking.track_events`), and a
  record that cannot be made (a purchase without an amount, a time more than a day
  ahead) also sends the whole request the validated way.

So every refusal, with its 422 and the field it names, comes from the validated path,
in its order (a batch's first invalid message by pydantic's rules), and what is
accepted here is exactly what it would accept. ``tests/ingest/test_tracking_fast.py``
checks both on generated calls.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from clm.ingest import tracking
from clm.ingest.records import EARLIEST, LinkRecord, Record, micros

MAX_TEXT = tracking.MAX_TEXT  # the models' str_max_length (also for the keys of their objects)
MAX_BATCH = tracking.MAX_BATCH
#: The fields of a ``track`` model; any other field of a call is kept under ``_extra``.
TRACK_FIELDS = frozenset(tracking.Track.model_fields)
#: A lone surrogate, which pydantic refuses in any text ("unable to parse raw data as a
#: unicode string"); JSON from the wire cannot hold one (orjson refuses it), a Python
#: caller's dict can.
_SURROGATE = re.compile("[\ud800-\udfff]")
#: The one timestamp form taken here: date, ``T``, time to the second, up to 6 digits of
#: fraction, ``Z`` or an offset (RFC 3339 as the SDKs send it); valid ranges only.
_TIME = re.compile(
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?"
)


class _NotSure(Exception):
    """This call needs the validated path."""


def parse_batch(data: Any, received: datetime) -> list[Record]:
    """:func:`tracking.parse_batch`'s records, here when every message is a plain
    ``track`` (see the module docstring)."""
    try:
        return _batch(data, received)
    except _NotSure:
        return tracking.parse_batch(data, received)


def parse_message(data: Any, kind: str, received: datetime) -> list[Record]:
    """:func:`tracking.parse_message`'s records, here for a plain ``track`` call."""
    if kind == "track" and type(data) is dict:
        try:
            return _track(data, _Clock(received), "")
        except _NotSure:
            pass
    return tracking.parse_message(data, kind, received)


class _Clock:
    """The receiving time of one request, as µs too (computed once, not per message)."""

    __slots__ = ("latest", "now", "now_us")

    def __init__(self, received: datetime) -> None:
        self.now = received
        self.now_us = micros(received)
        self.latest = received + tracking.MAX_FUTURE


def _batch(data: Any, received: datetime) -> list[Record]:
    if type(data) is not dict:
        raise _NotSure
    messages = data.get("batch")
    if type(messages) is not list or not 0 < len(messages) <= MAX_BATCH:
        raise _NotSure
    _optional_text(data.get("writeKey"), MAX_TEXT)
    _object(data.get("context"))
    clock = _Clock(received)
    out: list[Record] = []
    for i, message in enumerate(messages):
        if type(message) is not dict or message.get("type") != "track":
            raise _NotSure
        out.extend(_track(message, clock, f"batch[{i}]."))
    return out


def _track(m: dict[str, Any], clock: _Clock, where: str) -> list[Record]:
    """The records of one ``track`` call (its ``type`` is not read: the caller knows it)."""
    event = m.get("event")
    if type(event) is not str or not 0 < len(event) <= tracking.MAX_ID:
        raise _NotSure
    _text(event)
    message_id = _optional_text(m.get("messageId"), tracking.MAX_ID)
    customer, anonymous = _id(m.get("userId")), _id(m.get("anonymousId"))
    if customer is None and anonymous is None:
        raise _NotSure
    _optional_text(m.get("writeKey"), MAX_TEXT)
    _object(m.get("context"))
    _object(m.get("integrations"))
    properties = _object(m.get("properties"))
    ts = _time(m.get("timestamp"), clock)
    props = dict(properties) if properties else {}
    if not m.keys() <= TRACK_FIELDS:
        props["_extra"] = {k: v for k, v in m.items() if k not in TRACK_FIELDS}
    mid = message_id or f"api-{uuid.uuid4()}"
    try:
        events = tracking.track_events(event, props, mid, customer, anonymous, ts, where)
    except tracking.TrackingError:
        raise _NotSure from None
    if customer is not None and anonymous is not None:
        return [LinkRecord(mid, anonymous, customer, ts), *events]
    out: list[Record] = []
    out.extend(events)
    return out


def _text(value: str) -> str:
    """``value``, when the models take it as it is (no lone surrogate)."""
    if not value.isascii() and _SURROGATE.search(value):
        raise _NotSure
    return value


def _optional_text(value: Any, limit: int) -> str | None:
    """An optional text field of at most ``limit`` characters, taken as it is."""
    if value is None:
        return None
    if type(value) is not str or len(value) > limit:
        raise _NotSure
    return _text(value)


def _id(value: Any) -> str | None:
    """A user or visitor id: text, or an integer (read as text); None when absent."""
    if value is None:
        return None
    if type(value) is str:
        if len(value) > MAX_TEXT:
            raise _NotSure
        return _text(value).strip() or None
    if type(value) is int:
        return str(value)
    raise _NotSure


def _object(value: Any) -> dict[str, Any] | None:
    """A JSON object whose keys the models take (text of at most :data:`MAX_TEXT`)."""
    if value is None:
        return None
    if type(value) is not dict:
        raise _NotSure
    for k in value:
        if type(k) is not str or len(k) > MAX_TEXT:
            raise _NotSure
        _text(k)
    return value


def _time(value: Any, clock: _Clock) -> int:
    """The event time in µs: the receiving time when absent, else an RFC 3339 time
    within the accepted range."""
    if value is None:
        return clock.now_us
    if type(value) is not str or not _TIME.fullmatch(value):
        raise _NotSure
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise _NotSure from None
    aware = ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
    if aware > clock.latest or aware < EARLIEST:
        raise _NotSure
    return micros(aware)
