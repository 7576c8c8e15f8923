"""A profile's orders and purchase lines, packed in arrays (the live state's purchases).

Exact RFM needs every order (its first line's time and summed amount decide recency,
frequency and the order count, SPEC §2, and a late line of an old order can still change
them) and every line's time and amount (the monetary window). :class:`Purchases` keeps
them in a few flat arrays instead of an object per order, so a purchase costs the
live state about 60 bytes plus its order id's length:

- ``keys``: the hash of each order's key (8 bytes), searched to find a line's order;
- ``orders``: per order its first line's time and summed amount (16 bytes), and where
  its key starts in ``names`` (8 bytes);
- ``names``: the order keys, UTF-8, one after the other (a hash match is confirmed by
  comparing the key itself, so two keys with the same hash never merge);
- ``lines``: per line its time, amount, and its order's index with its category's code
  (24 bytes).

An order's key is its order id, or ``"\\0" + event id`` for a line without one.
Amounts are integer ten-thousandths (:data:`clm.ingest.records.AMOUNT_SCALE`). Neither
arrays nor a ``bytearray`` are tracked by CPython's cyclic garbage collector.
Finding an order is a search of the profile's ``keys`` bytes for the key's hash
(``bytearray.find``, a ``memchr``-speed scan): linear in the profile's orders, a
microsecond for thousands of them.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

_ORDER = 3  # ints per order in Purchases.orders: first time, amount, start of its key
_LINE = 3  # ints per line in Purchases.lines: time, amount, order index << 32 | category
_CODE_BITS = 32
_CODE_MASK = (1 << _CODE_BITS) - 1
_HASH = struct.Struct("<q").pack  # an order key's hash as 8 bytes


class Categories:
    """Category names and their small integer codes (0: no category), one table per state."""

    def __init__(self) -> None:
        self.names: list[str | None] = [None]
        self.codes: dict[str, int] = {}

    def code(self, name: str | None) -> int:
        """The code of a category name, given a new one when unseen."""
        if not name:
            return 0
        found = self.codes.get(name)
        if found is None:
            found = self.codes[name] = len(self.names)
            self.names.append(name)
        return found

    def name(self, code: int) -> str | None:
        return self.names[code]


class Order(NamedTuple):
    """One order as read back: its first line's time, summed amount, lines, categories."""

    ts: int
    amount: int
    lines: int
    categories: tuple[str, ...]  # sorted, distinct


def _int_array() -> array[int]:
    return array("q")


