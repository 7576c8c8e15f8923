"""The server's live state stays bounded while events arrive (issue 5, "flat memory"), and
stays exact: a fixed set of profiles takes thousands of orders, shuffled, with repeats and
late lines of folded orders, through a real event stream on a DuckDB workspace; the
state's size stops growing and every profile's RFM inputs equal those computed from the
stored events themselves."""

from __future__ import annotations

import random
from datetime import date

from clm import Workspace
from clm.ingest.recent_ids import RecentIds
from clm.ingest.tracking import EventRecord
from clm.profiles import live_scores
from clm.profiles.ledger import day
from clm.profiles.live_load import FOLD_LIMIT

DAY = 86_400_000_000
T0 = 20_400 * DAY  # 2025-11-08
PROFILES = 20


def purchases(orders: int, seed: int) -> list[EventRecord]:
    """The lines of ``orders`` orders over 10 days for the fixed profiles, shuffled; every
    tenth order has a second line, which may come long after the order was folded."""
    rng = random.Random(seed)
    out = []
    for order in range(orders):
        who = f"c-{order % PROFILES}"
        for line in range(2 if order % 10 == 0 else 1):
            ts = T0 + rng.randrange(10 * DAY)
            amount = rng.choice([-20_000, 50_000, 99_000, 120_000])
            out.append(
                EventRecord(
                    f"m-{order}-{line}", who, None, "purchase", ts, "books", amount, f"o-{order}"
                )
            )
    rng.shuffle(out)
    return out


def footprint(ws: Workspace) -> int:
    """The live state's orders and day entries: what would grow with the events."""
    assert ws.stream is not None
    state = ws.stream.live.state
    return sum(
        len(f.purchases) + len(f.purchases.days) + len(f.purchases.folded_days)
        for f in state.customers.values()
        if f.purchases is not None
    ) + len(ws.stream._pending)


def stored_inputs(ws: Workspace, customer: str, as_of: date) -> tuple[int, int, int, float]:
    """n_orders_life, frequency, recency in days and monetary from the stored events (SQL)."""
    end = (as_of - date(1970, 1, 1)).days * DAY + DAY
    start = end - ws.settings.rfm.window_days * DAY
    row = ws.con.execute(
        """
        WITH l AS (SELECT order_id, epoch_us(ts) AS t, amount FROM events
                   WHERE customer_id = ? AND type = 'purchase'),
        o AS (SELECT min(t) AS first, sum(amount) AS amount FROM l GROUP BY order_id)
        SELECT (SELECT count(*) FROM o WHERE amount > 0),
               (SELECT count(*) FROM o WHERE amount > 0 AND first >= ? AND first < ?),
               (SELECT max(first) FROM o WHERE amount > 0),
               (SELECT coalesce(sum(amount), 0) FROM l WHERE t >= ? AND t < ?)
        """,
        [customer, start, end, start, end],
    ).fetchall()[0]
    recency = (as_of - date(1970, 1, 1)).days - day(int(row[2]))
    return int(row[0]), int(row[1]), recency, float(row[3])


def test_the_live_state_stops_growing_and_stays_exact(ws: Workspace) -> None:
    events = purchases(6_000, seed=7)
    stream = ws.start_stream(flush_interval=0.02)
    sizes = []
    try:
        for i in range(0, len(events), 100):
            batch = events[i : i + 100]
            stream.accept(batch + batch[:5])  # five repeats in each request
            if i % 1_000 == 0:
                stream.flush()
                sizes.append(footprint(ws))
        stream.flush()
        sizes.append(footprint(ws))
        live = stream.live
        as_of = live.as_of()
        parts_of = live.state.facts_of
        for c in range(PROFILES):
            customer = f"c-{c}"
            got = live_scores.rfm_inputs(parts_of(("c", customer)), None, as_of, 365)
            n, frequency, recency, monetary = stored_inputs(ws, customer, as_of)
            assert (got["n_orders_life"], got["frequency"]) == (n, frequency), customer
            assert (got["recency_days"], got["monetary"]) == (recency, monetary), customer
            ledger = live.state.customers[customer].purchases
            assert ledger is not None and len(ledger) == FOLD_LIMIT
    finally:
        ws.stop_stream()
    assert ws.con.execute("SELECT count(*) FROM events").fetchall()[0][0] == len(events)
    # 10 days of lines and first days, and 16 orders per profile: reached early, then flat
    bound = PROFILES * (FOLD_LIMIT + 2 * 41)
    assert max(sizes) <= bound, sizes
    assert sizes[-1] <= sizes[len(sizes) // 2] + PROFILES, sizes


def test_a_repeat_is_ignored_from_the_pending_recent_and_stored_ids(ws: Workspace) -> None:
    events = purchases(600, seed=3)
    stream = ws.start_stream(flush_interval=60)  # writes only when flushed
    try:
        assert stream.accept(events[:300]) == 300
        assert stream.accept(events[:10]) == 0  # pending: not written yet
        stream.flush()
        assert stream.accept(events[:10]) == 0  # written lately
        stream._recent = RecentIds(5)
        stream.accept(events[300:])
        stream.flush()  # the first events left the recent ids: the database answers
        before = live_scores.rfm_inputs(
            stream.live.state.facts_of(("c", "c-1")), None, stream.live.as_of(), 365
        )
        assert stream.accept(events[:300] + events[:300]) == 0
        after = live_scores.rfm_inputs(
            stream.live.state.facts_of(("c", "c-1")), None, stream.live.as_of(), 365
        )
        assert after == before and stream.stats.duplicates == 20 + 600
    finally:
        ws.stop_stream()
    assert ws.con.execute("SELECT count(*) FROM events").fetchall()[0][0] == len(events)
