"""Building ledgers and facts of the live state again (:mod:`clm.profiles.live`).

A bounded state keeps ``fold_limit`` orders per id; a purchase line its ledger cannot
take alone (a line of a folded order, or of an order with lines under another id) makes
the state read the id's every purchase line (:attr:`~clm.profiles.live.LiveState.history`)
and build its ledger again, and those of the other ids with lines of the order
(:func:`add_line`). A read that fails, or holds fewer lines than the ledger took, builds
nothing: the id is *unsettled* and is built again (:func:`settle`) at its next line or
read, so no line is lost. :func:`replace_facts` builds an id's every fact again from its
events (after the database refused an event applied live).

The functions take the state as their first argument; :class:`~clm.profiles.live.LiveState`
calls them from its methods of the same names.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import duckdb

from clm.ingest.tracking import EventRecord
from clm.profiles import ledger
from clm.profiles.ledger import Ledger, Line, Rules
from clm.profiles.live_facts import PURCHASE, Facts, HistoryRow, Key, add_event, order_key, owner

if TYPE_CHECKING:
    from clm.profiles.live import LiveState

log = logging.getLogger("clm.live")
_INT64 = (-(2**63), 2**63)
SHORT_READS = 3  # writes that pass with an id's reads short of its lines before one is believed


class ShortHistory(RuntimeError):
    """A history read holds fewer lines than the id's ledger has taken (retried)."""


def add_line(state: LiveState, e: EventRecord) -> None:
    """A purchase event's line into its id's ledger; when the ledger cannot take it
    alone, the id's ledger (and those of other ids with lines of its order) is built
    again from the state's history and the line. If the history cannot be read, the line
    is not lost: the id is unsettled (its ledger lacks the line) and is built again from
    its every line, this one included once the caller has it queued, at its next line or
    read (:func:`settle`)."""
    units = e.amount or 0
    if not (_INT64[0] <= min(e.ts, units) <= max(e.ts, units) < _INT64[1]):
        raise OverflowError("a purchase line's time or amount is beyond 64 bits")
    kind, rid = owner(e)
    key = order_key(e)
    line: Line = (e.ts, units, key, state.categories.code(e.category))
    facts = state.facts_for(kind, rid)
    rules = state.rules()
    if facts.purchases is None:
        facts.purchases = Ledger()
    who = (kind, rid)
    if who not in state.unsettled:
        if facts.purchases.add_line(line, rules):
            return
    elif rules.may_exist is not None and not key.startswith("\0"):
        rules.may_exist(key)  # remembered as add_line would: another id may share it
    if state.history is None:
        raise RuntimeError("a bounded live state needs a history reader")
    keys = state.unsettled.pop(who, set())
    keys.add(key)
    current: HistoryRow = (e.event_id, e.ts, units, key, e.category)
    if not settle_one(state, who, keys, current):
        state.unsettled[who] = keys
        state.missing[who] = state.missing.get(who, 0) + 1


def settle(state: LiveState) -> None:
    """Build again the ledgers of the unsettled ids from their every line (the caller's
    history has the lines they lack by now); an id whose history still cannot be read
    stays unsettled."""
    for who in list(state.unsettled):
        keys = state.unsettled.pop(who, None)
        if keys is not None and not settle_one(state, who, keys, None):
            state.unsettled[who] = keys


def settle_one(state: LiveState, who: Key, keys: set[str], current: HistoryRow | None) -> bool:
    """Build an id's ledger again from its history (and ``current``, a line not in it
    yet), and those of the other ids with lines of the orders ``keys``; False (the
    failure counted and logged) when a history could not be read."""
    assert state.history is not None
    kind, rid = who
    try:
        read: dict[str, HistoryRow] = {}  # every line any of the reads holds
        others: set[Key] = set()
        for key in sorted(keys):
            rows, found = state.history(kind, rid, key)
            read.update((r[0], r) for r in rows)
            if found:  # an order with lines under two ids: never folded from now on
                state.shared.add(key)
                others.update(found)
        rows = list(read.values())
        complete(state, who, rows)
        rebuilt = [(other, state.history(*other, None)[0]) for other in sorted(others - {who})]
        for other, other_rows in rebuilt:
            complete(state, other, other_rows)
    except (duckdb.Error, OSError, ShortHistory) as exc:  # retried at the next line or read
        state.history_errors += 1
        log.error("reading an id's purchase lines failed (%s); retried", type(exc).__name__)
        return False
    rules = state.rules()
    for other, other_rows in rebuilt:
        rebuild(state, *other, other_rows, rules)
        state.missing.pop(other, None)
    state.missing.pop(who, None)
    rebuild(state, kind, rid, [*rows, current] if current is not None else rows, rules)
    return True


def complete(state: LiveState, who: Key, rows: list[HistoryRow]) -> None:
    """Raise :class:`ShortHistory` when a history read holds fewer lines than the id's
    ledger has taken: built from it, the ledger would lose lines (a read that missed
    lines on their way to the database). A read is believed only once it stayed short
    while :data:`SHORT_READS` batches were written (lines the database refused, kept
    in quarantine, are in no read)."""
    facts = (state.customers if who[0] == "c" else state.visitors).get(who[1])
    held = facts.purchases.line_count() if facts and facts.purchases else 0
    held += state.missing.get(who, 0)  # taken while unsettled, not in its ledger
    if len({r[0] for r in rows}) >= held:
        state.short_reads.pop(who, None)
        return
    passed, seen = state.short_reads.get(who, (0, state.writes))
    passed += state.writes > seen
    if passed < SHORT_READS:
        state.short_reads[who] = (passed, state.writes)
        raise ShortHistory(f"{len(rows)} lines read, {held} taken")
    state.short_reads.pop(who, None)
    log.error("an id's stored purchase lines stay fewer than the live ones; taken as read")


def rebuild(state: LiveState, kind: str, rid: str, rows: list[HistoryRow], rules: Rules) -> None:
    """An id's ledger built from its every line (each event id once)."""
    unique = {r[0]: r for r in rows}
    code = state.categories.code
    lines = [(t, units, key, code(cat)) for _, t, units, key, cat in unique.values()]
    state.facts_for(kind, rid).purchases = ledger.build(lines, rules)
    _mark(state, kind, rid)


def replace_facts(state: LiveState, who: Key, events: Iterable[EventRecord]) -> None:
    """Build an id's facts again from its every event (each event id once): after an
    event applied live was refused by the database, the id holds only what is stored
    or on its way there. An id left without events and known no other way is dropped
    (it was a profile only through the refused event)."""
    kind, rid = who
    facts = Facts()
    lines: list[Line] = []
    code = state.categories.code
    for e in {e.event_id: e for e in events}.values():
        add_event(facts, e, state.weights, state.rates)
        if e.type == PURCHASE:
            lines.append((e.ts, e.amount or 0, order_key(e), code(e.category)))
    if lines:
        facts.purchases = ledger.build(lines, state.rules())
    table = state.customers if kind == "c" else state.visitors
    known = (rid in state.traits or rid in state.members) if kind == "c" else rid in state.links
    if lines or facts.counts or known:
        table[rid] = facts
    else:
        table.pop(rid, None)
    state.missing.pop(who, None)
    state.short_reads.pop(who, None)
    _mark(state, kind, rid)


def _mark(state: LiveState, kind: str, rid: str) -> None:
    """An id's profile is dirty, and its customer's if it is a linked visitor."""
    state.dirty.add((kind, rid))
    linked = state.links.get(rid) if kind == "a" else None
    if linked is not None:  # a linked visitor's lines count for its customer
        state.dirty.add(("c", linked[0]))
