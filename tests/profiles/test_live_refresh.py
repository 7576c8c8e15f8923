"""A failed refresh of the live segments is not taken for a finished one (issue 5 review,
item 3): the next refresh scores the whole population again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from clm.ingest.tracking import EventRecord, micros
from clm.profiles.live import LiveState
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
