"""Packed orders and lines against a plain dict of orders (the oracle), and their size."""

from __future__ import annotations

import struct
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from clm.profiles import orders
from clm.profiles.orders import Categories, Order, Purchases

LINE = st.tuples(
    st.sampled_from(["o1", "o2", "ö3", "\0e4", "", "o5-" + "x" * 40]),
    st.integers(-(2**62), 2**62),
    st.integers(-(10**12), 10**12),
    st.sampled_from([None, "beauty", "books", "garden"]),
)


def oracle(lines: list[tuple[str, int, int, str | None]]) -> dict[str, Order]:
    out: dict[str, Order] = {}
    for key, ts, amount, category in lines:
        o = out.get(key)
        cats = {category} if category else set()
        if o is None:
            out[key] = Order(ts, amount, 1, tuple(sorted(cats)))
        else:
            out[key] = Order(
                min(o.ts, ts), o.amount + amount, o.lines + 1, tuple(sorted({*o.categories, *cats}))
            )
    return out


def pack(lines: list[tuple[str, int, int, str | None]], cats: Categories) -> Purchases:
    p = Purchases()
    for key, ts, amount, category in lines:
        p.add_line(key, ts, amount, cats.code(category))
    return p


@settings(max_examples=200, deadline=None)
@given(st.lists(LINE, max_size=40), st.lists(LINE, max_size=10))
def test_packed_orders_are_the_orders_of_a_dict(
    lines: list[tuple[str, int, int, str | None]], other: list[tuple[str, int, int, str | None]]
) -> None:
    cats = Categories()
    p, q = pack(lines, cats), pack(other, cats)
    assert p.table(cats) == oracle(lines)
    assert orders.merged([p, q], cats) == oracle(lines + other)
    want = oracle(lines + other)
    assert sorted(orders.positive_order_times([p, q])) == sorted(
        o.ts for o in want.values() if o.amount > 0
    )
    start, end = -(2**40), 2**40
    assert orders.line_sum([p, q], start, end) == sum(
        a for _, t, a, _ in lines + other if start <= t < end
    )
    # the same orders rebuilt from their sums and lines, as the server's start does
    table = p.table(cats)
    rebuilt = orders.packed(
        list(table),
        [o.ts for o in table.values()],
        [o.amount for o in table.values()],
        [(t, a, k, cats.code(c)) for k, t, a, c in lines],
    )
    assert rebuilt.table(cats) == table


def test_keys_with_the_same_hash_stay_two_orders() -> None:
    p = Purchases()
    p.add_line("a", 10, 5, 0)
    p.keys[:8] = struct.pack("<q", hash("b"))  # as if "a" and "b" had the same hash
    p.add_line("b", 20, 7, 0)
    p.add_line("b", 5, 1, 0)
    assert p.table(Categories()) == {"a": Order(10, 5, 1, ()), "b": Order(5, 8, 2, ())}


def test_a_hash_found_across_two_keys_bytes_is_no_order() -> None:
    p = Purchases()
    p.add_line("x", 10, 5, 0)
    p.add_line("y", 10, 5, 0)
    wanted = struct.pack("<q", hash("x"))
    p.keys[:] = b"\0" * 4 + wanted + b"\0" * 4  # x's hash straddles the two slots
    assert p.find("x") == -1  # offset 4 is no order's slot (it would read as order 0, "x")
    p.keys[:8] = wanted
    assert p.find("x") == 0


def test_a_purchase_costs_tens_of_bytes() -> None:
    """A one-line order with an 18-character id: 24 bytes of order, 8 of key hash, 18 of
    id and 24 of line, plus the arrays' spare room (they grow by about 1/8)."""
    cats = Categories()
    profiles = [Purchases() for _ in range(100)]
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i in range(20_000):
        profiles[i % 100].add_line(f"wo-12345678-{i:06d}", 1_700_000_000_000_000 + i, 95_000, 1)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert cats.code(None) == 0
    assert grown / 20_000 < 110