@dataclass(slots=True)
class Purchases:
    """The orders and lines of one id's purchase events (see the module docstring)."""

    keys: bytearray = field(default_factory=bytearray)  # 8 bytes per order: its key's hash
    orders: array[int] = field(default_factory=_int_array)
    names: bytearray = field(default_factory=bytearray)
    lines: array[int] = field(default_factory=_int_array)

    def __len__(self) -> int:
        """The number of orders."""
        return len(self.keys) >> 3

    def find(self, key: str, encoded: bytes | None = None) -> int:
        """The index of the order with this key, or -1."""
        needle, keys = _HASH(hash(key)), self.keys
        at = keys.find(needle)
        if at < 0:  # most lines start a new order
            return -1
        raw = key.encode() if encoded is None else encoded
        while at >= 0:
            if not at & 7 and self.key_bytes(at >> 3) == raw:
                return at >> 3
            at = keys.find(needle, at + 1)  # unaligned, or the same hash for another key
        return -1

    def key_bytes(self, i: int) -> bytes:
        begin = self.orders[_ORDER * i + 2]
        end = self.orders[_ORDER * (i + 1) + 2] if i + 1 < len(self) else len(self.names)
        return bytes(self.names[begin:end])

    def key(self, i: int) -> str:
        return self.key_bytes(i).decode()

    def add_order(self, key: str, ts: int, amount: int, encoded: bytes | None = None) -> int:
        """A new order (no line yet); its index."""
        self.keys += _HASH(hash(key))
        self.orders.extend((ts, amount, len(self.names)))
        self.names += key.encode() if encoded is None else encoded
        return len(self) - 1

    def add_line(self, key: str, ts: int, amount: int, category: int) -> None:
        """One purchase line of the order ``key`` (its first line makes the order)."""
        encoded = key.encode()
        i = self.find(key, encoded)
        if i < 0:
            i = self.add_order(key, ts, amount, encoded)
        else:
            at = _ORDER * i
            if ts < self.orders[at]:
                self.orders[at] = ts
            self.orders[at + 1] += amount
        self.lines.extend((ts, amount, i << _CODE_BITS | category))

    def order_times(self) -> array[int]:
        return self.orders[0::_ORDER]

    def order_amounts(self) -> array[int]:
        return self.orders[1::_ORDER]

    def line_times(self) -> array[int]:
        return self.lines[0::_LINE]

    def line_amounts(self) -> array[int]:
        return self.lines[1::_LINE]

    def line_orders(self) -> Iterator[tuple[int, int]]:
        """``(order index, category code)`` of every line."""
        for packed in self.lines[2::_LINE]:
            yield packed >> _CODE_BITS, packed & _CODE_MASK

    def table(self, categories: Categories) -> dict[str, Order]:
        """Every order by key, with its lines and categories (reading, and tests)."""
        lines = [0] * len(self)
        codes: list[set[int]] = [set() for _ in range(len(self))]
        for i, code in self.line_orders():
            lines[i] += 1
            if code:
                codes[i].add(code)
        times, amounts = self.order_times(), self.order_amounts()
        out = {}
        for i in range(len(self)):
            names = sorted({str(categories.name(c)) for c in codes[i]})
            out[self.key(i)] = Order(times[i], amounts[i], lines[i], tuple(names))
        return out


def packed(
    keys: list[str],
    first: list[int],
    amounts: list[int],
    lines: list[tuple[int, int, str, int]],
) -> Purchases:
    """Purchases from orders already summed (key, first time, amount) and their lines
    (time, amount, order key, category code), as :meth:`Purchases.add_line` would build
    them line by line (the server's start, from the database's aggregates)."""
    p = Purchases()
    index: dict[str, int] = {}
    for key, ts, amount in zip(keys, first, amounts, strict=True):
        index[key] = p.add_order(key, ts, amount)
    p.lines = array("q", [x for t, a, k, c in lines for x in (t, a, index[k] << _CODE_BITS | c)])
    return p


def merged(parts: list[Purchases], categories: Categories) -> dict[str, Order]:
    """The orders of a profile's parts; an order key seen in two parts is one order."""
    if len(parts) == 1:
        return parts[0].table(categories)
    out: dict[str, Order] = {}
    for part in parts:
        for key, o in part.table(categories).items():
            known = out.get(key)
            out[key] = (
                o
                if known is None
                else Order(
                    min(known.ts, o.ts),
                    known.amount + o.amount,
                    known.lines + o.lines,
                    tuple(sorted({*known.categories, *o.categories})),
                )
            )
    return out


def positive_order_times(parts: list[Purchases]) -> list[int]:
    """First-line times of the profile's orders whose summed amount is positive (SPEC §2)."""
    if len(parts) == 1:
        p = parts[0]
        return [t for t, a in zip(p.order_times(), p.order_amounts(), strict=True) if a > 0]
    totals: dict[bytes, list[int]] = {}
    for p in parts:
        for i, (t, a) in enumerate(zip(p.order_times(), p.order_amounts(), strict=True)):
            known = totals.setdefault(p.key_bytes(i), [t, 0])
            known[0] = min(known[0], t)
            known[1] += a
    return [t for t, a in totals.values() if a > 0]


def line_sum(parts: list[Purchases], start: int, end: int) -> int:
    """The summed amount of the lines with ``start <= time < end``."""
    return sum(
        a
        for p in parts
        for t, a in zip(p.line_times(), p.line_amounts(), strict=True)
        if start <= t < end
    )
