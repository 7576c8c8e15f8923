"""A failed refresh of the live segments is not taken for a finished one (issue 5 review,
item 3): the next refresh scores the whole population again."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import duckdb
import pytest

from clm.ingest.tracking import EventRecord, micros
from clm.profiles.bloom import Bloom
from clm.profiles.live import HistoryRow, Key, LiveState
from clm.profiles.live_profiles import LiveProfiles

DAY = 86_400_000_000


def test_a_refresh_that_fails_part_way_is_done_again_in_full() -> None:
    state = LiveState({"purchase": 1.0}, 30.0, 180.0)
    start = micros(datetime(2026, 10, 1, tzinfo=UTC))
    for i in range(5):
        state.apply(EventRecord(f"v-{i}", None, f"anon-{i}", "visit", start + i * DAY))
    # a purchase dated before year 1 (as the API took before it refused times before 1900)
    too_early = micros(datetime(1, 1, 1, tzinfo=UTC)) - 3_600_000_000
    state.apply(EventRecord("p-0", "c-1", None, "purchase", too_early, None, 10_000, "o-0"))
    live = LiveProfiles(state, None, 365)
    with pytest.raises(OverflowError):
        live.refresh()  # customers are scored first: it fails before any visitor
    # a later order makes the customer scorable again
    state.apply(EventRecord("p-1", "c-1", None, "purchase", start, None, 10_000, "o-1"))
    assert live.segment_counts() == {"Engaged Visitors": 5}


def _bounded_state_with_an_unsettled_customer() -> tuple[LiveState, list[int]]:
    """Many visitors and one customer whose ledger a failed history read left short; every
    later read of its history fails too. Returns the state and the count of reads."""
    state = LiveState({"purchase": 1.0}, 30.0, 180.0)
    state.fold_limit = 1
    state.order_keys = Bloom(1)  # every order key may exist: the history is read
    start = micros(datetime(2026, 10, 1, tzinfo=UTC))
    reads = [0]

    def history(kind: str, rid: str, key: str | None) -> tuple[list[HistoryRow], list[Key]]:
        reads[0] += 1
        raise duckdb.IOException("injected: the database could not be read")

    state.history = history
    for i in range(50):
        state.apply(EventRecord(f"v-{i}", None, f"anon-{i}", "visit", start + i * 3_600_000_000))
    for i in range(3):  # with one order kept, the first two are folded
        state.apply(
            EventRecord(f"p-{i}", "c-1", None, "purchase", start + i * DAY, None, 1, f"o{i}")
        )
    # a late line of a folded order: only the id's every line can tell its order's time
    state.apply(EventRecord("p-3", "c-1", None, "purchase", start + 3 * DAY, None, 1, "o0"))
    assert state.unsettled and reads[0] > 0
    return state, reads


def test_a_history_that_keeps_failing_is_read_once_per_chunk_not_per_profile() -> None:
    state, reads = _bounded_state_with_an_unsettled_customer()
    before = reads[0]
    live = LiveProfiles(state, None, 365)
    live.rescore_all(threading.Lock(), step=20)  # 51 profiles: 3 chunks
    assert reads[0] - before <= 3
    assert state.unsettled  # still short: tried again at the next line or read


def test_a_programming_error_in_the_history_read_is_not_taken_for_a_failed_read() -> None:
    state, _ = _bounded_state_with_an_unsettled_customer()

    def broken(kind: str, rid: str, key: str | None) -> tuple[list[HistoryRow], list[Key]]:
        raise TypeError("a bug, not a database error")

    state.history = broken
    with pytest.raises(TypeError):
        state.settle()
