"""The live profiles agree with the batch: same events and calibration, same scores (SPEC §2–4).

The batch (``clm score``, Ibis on DuckDB) is the oracle. The live state is built two
ways: from the stored events as the server starts, and from the demo world's rows
applied one at a time in a shuffled order with repeats, as an event stream would.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from clm import Workspace
from clm.ingest import demo
from clm.ingest.demo import DemoWorld
from clm.ingest.tracking import AMOUNT_SCALE, EventRecord, LinkRecord, ProfileRecord, Record
from clm.profiles.activity_state import unpack
from clm.profiles.ledger import Categories, Ledger
from clm.profiles.live import LiveState, apply_all
from clm.profiles.live_load import load_calibration, load_state, replay_state
from clm.profiles.live_profiles import LiveProfiles
from tests.scores.test_rfm_vs_oracle import EXACT

SCORE_COLUMNS = (*EXACT, "monetary")  # every RFM input, score and the segment


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, DemoWorld]]:
    ws = Workspace.init(tmp_path_factory.mktemp("live") / "ws")
    world = demo.build(ws, 1_500, seed=5)
    yield ws, world
    ws.close()


def micros(ts: pd.Timestamp) -> int:
    return int(ts.value // 1000)


def stream(world: DemoWorld) -> list[Record]:
    """The world's rows as the records an event API would receive."""
    out: list[Record] = []
    for c in world.customers.itertuples():
        traits = {"email": c.email} if isinstance(c.email, str) else {}
        traits["signup_at"] = micros(c.signup_at)
        out.append(ProfileRecord(f"p-{c.customer_id}", c.customer_id, 0, traits))
        if isinstance(c.anonymous_id, str):
            out.append(LinkRecord(f"l-{c.customer_id}", c.anonymous_id, c.customer_id, 0))
    for t in world.transactions.itertuples():
        out.append(
            EventRecord(
                t.event_id,
                t.customer_id,
                None,
                "purchase",
                micros(t.ts),
                t.category,
                round(t.amount * AMOUNT_SCALE),
                t.order_id,
            )
        )
    for e in world.events.itertuples():
        out.append(
            EventRecord(
                e.event_id,
                _text(e.customer_id),
                _text(e.anonymous_id),
                e.type,
                micros(e.ts),
                _text(e.category),
            )
        )
    return out


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def live_from(ws: Workspace, state: LiveState) -> LiveProfiles:
    return LiveProfiles(state, load_calibration(ws.con, ws.settings), ws.settings.rfm.window_days)


def assert_same_as_batch(ws: Workspace, live: LiveProfiles) -> None:
    batch = ws.scores()
    assert live.as_of() == ws.latest_run()[1]
    mismatches = []
    for row in batch.to_dict("records"):
        key = (
            ("c", row["customer_id"])
            if isinstance(row["customer_id"], str)
            else ("a", row["anonymous_id"])
        )
        got = live.scores(key)
        assert got is not None, key
        for column in SCORE_COLUMNS:
            want = None if pd.isna(row[column]) else row[column]
            if want != got[column] and not (
                isinstance(want, float) and math.isclose(want, got[column], rel_tol=1e-12)
            ):
                mismatches.append((key, column, want, got[column]))
    assert not mismatches, mismatches[:5]
    counts = ws.segments().set_index("segment")["customers"].to_dict()
    assert live.segment_counts() == {s: n for s, n in counts.items() if n > 0}


def assert_activity_same(ws: Workspace, live: LiveProfiles, ids: list[str]) -> None:
    for pid in ids:
        key = live.state.key_of(pid)
        assert key is not None
        view = live.live_view(key)
        assert view is not None
        want = ws.activity(customer_id=pid).set_index("scope")
        got = {r["scope"]: r for r in view["activity"]}
        assert set(got) == set(want.index), pid
        for scope, r in got.items():
            for column in ("s_short", "s_long", "v_short", "v_long", "activity", "trend"):
                assert math.isclose(r[column], want.loc[scope, column], rel_tol=1e-9), (pid, scope)
            assert r["rising"] == want.loc[scope, "rising"]
        want_nb = ws.next_best_categories(pid)
        got_nb = view["next_best_categories"]
        assert [(g["rank"], g["category"]) for g in got_nb] == [
            (w["rank"], w["category"]) for w in want_nb
        ], pid
        for g, w in zip(got_nb, want_nb, strict=True):
            assert math.isclose(g["score"], w["score"], rel_tol=1e-9)


def test_state_loaded_from_the_database_scores_as_the_batch(
    built: tuple[Workspace, DemoWorld],
) -> None:
    ws, world = built
    live = live_from(ws, load_state(ws.con, ws.settings))
    assert_same_as_batch(ws, live)
    buyers = world.transactions["customer_id"].drop_duplicates().head(60).tolist()
    assert_activity_same(ws, live, ["C-SEED-0001", *buyers])


