"""One id's purchases in memory bounded by the configuration, not by its orders.

Exact RFM (SPEC §2) needs, as of a date whose day ends at ``end`` with the window
starting at ``start``: the orders with a positive summed amount (their count for life,
the latest one's first-line time for recency, those whose first line falls in the
window for frequency) and the sum of the lines in the window (monetary). The window's
ends are whole days, so a line counts by its day and an order by the day of its first
line. A :class:`Ledger` keeps:

- the ``limit`` newest orders exactly (key, first line's time, summed amount, lines,
  categories): they are what ``latest_purchases`` shows, and lines of them may still come;
- every older order folded into aggregates: how many are positive, the newest positive
  one's first-line time, how many positive ones start on each day, and the newest first-line
  time of all (every kept order is at least that new, so the newest orders are the kept
  ones);
- the lines' amounts summed per day, from ``floor`` on (the first day any window the
  live state can still be asked about starts; older days are dropped).

A line of an order that is not kept is a new order, unless the order may have been
folded: the caller's ``may_exist`` (a Bloom filter of every order key seen,
:mod:`clm.profiles.bloom`) says maybe, and :meth:`Ledger.add_line` answers False
without changing anything; the caller then builds the ledger again from the id's every
line (:func:`build`, from the database). So is a line that would move a kept order
before the newest folded one. An order key is the order id, or ``"\\0" + event id``
for a line without one (never seen before: its event id is new). Keys in ``pinned``
(orders with lines under two ids, merged when the ids make one profile) are always kept.
Amounts are integer ten-thousandths.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

MICROS_PER_DAY = 86_400_000_000
_NUMS = 3  # per kept order in Ledger.nums: first line's time, summed amount, lines

#: A purchase line: time (µs), amount (ten-thousandths), order key, category code.
Line = tuple[int, int, str, int]


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

    def names_of(self, mask: int) -> tuple[str, ...]:
        """The sorted names of the codes set in a mask (bit ``code``)."""
        return tuple(
            sorted(str(self.names[c]) for c in range(1, mask.bit_length()) if mask >> c & 1)
        )


class Order(NamedTuple):
    """One kept order: its first line's time, summed amount, lines, category codes (mask)."""

    ts: int
    amount: int
    lines: int
    mask: int


@dataclass(frozen=True)
class Rules:
    """How a ledger bounds itself: ``limit`` kept orders (None: keep every order),
    ``floor`` the first day whose lines are kept (None: all), ``pinned`` keys never
    folded, ``may_exist`` whether a key not kept may be a known order (it remembers the
    key as it answers)."""

    limit: int | None = None
    floor: int | None = None
    pinned: frozenset[str] | set[str] = frozenset()
    may_exist: Callable[[str], bool] | None = None


UNBOUNDED = Rules()


def day(us: int) -> int:
    """The day number (since the epoch, UTC) of a time in µs."""
    return us // MICROS_PER_DAY


def _ints() -> array[int]:
    return array("q")


