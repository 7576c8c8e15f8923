"""The database folds the stored orders into the same ledgers as the Python reference.

:func:`clm.profiles.live_bulk.facts` leaves the folding of a bounded state to the
database (the newest orders per id kept, the rest as aggregates); the reference is
:func:`clm.profiles.ledger.from_orders` over each id's every line summed in Python, the
orders given newest first and, on a tie, by key (the database's order). Lines come with
ties in time, refunds, orders shared by two ids (pinned), lines without an order id and
days before the window's floor. The Bloom filters built at start hold every stored key.
"""

from __future__ import annotations

import duckdb
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from clm.config import ActivitySection
from clm.profiles import ledger, live_bulk
from clm.profiles.bloom import hashes_of
from clm.profiles.ledger import Categories, Ledger, Rules

DAY = 86_400_000_000
T0 = 20_000 * DAY

WHO = st.sampled_from([("C1", None), ("C2", None), (None, "A1"), ("C1", "A1")])
LINE = st.tuples(
    WHO,
    st.integers(0, 12).map(lambda d: d * DAY // 2),  # few distinct times: ties
    st.integers(-30_000, 90_000),
    st.sampled_from(["o1", "o2", "o3", "o4", "o5", "o6", "o7", None]),
    st.sampled_from([None, "beauty", "books"]),
)
Raw = tuple[tuple[str | None, str | None], int, int, str | None, str | None]


def events_table(raw: list[Raw]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with an events table of the lines (and a visit or two)."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE events (event_id VARCHAR, customer_id VARCHAR, anonymous_id VARCHAR, "
        "type VARCHAR, ts TIMESTAMP, category VARCHAR, amount DECIMAL(18, 4), order_id VARCHAR)"
    )
    rows = [
        (f"e{i}", c, a, "purchase", T0 + t, cat, amount / 10_000, order)
        for i, ((c, a), t, amount, order, cat) in enumerate(raw)
    ]
    rows.append(("v0", "C1", None, "visit", T0, None, None, None))
    con.executemany(
        "INSERT INTO events VALUES (?, ?, ?, ?, make_timestamp(?::BIGINT), ?, ?, ?)", rows
    )
    return con


def reference(raw: list[Raw], rules: Rules, cats: Categories) -> dict[tuple[str, bool], Ledger]:
    """Every id's ledger from its lines, summed and folded in Python."""
    lines: dict[tuple[str, bool], list[tuple[int, int, str, int]]] = {}
    for i, ((c, a), t, amount, order, cat) in enumerate(raw):
        who = (c, False) if c is not None else (str(a), True)
        key = order if order is not None else f"\0e{i}"
        lines.setdefault(who, []).append((T0 + t, amount, key, cats.code(cat)))
    out = {}
    for who, mine in lines.items():
        table: dict[str, list[int]] = {}
        days: dict[int, int] = {}
        for t, units, key, code in mine:
            days[ledger.day(t)] = days.get(ledger.day(t), 0) + units
            o = table.setdefault(key, [t, 0, 0, 0])
            o[0], o[1], o[2] = min(o[0], t), o[1] + units, o[2] + 1
            o[3] |= 1 << code if code else 0
        summed = sorted(((k, *o) for k, o in table.items()), key=lambda s: s[0])
        summed.sort(key=lambda s: s[1], reverse=True)  # newest first, ties by key
        out[who] = ledger.from_orders(summed, days, rules)  # type: ignore[arg-type]
    return out


def content(p: Ledger, cats: Categories) -> tuple[object, ...]:
    kept = [(k, *p.order(i)[:3], cats.names_of(p.order(i).mask)) for i, k in enumerate(p.keys)]
    folded = (p.folded, p.folded_last, p.folded_newest, p.folded_days, p.folded_lines)
    return kept, {d: u for d, u in p.days.items()}, folded


@settings(max_examples=60, deadline=None)
@given(st.lists(LINE, min_size=1, max_size=40), st.sampled_from([None, 1, 2, 3]), st.booleans())
def test_the_database_folds_orders_as_the_reference(
    raw: list[Raw], limit: int | None, with_floor: bool
) -> None:
    assert_folds_as_reference(raw, limit, with_floor)


# amounts that cancel: orders refunded to zero (no purchase) are common (found in review:
# the lines above almost never sum to exactly zero, so counting them went unseen)
CANCELLING = st.tuples(
    WHO,
    st.integers(0, 12).map(lambda d: d * DAY // 2),
    st.sampled_from([-100, -50, 0, 50, 100]),
    st.sampled_from(["o1", "o2", "o3", "o4", None]),
    st.sampled_from([None, "beauty"]),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(CANCELLING, min_size=1, max_size=30), st.sampled_from([0, 1, 2]), st.booleans())
def test_orders_refunded_to_zero_fold_as_the_reference(
    raw: list[Raw], limit: int, with_floor: bool
) -> None:
    assert_folds_as_reference(raw, limit, with_floor)


def test_a_folded_order_on_the_floor_day_counts_on_that_day() -> None:
    """Orders on days 1, 2 and 3 after T0, one kept, the floor on day 2: the folded order
    of day 2 counts for its day, the one of day 1 does not (found in review)."""
    raw: list[Raw] = [(("C1", None), d * DAY, 5_000, f"o{d}", None) for d in (1, 2, 3)]
    assert_folds_as_reference(raw, 1, True)


def assert_folds_as_reference(raw: list[Raw], limit: int | None, with_floor: bool) -> None:
    """The database's ledgers equal the reference's for these lines and rules."""
    con = events_table(raw)
    shared = live_bulk.shared_order_keys(con)
    floor = ledger.day(T0) + 2 if with_floor and limit is not None else None
    rules = Rules(limit, floor, shared)
    cats = Categories()
    customers, visitors, _ = live_bulk.facts(con, ActivitySection(), cats, rules)
    want_cats = Categories()
    want = reference(raw, rules, want_cats)
    got = {(k, False): f for k, f in customers.items() if f.purchases is not None}
    got |= {(k, True): f for k, f in visitors.items() if f.purchases is not None}
    assert got.keys() == want.keys()
    for who, facts in got.items():
        assert facts.purchases is not None
        assert content(facts.purchases, cats) == content(want[who], want_cats), who
    con.close()


def test_the_start_filters_hold_every_stored_key() -> None:
    raw: list[Raw] = [
        (("C1", None), i * DAY, 100 + i, f"o{i % 7}" if i % 3 else None, None) for i in range(500)
    ]
    con = events_table(raw)
    ids = live_bulk.event_id_filter(con, 10)
    keys = live_bulk.order_keys(con, 10)
    stored = [r[0] for r in con.sql("SELECT event_id FROM events").fetchall()]
    orders = [
        r[0] for r in con.sql("SELECT order_id FROM events WHERE order_id IS NOT NULL").fetchall()
    ]
    assert ids.contains_many(hashes_of(stored)).all()
    assert all(hash(k) in keys for k in orders)
    fresh = hashes_of([f"new-{i}" for i in range(2_000)])
    assert float(np.mean(ids.contains_many(fresh))) < 0.01  # sized for them: few false maybes
    con.close()
