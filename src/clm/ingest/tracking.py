"""Tracking messages in the shape of the Segment HTTP Tracking API, turned into clm records.

Websites and apps that already send ``track``, ``identify``, ``page``, ``screen``,
``alias`` and ``group`` calls to an analytics tool can send them to clm unchanged
(Segment, "HTTP Tracking API" and "Spec: Common Fields"): ``messageId`` becomes the
event id (a repeat is ignored), ``userId``/``anonymousId`` the profile, ``timestamp``
the event time (UTC; now when absent), and ``properties`` keep everything the
message carries, unknown fields included.

What each call becomes (SPEC §1):

- ``track``: an event whose type is the event name, with the e-commerce spec's names
  mapped to clm's types (:data:`TRACK_TYPES`: ``Order Completed`` is a ``purchase``).
  A purchase with ``properties.products`` becomes one purchase line per product
  (``price × quantity``, the product's ``category``); otherwise one line with
  ``revenue``, ``total`` or ``amount``. ``properties.order_id`` groups lines into an
  order (default: the message id).
- ``page`` and ``screen``: a ``visit``, in the page's ``category`` if it has one.
- ``identify``: traits (``email``, ``phone``, ``timezone``, ``signup_at``/``createdAt``,
  ``consent``: ``{"email": true, "sms": false}``) and free attributes (every other
  trait); with an ``anonymousId`` it links the visitor's history to the customer.
  Without a ``userId`` it is kept as an ``identify`` event of the visitor, plus an
  ``email_signup`` event when the traits carry an email.
- ``alias``: links ``previousId`` (a visitor id) to ``userId``.
- ``group``: an event of type ``group`` (kept, available to triggers).

Amounts are kept as integer ten-thousandths (:data:`AMOUNT_SCALE`), the precision of the
workspace's ``DECIMAL(18, 4)`` money, so sums are exact and agree with the batch.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from clm.errors import InvalidMessage
from clm.ingest.records import (
    AMOUNT_SCALE,
    EARLIEST,
    LATEST,
    MAX_UNITS,
    EventRecord,
    LinkRecord,
    ProfileRecord,
    Record,
    check_record,
    micros,
)

__all__ = [  # the records are re-exported: callers take them from here with the parsers
    "AMOUNT_SCALE",
    "EARLIEST",
    "EventRecord",
    "LinkRecord",
    "ProfileRecord",
    "Record",
    "TrackingError",
    "check_record",
    "micros",
    "parse_batch",
    "parse_message",
    "records",
    "write_key",
]

MAX_ID = 256
MAX_FUTURE = timedelta(days=1)
CONSENT_CHANNELS = ("email", "sms", "push")
TRAIT_FIELDS = ("email", "phone", "timezone")

#: Segment e-commerce spec event names → clm event types; other names are kept as they are.
TRACK_TYPES = {
    "Order Completed": "purchase",
    "Product Viewed": "product_view",
    "Product Added": "product_added",
    "Signed Up": "email_signup",
    "Email Signup": "email_signup",
    "Offer Accepted": "offer_accepted",
}


TrackingError = InvalidMessage
"""A message that cannot be accepted; ``field`` names the offending field."""


Id = Annotated[str | int, Field(description="A string (numbers are read as text).")]
MAX_TEXT = 32_768  # characters of any text field, and of the keys of any object
MAX_BATCH = 10_000  # messages in one batch


class _Common(BaseModel):
    """The common fields of every call (Segment, "Spec: Common Fields")."""

    model_config = ConfigDict(extra="allow", str_max_length=MAX_TEXT)

    messageId: str | None = Field(None, max_length=MAX_ID)
    userId: Id | None = None
    anonymousId: Id | None = None
    timestamp: datetime | None = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    writeKey: str | None = Field(None, description="The browser SDK's key, sent in the body.")


class Track(_Common):
    type: Literal["track"] = "track"
    event: str = Field(min_length=1, max_length=MAX_ID)
    properties: dict[str, Any] | None = None


class Page(_Common):
    type: Literal["page"] = "page"
    name: str | None = None
    category: str | None = None
    properties: dict[str, Any] | None = None


class Screen(_Common):
    type: Literal["screen"] = "screen"
    name: str | None = None
    category: str | None = None
    properties: dict[str, Any] | None = None


class Identify(_Common):
    type: Literal["identify"] = "identify"
    traits: dict[str, Any] | None = None


class Alias(_Common):
    type: Literal["alias"] = "alias"
    previousId: Id


class Group(_Common):
    type: Literal["group"] = "group"
    groupId: Id
    traits: dict[str, Any] | None = None


Message = Annotated[Track | Page | Screen | Identify | Alias | Group, Field(discriminator="type")]
SINGLE: dict[str, type[_Common]] = {
    "track": Track,
    "page": Page,
    "screen": Screen,
    "identify": Identify,
    "alias": Alias,
    "group": Group,
}


class Batch(BaseModel):
    """``POST /v1/batch``: up to 500 KB of messages of any type."""

    model_config = ConfigDict(extra="allow")

    batch: list[Message] = Field(min_length=1)
    context: dict[str, Any] | None = None
    writeKey: str | None = None

    @field_validator("batch")
    @classmethod
    def _not_too_many(cls, value: list[Any]) -> list[Any]:
        if len(value) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH:,} messages per batch")
        return value


def records(message: _Common, received: datetime, where: str = "") -> list[Record]:
    """The clm records of one validated message received at ``received`` (aware UTC).

    Raises :class:`TrackingError` naming the field (prefixed by ``where``, e.g.
    ``batch[3].``) when the message cannot be stored.
    """
    customer = _id(message.userId)
    anonymous = _id(message.anonymousId)
    if customer is None and anonymous is None and not isinstance(message, Alias):
        raise TrackingError(f"{where}userId", "userId or anonymousId is required")
    ts = _time(message.timestamp, received, where)
    message_id = message.messageId or f"api-{uuid.uuid4()}"
    out: list[Record] = []
    if customer is not None and anonymous is not None:
        out.append(LinkRecord(message_id, anonymous, customer, ts))
    if isinstance(message, Track):
        out.extend(_track(message, message_id, customer, anonymous, ts, where))
    elif isinstance(message, Page | Screen):
        props = _properties(message, message.properties)
        category = message.category or _text(props.get("category"))
        out.append(
            EventRecord(message_id, customer, anonymous, "visit", ts, category, None, None, props)
        )
    elif isinstance(message, Identify):
        if customer is None:
            # A visitor has no profile row for traits: keep the call as an event so that
            # nothing sent is lost, and an email as an email signup of the visitor, which
            # makes it has_email live and in the batch, and counts for its customer once
            # it is linked (SPEC §3).
            out.append(
                EventRecord(
                    message_id,
                    None,
                    anonymous,
                    "identify",
                    ts,
                    None,
                    None,
                    None,
                    _properties(message, {"traits": message.traits or {}}),
                )
            )
            if _anonymous_email(message.traits or {}, where):
                out.append(
                    EventRecord(
                        f"{message_id}:email_signup",
                        None,
                        anonymous,
                        "email_signup",
                        ts,
                        properties={"from": "identify"},
                    )
                )
        else:
            out.append(_identify(message, message_id, customer, ts, where))
    elif isinstance(message, Alias):
        previous = _id(message.previousId)
        if customer is None or previous is None:
            raise TrackingError(f"{where}userId", "alias needs userId and previousId")
        out.append(LinkRecord(message_id, previous, customer, ts))
    elif isinstance(message, Group):
        props = _properties(message, {"groupId": _id(message.groupId), "traits": message.traits})
        out.append(
            EventRecord(message_id, customer, anonymous, "group", ts, None, None, None, props)
        )
    return out


def parse_message(data: Any, kind: str, received: datetime) -> list[Record]:
    """Validate one single-call body (``kind`` from the path) and return its records."""
    if not isinstance(data, dict):
        raise TrackingError("body", "a JSON object is required")
    try:
        message = SINGLE[kind].model_validate({**data, "type": kind})
    except ValidationError as exc:
        raise _first_error(exc, "") from None
    return records(message, received)


def parse_batch(data: Any, received: datetime) -> list[Record]:
    """Validate a ``/v1/batch`` body; every message must be valid, or none is taken."""
    if not isinstance(data, dict):
        raise TrackingError("body", "a JSON object is required")
    try:
        batch = Batch.model_validate(data)
    except ValidationError as exc:
        raise _first_error(exc, "") from None
    out: list[Record] = []
    for i, message in enumerate(batch.batch):
        out.extend(records(message, received, f"batch[{i}]."))
    return out


def write_key(data: Any) -> str | None:
    """The write key a browser SDK puts in the body (it cannot set headers on a beacon)."""
    key = data.get("writeKey") if isinstance(data, dict) else None
    return key if isinstance(key, str) else None


# -- helpers ---------------------------------------------------------------------------------


def _first_error(exc: ValidationError, prefix: str) -> TrackingError:
    err = exc.errors()[0]
    path = prefix
    for part in err["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in SINGLE:  # the discriminated union's tag: not a field of the body
            continue
        else:
            path += f".{part}" if path else str(part)
    return TrackingError(path or "body", err["msg"])


def _id(value: str | int | None) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _time(ts: datetime | None, received: datetime, where: str) -> int:
    if ts is None:
        return micros(received)
    aware = ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
    if aware > received + MAX_FUTURE:
        raise TrackingError(f"{where}timestamp", "more than a day in the future")
    if aware < EARLIEST:
        raise TrackingError(f"{where}timestamp", "before 1900-01-01")
    return micros(aware)


def _properties(message: _Common, props: dict[str, Any] | None) -> dict[str, Any]:
    """The message's properties, with its unknown top-level fields kept beside them."""
    out = dict(props or {})
    extra = {k: v for k, v in (message.model_extra or {}).items() if k != "type"}
    if extra:
        out["_extra"] = extra
    return out


