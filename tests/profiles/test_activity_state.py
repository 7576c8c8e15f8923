"""The O(1) per-event update agrees with the batch, in any arrival order (SPEC §4)."""

from __future__ import annotations

import gc
import tempfile
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clm import Workspace
from clm.profiles.activity_state import (
    ActivityState,
    Decayed,
    add,
    apply_event,
    apply_in_place,
    decay_rate,
    evaluate,
    micros,
    pack,
    unpack,
    value_at,
)

AS_OF = date(2024, 6, 30)
T_END = datetime(2024, 7, 1)
H_S, H_L = 30.0, 180.0
RATES = decay_rate(H_S), decay_rate(H_L)
WEIGHTS = {"purchase": 1.0, "product_view": 0.2}


def test_one_purchase_one_half_life_ago_counts_half() -> None:
    state = apply_event(
        ActivityState(), T_END - timedelta(days=30), "purchase", "beauty", 40.0, WEIGHTS, H_S, H_L
    )
    later = value_at(unpack(state["beauty"]), micros(T_END), H_S, H_L)
    assert later.s_short == pytest.approx(0.5, rel=1e-12)
    assert later.v_short == pytest.approx(20.0, rel=1e-12)
    assert later.s_long == pytest.approx(2 ** (-30 / 180), rel=1e-12)
    assert set(state) == {"all", "beauty"}


def test_refunds_and_unweighted_types_add_nothing_but_open_the_scope() -> None:
    state = ActivityState()
    for kind, amount in [("purchase", -10.0), ("visit", None), ("purchase", 0.0)]:
        state = apply_event(state, T_END, kind, "home", amount, WEIGHTS, H_S, H_L)
    assert unpack(state["home"]) == Decayed(micros(T_END))


def test_micros_of_naive_aware_and_pre_epoch_times() -> None:
    assert micros(datetime(1970, 1, 1, 0, 0, 1, 5)) == 1_000_005
    assert micros(datetime(1969, 12, 31, 23, 59, 59, 999_999)) == -1
    paris = timezone(timedelta(hours=2))
    assert micros(datetime(2024, 7, 1, 2, tzinfo=paris)) == micros(datetime(2024, 7, 1))
    assert micros(datetime(2024, 7, 1, tzinfo=UTC)) == micros(datetime(2024, 7, 1))
    assert micros(123) == 123


def test_states_are_not_tracked_by_the_cyclic_garbage_collector() -> None:
    """What keeps the update fast with a million live states (benchmarks/RESULTS.md)."""
    state = ActivityState()
    for day, category in enumerate(["beauty", None, "home", "beauty"]):
        when = T_END - timedelta(days=10 - day)
        state = apply_event(state, when, "purchase", category, 20.0, WEIGHTS, H_S, H_L)
    assert not gc.is_tracked(state)
    assert set(state) == {"all", "beauty", "home"}


def test_out_of_order_equals_in_order() -> None:
    early, late = T_END - timedelta(days=100), T_END - timedelta(days=3, microseconds=7)
    first = pack(Decayed(micros(early)))
    forward = unpack(
        add(add(first, micros(early), 1.0, 5.0, *RATES), micros(late), 1.0, 7.0, *RATES)
    )
    first = pack(Decayed(micros(late)))
    backward = unpack(
        add(add(first, micros(late), 1.0, 7.0, *RATES), micros(early), 1.0, 5.0, *RATES)
    )
    assert forward.t_ref == backward.t_ref == micros(late)
    for field in ("s_short", "s_long", "v_short", "v_long"):
        assert getattr(forward, field) == pytest.approx(getattr(backward, field), rel=1e-12)


events_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=3),  # customer
        st.integers(min_value=0, max_value=400 * 86_400 * 1_000_000),  # µs before T_END
        st.sampled_from(["purchase", "purchase", "product_view", "visit"]),
        st.sampled_from(["beauty", "fashion", "home", None]),
        st.sampled_from([-12.5, 0.0, 3.99, 25.0, 120.0]),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=events_strategy, order=st.randoms(use_true_random=False))
def test_any_arrival_order_gives_the_batch_sums(events: list[tuple], order: object) -> None:
    frame = pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(events))],
            "customer_id": [f"c{e[0]}" for e in events],
            "ts": [T_END - timedelta(microseconds=e[1] + 1) for e in events],
            "type": [e[2] for e in events],
            "category": [e[3] for e in events],
            "amount": [e[4] for e in events],
        }
    )
    with tempfile.TemporaryDirectory() as folder:
        ws = Workspace.init(Path(folder) / "ws")
        try:
            for key, value in WEIGHTS.items():
                ws.config_set(f"activity.weights.{key}", str(value))
            ws.import_events(frame, type_column="type")
            ws.score(AS_OF)
            batch = ws.activity()
            calibration = ws.calibration().activity
        finally:
            ws.close()
    shuffled = list(frame.itertuples())
    order.shuffle(shuffled)  # type: ignore[attr-defined]
    states: dict[str, ActivityState] = {}
    for e in shuffled:
        amount = None if pd.isna(e.amount) else float(e.amount)
        category = None if e.category is None or pd.isna(e.category) else e.category
        states[e.customer_id] = apply_event(
            states.get(e.customer_id, ActivityState()),
            e.ts,
            e.type,
            category,
            amount,
            WEIGHTS,
            H_S,
            H_L,
        )
    online = {
        (cid, s.scope): s
        for cid, state in states.items()
        for s in evaluate(state, T_END, calibration)
    }
    assert len(online) == len(batch)
    for row in batch.itertuples():
        got = online[(row.customer_id, row.scope)]
        for name in ("s_short", "s_long", "v_short", "v_long", "activity", "trend"):
            assert getattr(got, name) == pytest.approx(getattr(row, name), rel=1e-9, abs=1e-12)
        if pd.isna(row.affinity):
            assert got.affinity is None
        else:
            assert got.affinity == pytest.approx(row.affinity, rel=1e-9)
        assert got.rising == bool(row.rising)


@settings(max_examples=50, deadline=None)
@given(events=events_strategy)
def test_the_in_place_update_is_the_update(events: list[tuple]) -> None:
    copied: ActivityState = {}
    in_place: ActivityState = {}
    for _, age, kind, category, amount in events:
        t = micros(T_END) - age
        copied = apply_event(copied, t, kind, category, amount, WEIGHTS, H_S, H_L)
        apply_in_place(in_place, t, kind, category, amount, WEIGHTS, *RATES)
    assert in_place == copied