@dataclass(slots=True)
class Ledger:
    """The purchases of one id (see the module docstring)."""

    keys: list[str] = field(default_factory=list)
    nums: array[int] = field(default_factory=_ints)
    masks: list[int] = field(default_factory=list)
    days: dict[int, int] = field(default_factory=dict)
    folded: int = 0  # folded orders with a positive amount
    folded_last: int | None = None  # the newest first-line time of those
    folded_newest: int | None = None  # the newest first-line time of every folded order
    folded_days: dict[int, int] = field(default_factory=dict)  # positive folded per first day
    folded_lines: int = 0  # the lines of every folded order

    def line_count(self) -> int:
        """The lines taken, kept and folded (a history read must hold at least as many)."""
        return sum(self.nums[2::_NUMS]) + self.folded_lines

    def __len__(self) -> int:
        """The orders kept."""
        return len(self.keys)

    def order(self, i: int) -> Order:
        at = _NUMS * i
        return Order(self.nums[at], self.nums[at + 1], self.nums[at + 2], self.masks[i])

    def orders(self) -> dict[str, Order]:
        """Every kept order by key."""
        return {k: self.order(i) for i, k in enumerate(self.keys)}

    def find(self, key: str) -> int:
        keys = self.keys
        return keys.index(key) if key in keys else -1

    def add_line(self, line: Line, rules: Rules) -> bool:
        """Take one line; False (nothing changed) when the id's every line is needed."""
        t, units, key, code = line
        i = self.find(key)
        if i < 0:
            if rules.may_exist is not None and not key.startswith("\0") and rules.may_exist(key):
                return False  # a folded order's line, or another id's order
            self._add_day(day(t), units, rules.floor)
            self.keys.append(key)
            self.nums.extend((t, units, 1))
            self.masks.append(1 << code if code else 0)
            self._fold(rules)
            return True
        at = _NUMS * i
        first = self.nums[at]
        if t < first and self.folded_newest is not None and t < self.folded_newest:
            return False  # would move a kept order before a folded one
        self._add_day(day(t), units, rules.floor)
        self.nums[at] = min(first, t)
        self.nums[at + 1] += units
        self.nums[at + 2] += 1
        if code:
            self.masks[i] |= 1 << code
        return True

    def _add_day(self, d: int, units: int, floor: int | None) -> None:
        if floor is not None and d < floor:
            return  # before every window still asked about
        days = self.days
        days[d] = days.get(d, 0) + units
        if floor is not None and len(days) > 64 and min(days) < floor:
            self.days = {k: v for k, v in days.items() if k >= floor}

    def _fold(self, rules: Rules) -> None:
        """Fold the oldest kept orders while more than ``limit`` unpinned ones are kept."""
        if rules.limit is None or len(self.keys) <= rules.limit:
            return
        pinned = rules.pinned
        if not pinned:  # the usual case: one order over the limit, fold the oldest
            while len(self.keys) > rules.limit:
                firsts = self.nums[0::_NUMS]
                self._fold_one(firsts.index(min(firsts)), rules.floor)
            return
        loose = [i for i, k in enumerate(self.keys) if k not in pinned]
        while len(loose) > rules.limit:
            oldest = min(loose, key=lambda i: self.nums[_NUMS * i])
            self._fold_one(oldest, rules.floor)
            loose = [i for i, k in enumerate(self.keys) if k not in pinned]

    def _fold_one(self, i: int, floor: int | None) -> None:
        first, amount, lines, _ = self.order(i)
        self._count_folded(first, amount, floor)
        self.folded_lines += lines
        del self.keys[i], self.masks[i]
        del self.nums[_NUMS * i : _NUMS * (i + 1)]

    def _count_folded(self, first: int, amount: int, floor: int | None) -> None:
        """An order's part in the folded aggregates."""
        if self.folded_newest is None or first > self.folded_newest:
            self.folded_newest = first
        if amount > 0:
            self.folded += 1
            if self.folded_last is None or first > self.folded_last:
                self.folded_last = first
            d = day(first)
            if floor is None or d >= floor:
                self.folded_days[d] = self.folded_days.get(d, 0) + 1
                if floor is not None and len(self.folded_days) > 64:
                    self.folded_days = {k: v for k, v in self.folded_days.items() if k >= floor}

    # -- reading ---------------------------------------------------------------------------

    def line_sum(self, first_day: int, end_day: int) -> int:
        """The summed amount of the lines on days ``first_day <= d < end_day``."""
        return sum(u for d, u in self.days.items() if first_day <= d < end_day)

    def folded_in(self, first_day: int, end_day: int) -> int:
        """Folded positive orders whose first line is on a day in ``[first_day, end_day)``."""
        return sum(n for d, n in self.folded_days.items() if first_day <= d < end_day)


def build(lines: Iterable[Line], rules: Rules) -> Ledger:
    """The ledger of an id's every line, in any order (when :meth:`Ledger.add_line` asked
    for them): the newest orders kept, the rest folded."""
    table: dict[str, list[int]] = {}
    days: dict[int, int] = {}
    for t, units, key, code in lines:
        d = day(t)
        days[d] = days.get(d, 0) + units
        o = table.get(key)
        if o is None:
            table[key] = [t, units, 1, 1 << code if code else 0]
        else:
            o[0], o[1], o[2] = min(o[0], t), o[1] + units, o[2] + 1
            o[3] |= 1 << code if code else 0
    summed = [(k, o[0], o[1], o[2], o[3]) for k, o in table.items()]
    return from_orders(summed, days, rules)


#: An order summed: key, first line's time, amount, lines, category codes (mask).
Summed = tuple[str, int, int, int, int]


def from_orders(orders: list[Summed], days: dict[int, int], rules: Rules) -> Ledger:
    """The ledger of an id's orders, already summed, and its line amounts per day (the
    server's start, from the database's aggregates)."""
    out = Ledger()
    floor = rules.floor
    out.days = days if floor is None else {d: u for d, u in days.items() if d >= floor}
    kept = 0
    for key, t, units, n, mask in sorted(orders, key=lambda o: o[1], reverse=True):
        pinned = key in rules.pinned
        if pinned or rules.limit is None or kept < rules.limit:
            out.keys.append(key)
            out.nums.extend((t, units, n))
            out.masks.append(mask)
            kept += not pinned
        else:
            out._count_folded(t, units, floor)
            out.folded_lines += n
    return out