def _number(value: Any, field_path: str) -> float:
    """A finite number; numbers and numeric strings are accepted (not booleans)."""
    if isinstance(value, bool):
        raise TrackingError(field_path, "not a number")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise TrackingError(field_path, "not a number") from None
    if not isinstance(value, int | float):
        raise TrackingError(field_path, "not a number")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond the float range
        raise TrackingError(field_path, "too large") from None
    if not math.isfinite(number):
        raise TrackingError(field_path, "not a finite number")
    return number


def amount_units(value: Any, field_path: str) -> int:
    """A money amount in ten-thousandths; numbers and numeric strings are accepted."""
    number = _number(value, field_path) * AMOUNT_SCALE
    if not math.isfinite(number) or abs(number) >= MAX_UNITS:
        raise TrackingError(field_path, "too large for money (18 digits)")
    return round(number)


def _track(
    m: Track, message_id: str, customer: str | None, anonymous: str | None, ts: int, where: str
) -> Iterable[EventRecord]:
    props = _properties(m, m.properties)
    return track_events(m.event, props, message_id, customer, anonymous, ts, where)


def track_events(
    event: str,
    props: dict[str, Any],
    message_id: str,
    customer: str | None,
    anonymous: str | None,
    ts: int,
    where: str,
) -> list[EventRecord]:
    """The events of a ``track`` call named ``event`` whose properties (unknown top-level
    fields included, under ``_extra``) are ``props``; shared by the validated path and
    :mod:`clm.ingest.tracking_fast`."""
    kind = TRACK_TYPES.get(event, event)
    category = _text(props.get("category"))
    if kind != "purchase":
        amount = _first_amount(props, where)
        return [
            EventRecord(
                message_id,
                customer,
                anonymous,
                kind,
                ts,
                category,
                amount,
                _text(str(props["order_id"])) if "order_id" in props else None,
                props,
            )
        ]
    order = str(props.get("order_id") or message_id)
    products = props.get("products")
    if isinstance(products, list) and products:
        return [
            _product_line(p, i, message_id, customer, anonymous, ts, order, where)
            for i, p in enumerate(products)
        ]
    amount = _first_amount(props, where)
    if amount is None:
        raise TrackingError(f"{where}properties.revenue", "a purchase needs revenue or amount")
    return [
        EventRecord(message_id, customer, anonymous, "purchase", ts, category, amount, order, props)
    ]


