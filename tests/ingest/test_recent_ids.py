"""The recent ids hold exactly the last ids added, up to their capacity."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from clm.ingest.recent_ids import RecentIds


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.text(max_size=4), max_size=8), max_size=12), st.integers(1, 10))
def test_the_set_is_the_last_distinct_ids_added(batches: list[list[str]], capacity: int) -> None:
    recent = RecentIds(capacity)
    order: list[str] = []  # the model: ids in first-added order
    for batch in batches:
        recent.add_many(batch)
        for event_id in batch:
            if event_id not in order[-capacity:]:
                order.append(event_id)
        want = set(order[-capacity:])
        assert {i for i in set(order) if i in recent} == want
        assert len(recent) == len(want)
