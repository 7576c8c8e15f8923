"""The facts of the live state (:mod:`clm.profiles.live`): what one id's events say, a
customer's traits, the key of a profile and of an order, and a purchase line as a history
read returns it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from clm.ingest.tracking import EventRecord
from clm.profiles import activity_state
from clm.profiles.activity_state import ActivityState
from clm.profiles.ledger import Ledger

PURCHASE = "purchase"
VISIT = "visit"
EMAIL_SIGNUP = "email_signup"
MICROS_PER_DAY = 86_400_000_000


#: A profile key: ("c", customer id) or ("a", anonymous id of an unlinked visitor).
Key = tuple[str, str]

#: A stored purchase line as :attr:`clm.profiles.live.LiveState.history` reads it:
#: event id, time (µs), amount (ten-thousandths, 0 when none), order key, category.
HistoryRow = tuple[str, int, int, str, str | None]

#: ``history(kind, id, order key)``: every purchase line of the id ("c" for a customer's
#: own events, "a" for a visitor's), and the other ids with lines of that order key.
History = Callable[[str, str, str | None], tuple[list[HistoryRow], list[tuple[str, str]]]]


def owner(e: EventRecord) -> tuple[str, str]:
    """The id whose facts an event goes to: ("c", customer id), else ("a", anonymous id)."""
    if e.customer_id is not None:
        return ("c", e.customer_id)
    assert e.anonymous_id is not None
    return ("a", e.anonymous_id)


def order_key(e: EventRecord) -> str:
    """A purchase line's order key: its order id, or NUL and its event id."""
    return e.order_id if e.order_id is not None else "\0" + e.event_id


#: :func:`order_key` over the columns of the events table.
ORDER_KEY_SQL = "coalesce(order_id, chr(0) || event_id)"


@dataclass(slots=True)
class Facts:
    """What the events of one id (a customer's own, or one visitor's) say.

    ``purchases`` holds its purchase events' orders (:class:`clm.profiles.ledger.Ledger`;
    None before the first purchase).
    """

    activity: ActivityState = field(default_factory=dict)
    purchases: Ledger | None = None
    last_visit: int | None = None
    signed_up: bool = False
    counts: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class Traits:
    """A customer's profile facts that segments read: an email, and the signup time."""

    has_email: bool = False
    signup_at: int | None = None  # µs; None = no signup time (always counts)
    signup_from: int | None = field(default=None, compare=False)  # µs of the identify


def add_event(
    facts: Facts, e: EventRecord, weights: dict[str, float], rates: tuple[float, float]
) -> None:
    """The event's contribution to one id's facts, but a purchase's line (the state's
    :meth:`clm.profiles.live.LiveState.apply_event` adds it first)."""
    amount = None if e.amount is None else e.amount / 10_000
    activity_state.apply_in_place(facts.activity, e.ts, e.type, e.category, amount, weights, *rates)
    facts.counts[e.type] += 1
    if e.type == VISIT:
        if facts.last_visit is None or e.ts > facts.last_visit:
            facts.last_visit = e.ts
    elif e.type == EMAIL_SIGNUP:
        facts.signed_up = True
