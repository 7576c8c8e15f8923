"""A bounded live state (few orders kept per id, the rest folded) against a plain Python
model of every line: the same RFM inputs and newest orders, whatever the order of the
events, with repeats, late lines of folded orders, orders shared by a visitor and its
customer, and a Bloom filter that answers "maybe" often (tiny) or rarely."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from clm.ingest.tracking import EventRecord, LinkRecord
from clm.profiles import ledger, live_scores
from clm.profiles.bloom import Bloom
from clm.profiles.ledger import Categories, Ledger, Rules
from clm.profiles.live import HistoryRow, LiveState, order_key, owner

DAY = 86_400_000_000
T0 = 20_000 * DAY  # 2024-10-04
WINDOW = 7
LIMIT = 2

EVENT = st.tuples(
    st.sampled_from([("C1", None), ("C2", None), (None, "A1"), ("C1", "A1")]),
    st.integers(0, 20 * DAY),  # time after T0
    st.integers(-30_000, 90_000),  # amount, refunds included
    st.sampled_from(["o1", "o2", "o3", "o4", "o5", "o6", None]),
    st.sampled_from([None, "beauty", "books"]),
)


Raw = tuple[tuple[str | None, str | None], int, int, str | None, str | None]


def records(raw: list[Raw]) -> list[EventRecord]:
    out = []
    for i, ((customer, anonymous), t, amount, order, category) in enumerate(raw):
        out.append(
            EventRecord(f"e{i}", customer, anonymous, "purchase", T0 + t, category, amount, order)
        )
    return out


class Model:
    """Every line applied, by id: the history a database would give."""

    def __init__(self) -> None:
        self.lines: dict[tuple[str, str], list[HistoryRow]] = {}

    def add(self, e: EventRecord) -> None:
        row = (e.event_id, e.ts, e.amount or 0, order_key(e), e.category)
        self.lines.setdefault(owner(e), []).append(row)

    def history(
        self, kind: str, rid: str, key: str | None
    ) -> tuple[list[HistoryRow], list[tuple[str, str]]]:
        others = [
            who
            for who, rows in self.lines.items()
            if who != (kind, rid) and any(r[3] == key for r in rows)
        ]
        return list(self.lines.get((kind, rid), [])), sorted(others)


def oracle(rows: list[HistoryRow], as_of: date) -> dict[str, object]:
    """RFM inputs (SPEC §2) and the newest orders from every line of a profile."""
    end = (as_of - date(1970, 1, 1)).days * DAY + DAY
    start = end - WINDOW * DAY
    orders: dict[str, list[int]] = {}
    for _, t, units, key, _ in rows:
        o = orders.setdefault(key, [t, 0, 0])
        o[0], o[1], o[2] = min(o[0], t), o[1] + units, o[2] + 1
    positive = [o[0] for o in orders.values() if o[1] > 0]
    newest = sorted((o[0] for o in orders.values()), reverse=True)[:LIMIT]
    return {
        "n_orders_life": len(positive),
        "last": max(positive, default=None),
        "frequency": sum(1 for t in positive if start <= t < end),
        "monetary": sum(u for _, t, u, _, _ in rows if start <= t < end),
        "newest": newest,
    }


def observed(state: LiveState, customer: str, as_of: date) -> dict[str, object]:
    parts = state.facts_of(("c", customer))
    inputs = live_scores.rfm_inputs(parts, None, as_of, WINDOW)
    kept = live_scores.kept_orders([f.purchases for f in parts if f.purchases is not None])
    last = None
    if inputs["recency_days"] is not None:
        last_day = as_of - timedelta(days=inputs["recency_days"])
        last = (last_day - date(1970, 1, 1)).days
    return {
        "n_orders_life": inputs["n_orders_life"],
        "last_day": last,
        "frequency": inputs["frequency"],
        "monetary": round(inputs["monetary"] * 10_000),
        "newest": sorted((o.ts for o in kept.values()), reverse=True)[:LIMIT],
    }


@settings(max_examples=150, deadline=None)
@given(
    st.lists(EVENT, min_size=1, max_size=40),
    st.randoms(use_true_random=False),
    st.sampled_from([1, 1_000]),
    st.integers(0, 10),
    st.sampled_from(["none", "error", "short"]),
)
def test_a_bounded_state_scores_as_every_line_would(
    raw: list[Raw],
    rng: object,
    bloom_capacity: int,
    later_days: int,
    faults: str,
) -> None:
    """``faults``: until the end, every third history read fails (a database error) or
    misses the two lines added last (a read that missed lines on their way to the database)."""
    events = records(raw)
    stream = [*events, *events[: len(events) // 3]]  # repeats
    rng.shuffle(stream)  # type: ignore[attr-defined]
    state = LiveState({"purchase": 1.0}, 30.0, 180.0)
    state.fold_limit, state.window_days = LIMIT, WINDOW
    state.order_keys = Bloom(bloom_capacity)
    model = Model()
    reads = [0]

    def history(
        kind: str, rid: str, key: str | None
    ) -> tuple[list[HistoryRow], list[tuple[str, str]]]:
        reads[0] += 1
        rows, others = model.history(kind, rid, key)
        if faults != "none" and reads[0] % 3 == 0:
            if faults == "error":
                raise OSError("injected: the history could not be read")
            newest = {e.event_id for e in applied[-2:]}
            rows = [r for r in rows if r[0] not in newest]
        return rows, others

    state.history = history
    state.apply(LinkRecord("l1", "A1", "C1", None))
    applied: list[EventRecord] = []
    for e in stream:
        if state.apply(e):
            model.add(e)
            applied.append(e)
    faults = "none"
    state.settle()  # what a read of the profiles does first
    assert not state.unsettled
    assert state.latest_ts is not None
    as_of = date(1970, 1, 1) + timedelta(days=ledger.day(state.latest_ts) + later_days)
    for customer in ("C1", "C2"):
        rows = [r for who in (("c", customer), ("a", "A1")) for r in model.lines.get(who, [])]
        if customer == "C2":
            rows = model.lines.get(("c", "C2"), [])
        want = oracle(rows, as_of)
        got = observed(state, customer, as_of)
        last = want.pop("last")
        want["last_day"] = None if last is None else ledger.day(int(last))  # type: ignore[call-overload]
        assert got == want, (customer, got, want)
    for facts in (*state.customers.values(), *state.visitors.values()):
        if facts.purchases is not None:  # the bound: a few orders kept, shared ones besides
            loose = [k for k in facts.purchases.keys if k not in state.shared]
            assert len(loose) <= LIMIT


LINE = st.tuples(
    st.integers(0, 30 * DAY),
    st.integers(-50, 100),
    st.sampled_from(["a", "b", "c", "d", "e", "\0x", "\0y"]),
    st.integers(0, 3),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(LINE, max_size=30, unique_by=lambda line: line[0]), st.integers(1, 4))
def test_lines_one_by_one_make_the_ledger_built_from_them_all(
    lines: list[tuple[int, int, str, int]], limit: int
) -> None:
    rules = Rules(limit, None, frozenset(), None)  # no folded order is ever asked for
    seen: set[str] = set()
    one_by_one = Ledger()
    taken: list[tuple[int, int, str, int]] = []
    for line in sorted(lines):  # in time order: no line moves an order before a folded one
        if line[2] in seen and one_by_one.find(line[2]) < 0:
            continue  # a folded order's line needs the history: left to the state test
        assert one_by_one.add_line(line, rules)
        seen.add(line[2])
        taken.append(line)
    whole = ledger.build(taken, rules)
    assert one_by_one.orders() == whole.orders()
    assert (one_by_one.folded, one_by_one.folded_last, one_by_one.folded_days) == (
        whole.folded,
        whole.folded_last,
        whole.folded_days,
    )
    assert {d: u for d, u in one_by_one.days.items()} == whole.days


def test_category_masks_name_the_categories_sorted() -> None:
    cats = Categories()
    mask = 1 << cats.code("toys") | 1 << cats.code("books")
    assert cats.names_of(mask) == ("books", "toys")
    assert cats.names_of(0) == ()
