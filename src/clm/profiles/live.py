"""The live profile state: every event moves a profile at once (SPEC §1–4, online).

The server keeps, per customer and per anonymous visitor, the facts its scores need
and applies each event to them in O(1) (a purchase line also finds its order among the
profile's): the activity sums (:func:`clm.profiles.activity_state.apply_event`), the
profile's purchases (:class:`clm.profiles.ledger.Ledger`: its newest orders exactly,
older ones folded into aggregates, line amounts per day), its latest visit and its event
counts. Scores are computed when they are read, from those facts and the stored
calibration (:mod:`clm.profiles.live_scores`), so the same events and calibration give
the batch's numbers whatever order the events arrived in.

Bounded or not: a state made with ``fold_limit`` None (tests, a replay) keeps every
order and remembers every event id it applied (:mod:`clm.profiles.idset`). The server's
state (:func:`clm.profiles.live_load.load_state` with a limit) keeps ``fold_limit``
orders per id and folds the rest, remembers order keys in a Bloom filter
(:mod:`clm.profiles.bloom`) and leaves the repeat check to its caller (``seen`` None:
the event stream checks ids against a filter and the database); when a line may belong
to a folded order, or to another id's, :attr:`LiveState.history` reads the id's every
purchase line (the database and what is not written yet) and the ledger is built again;
never from a read that failed or holds fewer lines than the ledger took (the id is then
:attr:`LiveState.unsettled` and read again; :mod:`clm.profiles.live_settle` builds the
ledgers again). Its memory then grows with the profiles, not with their events.

A visitor's facts stay under its anonymous id; a customer's profile is its own facts
plus those of the visitors linked to it by the end of the as-of date (a link counts
from its time on, as in the batch), so a link, or a later link of the visitor to
another customer (SPEC §1: the newer link wins), moves the history with it.

What one id's facts hold, and the keys of profiles and orders, are in
:mod:`clm.profiles.live_facts` (and importable from here).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from clm.ingest import identity
from clm.ingest.tracking import EventRecord, LinkRecord, ProfileRecord, Record
from clm.profiles import activity_state, ledger, live_settle
from clm.profiles.bloom import Bloom
from clm.profiles.idset import IdSet
from clm.profiles.ledger import Categories, Rules
from clm.profiles.live_facts import (
    EMAIL_SIGNUP,
    MICROS_PER_DAY,
    ORDER_KEY_SQL,
    PURCHASE,
    VISIT,
    Facts,
    History,
    HistoryRow,
    Key,
    Traits,
    add_event,
    order_key,
    owner,
)
from clm.profiles.live_settle import SHORT_READS, ShortHistory

__all__ = [  # the facts' names are imported from here too
    "EMAIL_SIGNUP",
    "MICROS_PER_DAY",
    "ORDER_KEY_SQL",
    "PURCHASE",
    "SHORT_READS",
    "VISIT",
    "Facts",
    "History",
    "HistoryRow",
    "Key",
    "LiveState",
    "ShortHistory",
    "Traits",
    "add_event",
    "apply_all",
    "order_key",
    "owner",
]


@dataclass
class LiveState:
    """Every profile's facts, the identity links, and the ids already applied."""

    weights: dict[str, float]
    half_life_short: float
    half_life_long: float
    customers: dict[str, Facts] = field(default_factory=dict)
    visitors: dict[str, Facts] = field(default_factory=dict)
    traits: dict[str, Traits] = field(default_factory=dict)
    links: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    link_times: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)
    consent: dict[str, dict[str, tuple[bool, int]]] = field(default_factory=dict)
    seen: IdSet | None = field(default_factory=IdSet)  # None: the caller checks repeats
    categories: Categories = field(default_factory=Categories)
    latest_ts: int | None = None
    dirty: set[Key] = field(default_factory=set)
    rates: tuple[float, float] = field(init=False)  # decay rates of the two half-lives
    fold_limit: int | None = None  # orders kept per id (None: all, and no history needed)
    window_days: int | None = None  # the RFM window: older days' lines are dropped
    order_keys: Bloom | None = None  # every order key seen (with fold_limit)
    shared: set[str] = field(default_factory=set)  # order keys with lines under two ids
    history: History | None = None  # reads an id's every line (with fold_limit)
    # ids whose ledger lacks lines because reading their history failed, with the order
    # keys that asked for it; built again (:meth:`settle`) before they are read or grow
    unsettled: dict[Key, set[str]] = field(default_factory=dict)
    history_errors: int = 0  # history reads that failed or fell short (each one retried)
    # per id whose history reads fell short: how many writes passed meanwhile, the last seen
    short_reads: dict[Key, tuple[int, int]] = field(default_factory=dict)
    writes: int = 0  # batches the caller has written to the database (it keeps this current)
    missing: dict[Key, int] = field(default_factory=dict)  # lines an id's ledger lacks
    _rules: Rules | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.rates = (
            activity_state.decay_rate(self.half_life_short),
            activity_state.decay_rate(self.half_life_long),
        )

    # -- updates ---------------------------------------------------------------------------

    def apply(self, record: Record, *, new: bool = False) -> bool:
        """Apply one record; False when it was a repeat (an event id seen before).
        ``new``: the caller checked that the event's id is not seen yet."""
        if isinstance(record, EventRecord):
            return self.apply_event(record, new=new)
        if isinstance(record, LinkRecord):
            self.link(record.anonymous_id, record.customer_id, record.ts)
        elif isinstance(record, ProfileRecord):
            self.set_traits(record.customer_id, record.traits, record.ts)
            self.set_consent(record.customer_id, record.consent, record.ts)
        return True

    def apply_event(self, e: EventRecord, *, new: bool = False) -> bool:
        """One event into its id's facts, in O(1) (plus finding its order, if a purchase);
        ``new``: the caller checked that its id is not seen yet."""
        if not new:
            if self.seen is None:
                raise RuntimeError("this live state leaves the repeat check to its caller")
            if e.event_id in self.seen:
                return False
        if e.type == PURCHASE:
            self._add_line(e)  # first: reading the history may fail, and nothing changed yet
        if e.customer_id is not None:
            facts = self.customers.get(e.customer_id)
            if facts is None:
                facts = self.customers[e.customer_id] = Facts()
            if e.anonymous_id is not None:
                self.link(e.anonymous_id, e.customer_id, e.ts)
        else:
            assert e.anonymous_id is not None
            facts = self.visitors.get(e.anonymous_id)
            if facts is None:
                facts = self.visitors[e.anonymous_id] = Facts()
        add_event(facts, e, self.weights, self.rates)
        if self.seen is not None:  # only once applied: a failed apply leaves the id unseen
            self.seen.add(e.event_id)
        if self.latest_ts is None or e.ts > self.latest_ts:
            self.latest_ts = e.ts
        if e.customer_id is not None:
            self.dirty.add(("c", e.customer_id))
        elif e.anonymous_id is not None:
            # the visitor's own profile, and its customer's once the link is in effect
            self.dirty.add(("a", e.anonymous_id))
            linked = self.links.get(e.anonymous_id)
            if linked is not None:
                self.dirty.add(("c", linked[0]))
        return True

    def rules(self) -> Rules:
        """How the ledgers bound themselves now (:class:`clm.profiles.ledger.Rules`)."""
        if self.fold_limit is None:
            return ledger.UNBOUNDED
        floor = None
        if self.window_days is not None and self.latest_ts is not None:
            floor = ledger.day(self.latest_ts) + 1 - self.window_days
        cached = self._rules
        if cached is not None and cached.floor == floor and cached.limit == self.fold_limit:
            return cached
        maybe = self._may_exist if self.order_keys is not None else None
        self._rules = Rules(self.fold_limit, floor, self.shared, maybe)
        return self._rules

    def _may_exist(self, key: str) -> bool:
        """Whether an order key may have been seen (and remember it)."""
        assert self.order_keys is not None
        return self.order_keys.test_and_add(hash(key))

    def facts_for(self, kind: str, rid: str) -> Facts:
        """An id's facts ("c" a customer's own, "a" a visitor's), made empty if new."""
        table = self.customers if kind == "c" else self.visitors
        found = table.get(rid)
        if found is None:
            found = table[rid] = Facts()
        return found

    def _add_line(self, e: EventRecord) -> None:
        """A purchase event's line into its id's ledger (:func:`clm.profiles.live_settle.add_line`:
        built again from :attr:`history` when the ledger cannot take it alone)."""
        live_settle.add_line(self, e)

    def settle(self) -> None:
        """Build again the ledgers of the :attr:`unsettled` ids from their every line
        (:func:`clm.profiles.live_settle.settle`); an id whose history still cannot be read
        stays unsettled."""
        live_settle.settle(self)

    def replace_facts(self, who: Key, events: Iterable[EventRecord]) -> None:
        """Build an id's facts again from its every event
        (:func:`clm.profiles.live_settle.replace_facts`)."""
        live_settle.replace_facts(self, who, events)

    def link(self, anonymous_id: str, customer_id: str, ts: int | None) -> None:
        """Link a visitor to a customer. A link without a time (a customer import) holds
        and replaces the visitor's link; of timed links, :func:`clm.ingest.identity.resolve`
        picks the one that holds, from every timed link of the visitor seen so far (SPEC
        §1), so the order links arrive in does not matter."""
        if ts is None:
            self.set_link(anonymous_id, customer_id, None)
            return
        times = self.link_times.setdefault(anonymous_id, {})
        first, last = times.get(customer_id, (ts, ts))
        times[customer_id] = (min(first, ts), max(last, ts))
        known = self.links.get(anonymous_id)
        if known is not None and known[1] is None:
            return  # a link without a time holds
        self.set_link(anonymous_id, *identity.resolve(times))

    def set_link(self, anonymous_id: str, customer_id: str, ts: int | None) -> None:
        """Make ``customer_id`` (from ``ts``) the visitor's link that holds, as resolved."""
        known = self.links.get(anonymous_id)
        if known == (customer_id, ts):
            return
        if known is not None and known[0] != customer_id:
            self.members[known[0]].discard(anonymous_id)
            self.dirty.add(("c", known[0]))
        self.links[anonymous_id] = (customer_id, ts)
        self.members.setdefault(customer_id, set()).add(anonymous_id)
        self.customers.setdefault(customer_id, Facts())
        self.dirty.update({("a", anonymous_id), ("c", customer_id)})

    def set_traits(self, customer_id: str, traits: dict[str, object], ts: int) -> None:
        """An identify call's traits that segments read (an email, a signup time); of two
        identify calls naming a signup time, the newer (by time) wins, whatever came first."""
        known = self.traits.setdefault(customer_id, Traits())
        if traits.get("email"):
            known.has_email = True
        signup = traits.get("signup_at")
        if isinstance(signup, int) and (known.signup_from is None or ts >= known.signup_from):
            known.signup_at, known.signup_from = signup, ts  # the newest identify's value
        self.customers.setdefault(customer_id, Facts())
        self.dirty.add(("c", customer_id))

    def set_consent(self, customer_id: str, consent: dict[str, bool], ts: int) -> None:
        """Consent given or withdrawn through the API: the latest per channel counts."""
        known = self.consent.setdefault(customer_id, {}) if consent else {}
        for channel, granted in consent.items():
            if channel not in known or known[channel][1] <= ts:
                known[channel] = (granted, ts)

    # -- reading ---------------------------------------------------------------------------

    def linked_by(self, anonymous_id: str, end: int | None) -> str | None:
        """The customer a visitor belongs to as of ``end`` (µs; the first instant after the
        as-of date): its link counts from its time on, a link without a time always, as
        the batch resolves it (:func:`clm.scores.rfm.resolved_events`); ``end`` None: now,
        whatever the link's time."""
        linked = self.links.get(anonymous_id)
        if linked is None:
            return None
        customer_id, ts = linked
        return customer_id if end is None or ts is None or ts < end else None

    def profile_of(
        self, customer_id: str | None, anonymous_id: str | None, end: int | None = None
    ) -> Key:
        """The profile an event of these ids belongs to (as of ``end``, see :meth:`linked_by`)."""
        if customer_id is not None:
            return ("c", customer_id)
        assert anonymous_id is not None
        linked = self.linked_by(anonymous_id, end)
        return ("c", linked) if linked is not None else ("a", anonymous_id)

    def key_of(self, profile_id: str, end: int | None = None) -> Key | None:
        """The profile of a customer id, or of an anonymous id (its customer's if linked by
        ``end``)."""
        if profile_id in self.customers or profile_id in self.traits:
            return ("c", profile_id)
        if profile_id in self.visitors or profile_id in self.links:
            return self.profile_of(None, profile_id, end)
        return None

    def facts_of(self, key: Key, end: int | None = None) -> list[Facts]:
        """The facts that make up a profile as of ``end``: a customer's own and those of its
        visitors linked by then (:meth:`linked_by`)."""
        kind, pid = key
        if kind == "a":
            facts = self.visitors.get(pid)
            return [facts] if facts is not None else []
        own = self.customers.get(pid)
        parts = [own] if own is not None else []
        for anonymous_id in sorted(self.members.get(pid, ())):
            visitor = self.visitors.get(anonymous_id)
            if visitor is not None and self.linked_by(anonymous_id, end) == pid:
                parts.append(visitor)
        return parts

    def keys(self, end: int | None = None) -> Iterator[Key]:
        """Every profile as of ``end``: customers, and visitors not linked to one by then."""
        for customer_id in self.customers.keys() | self.traits.keys():
            yield ("c", customer_id)
        for anonymous_id in self.visitors:
            if self.linked_by(anonymous_id, end) is None:
                yield ("a", anonymous_id)


def apply_all(state: LiveState, records: Iterable[Record]) -> int:
    """Apply records in order; return how many were new."""
    return sum(state.apply(r) for r in records)