def test_a_shuffled_stream_with_repeats_scores_as_the_batch(
    built: tuple[Workspace, DemoWorld],
) -> None:
    ws, world = built
    records = stream(world)
    rng = random.Random(3)
    repeats = rng.sample(records, len(records) // 20)
    records = records + repeats
    rng.shuffle(records)
    act = ws.settings.activity
    state = LiveState(dict(act.weights), act.half_life_short, act.half_life_long)
    new = apply_all(state, records)
    events = len(world.transactions) + len(world.events)
    assert new == len(records) - sum(isinstance(r, EventRecord) for r in repeats)
    assert len(state.seen) == events
    live = live_from(ws, state)
    assert_same_as_batch(ws, live)
    assert_activity_same(ws, live, ["C-SEED-0001"])


def test_an_event_moves_the_profile_at_once(
    built: tuple[Workspace, DemoWorld], tmp_path: Path
) -> None:
    ws, _ = built
    live = live_from(ws, load_state(ws.con, ws.settings))
    live.refresh()
    before = live.scores(("c", "C-SEED-0001"))
    assert before is not None
    end = live.as_of()
    ts = micros(pd.Timestamp(end)) + 3_600_000_000
    order = EventRecord("live-1", "C-SEED-0001", None, "purchase", ts, "beauty", 1_000_000, "L1")
    assert live.state.apply(order)
    assert not live.state.apply(order)  # a repeat is ignored
    after = live.scores(("c", "C-SEED-0001"))
    assert after is not None
    assert after["recency_days"] == 0
    assert after["n_orders_life"] == before["n_orders_life"] + 1
    assert after["monetary"] == pytest.approx(before["monetary"] + 100.0)
    view = live.live_view(("c", "C-SEED-0001"))
    assert view is not None
    assert view["latest_purchases"][0]["order_id"] == "L1"
    # An identify with an email makes a new visitor a Loyal Visitor at once.
    live.state.apply(EventRecord("v-1", None, "anon-new", "visit", ts))
    live.state.apply(LinkRecord("i-1", "anon-new", "new-customer", ts))
    live.state.apply(ProfileRecord("i-1", "new-customer", ts, {"email": "n@example.com"}))
    fresh = live.scores(("c", "new-customer"))
    assert fresh is not None and fresh["segment"] == "Loyal Visitors"
    counts = live.segment_counts()
    assert sum(counts.values()) == len(ws.scores()) + 1


def test_the_database_builds_the_facts_events_would_build(
    built: tuple[Workspace, DemoWorld],
) -> None:
    ws, _ = built
    bulk, slow = load_state(ws.con, ws.settings), replay_state(ws.con, ws.settings)
    assert (bulk.seen.hashes() == slow.seen.hashes()).all() and bulk.latest_ts == slow.latest_ts
    assert bulk.links == slow.links and bulk.traits == slow.traits
    for table in ("customers", "visitors"):
        mine, theirs = getattr(bulk, table), getattr(slow, table)
        assert mine.keys() == theirs.keys()
        for rid, f in mine.items():
            g = theirs[rid]
            assert f.counts == g.counts, rid
            assert (f.last_visit, f.signed_up) == (g.last_visit, g.signed_up), rid
            assert (f.purchases is None) == (g.purchases is None), rid
            if f.purchases is not None and g.purchases is not None:
                want = summary(g.purchases, slow.categories)
                assert summary(f.purchases, bulk.categories) == want, rid
            assert f.activity.keys() == g.activity.keys(), rid
            for scope, packed in f.activity.items():
                a, b = unpack(packed), unpack(g.activity[scope])
                assert a.t_ref == b.t_ref
                for x, y in zip(a[1:], b[1:], strict=True):
                    assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-300), (rid, scope)


def summary(p: Ledger, cats: Categories) -> tuple[object, ...]:
    """A ledger's content, category codes as names (two states number them apart)."""
    kept = {k: (o.ts, o.amount, o.lines, cats.names_of(o.mask)) for k, o in p.orders().items()}
    folded = (p.folded, p.folded_last, p.folded_newest, p.folded_days)
    return kept, {d: u for d, u in p.days.items() if u}, folded


class CountingLock:
    """A lock that counts its acquisitions and can run something while it is free."""

    def __init__(self, between: Callable[[int], None]) -> None:
        self.acquired = 0
        self.between = between

    def __enter__(self) -> None:
        self.acquired += 1

    def __exit__(self, *exc: object) -> None:
        self.between(self.acquired)


def test_a_full_rescore_lets_events_in_between_and_misses_none(
    built: tuple[Workspace, DemoWorld],
) -> None:
    ws, _ = built
    live = live_from(ws, load_state(ws.con, ws.settings))
    assert live.stale()  # never scored: the first read re-scores everyone
    during = micros(pd.Timestamp(live.as_of())) + 3_600_000_000  # the same as-of date
    arrived = []

    def event(n: int) -> None:
        if n == 3:  # while the re-score is half done, two purchases arrive
            for i, who in enumerate(("C-SEED-0001", "brand-new")):
                record = EventRecord(f"mid-{i}", who, None, "purchase", during, "beauty", 50_000)
                arrived.append(live.state.apply(record))

    lock = CountingLock(event)
    live.rescore_all(lock, step=200)
    assert lock.acquired > 5 and arrived == [True, True] and not live.stale()
    live.refresh()  # the profiles the events touched meanwhile
    counts = dict(live.counts)
    fresh = live_from(ws, live.state)
    fresh.refresh()  # one full re-score, all at once
    assert {k: v for k, v in counts.items() if v} == {k: v for k, v in fresh.counts.items() if v}
    assert live.segment_of == fresh.segment_of