def _first_amount(props: dict[str, Any], where: str) -> int | None:
    for name in ("revenue", "amount", "total", "value"):
        if props.get(name) is not None:
            return amount_units(props[name], f"{where}properties.{name}")
    return None


def _product_line(
    product: Any,
    i: int,
    message_id: str,
    customer: str | None,
    anonymous: str | None,
    ts: int,
    order: str,
    where: str,
) -> EventRecord:
    path = f"{where}properties.products[{i}]"
    if not isinstance(product, dict):
        raise TrackingError(path, "a product must be an object")
    if product.get("price") is None:
        raise TrackingError(f"{path}.price", "a product needs a price")
    price = amount_units(product["price"], f"{path}.price")
    quantity = _number(product.get("quantity", 1), f"{path}.quantity")
    total = price * quantity
    if abs(total) >= MAX_UNITS:
        raise TrackingError(f"{path}.quantity", "price × quantity too large for money (18 digits)")
    return EventRecord(
        f"{message_id}:{i}",
        customer,
        anonymous,
        "purchase",
        ts,
        _text(product.get("category")),
        round(total),
        order,
        dict(product),
    )


def _identify(m: Identify, message_id: str, customer: str, ts: int, where: str) -> ProfileRecord:
    traits = dict(m.traits or {})
    known: dict[str, Any] = {}
    for name in TRAIT_FIELDS:
        value = traits.pop(name, None)
        if value is not None:
            if not isinstance(value, str):
                raise TrackingError(f"{where}traits.{name}", "must be text")
            if value.strip():  # a blank value is no value (null), live and stored alike
                known[name] = value.strip()
    signup = traits.pop("signup_at", None) or traits.pop("createdAt", None)
    if signup is not None:
        known["signup_at"] = _signup(signup, f"{where}traits.signup_at")
    consent = _consent(traits.pop("consent", None), f"{where}traits.consent")
    return ProfileRecord(message_id, customer, ts, known, consent, traits)


def _anonymous_email(traits: dict[str, Any], where: str) -> bool:
    """Whether an anonymous identify's traits carry an email (text, not blank)."""
    email = traits.get("email")
    if email is not None and not isinstance(email, str):
        raise TrackingError(f"{where}traits.email", "must be text")
    return bool(email and email.strip())


def _signup(value: Any, path: str) -> int:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise TrackingError(path, "not an ISO 8601 time") from None
    aware = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    if not EARLIEST <= aware < LATEST:
        raise TrackingError(path, "before 1900-01-01 or after 9998")
    return micros(aware)


def _consent(value: Any, path: str) -> dict[str, bool]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TrackingError(path, 'an object such as {"email": true, "sms": false}')
    out = {}
    for channel, granted in value.items():
        if channel not in CONSENT_CHANNELS:
            raise TrackingError(
                f"{path}.{channel}", f"channel is one of {', '.join(CONSENT_CHANNELS)}"
            )
        if not isinstance(granted, bool):
            raise TrackingError(f"{path}.{channel}", "true or false")
        out[channel] = granted
    return out
