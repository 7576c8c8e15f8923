"""Listing live profiles a page at a time from the sorted indexes (issue 5 review: the
listing sorted the whole population per call): every page equals the page of the
population sorted afresh, while events move profiles between segments, links absorb
visitors, and the as-of date moves (a full re-score)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from clm.ingest.tracking import EventRecord, LinkRecord, Record, micros
from clm.profiles.live import Key, LiveState
from clm.profiles.live_profiles import LiveProfiles

DAY = 86_400_000_000
START = micros(datetime(2026, 1, 1, tzinfo=UTC))
IDS = [f"p{i}" for i in range(8)]  # the same ids as customers and as visitors


def _sorted_afresh(live: LiveProfiles, segment: str | None) -> list[tuple[Key, str]]:
    """The oracle: the population of ``segment_of`` sorted per call, as before."""
    keys = sorted(
        (k for k, s in live.segment_of.items() if segment is None or s == segment),
        key=lambda k: (k[1], k[0]),
    )
    return [(k, live.segment_of[k]) for k in keys]


record = st.one_of(
    st.builds(
        lambda i, day, amount, n: EventRecord(
            f"e{n}", IDS[i], None, "purchase", START + day * DAY, "shoes", amount, f"o{n}"
        ),
        st.integers(0, 7),
        st.integers(0, 400),
        st.integers(1, 5_000_000),
        st.integers(0, 10**9),
    ),
    st.builds(
        lambda i, day, n: EventRecord(f"v{n}", None, IDS[i], "visit", START + day * DAY),
        st.integers(0, 7),
        st.integers(0, 400),
        st.integers(0, 10**9),
    ),
    st.builds(
        lambda a, c, day, n: LinkRecord(f"l{n}", IDS[a], IDS[c], START + day * DAY),
        st.integers(0, 7),
        st.integers(0, 7),
        st.integers(0, 400),
        st.integers(0, 10**9),
    ),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(record, max_size=12), min_size=1, max_size=6), st.data())
def test_every_page_is_the_page_of_the_population_sorted_afresh(
    rounds: list[list[Record]], data: st.DataObject
) -> None:
    state = LiveState({"purchase": 1.0, "visit": 0.2}, 30.0, 180.0)
    live = LiveProfiles(state, None, 365)
    for records in rounds:  # events between reads: dirty profiles, some days later
        for r in records:
            state.apply(r)
        for segment in [None, *sorted(set(live.segment_of.values()))]:
            whole = live.members(segment, 10_000)
            assert whole == _sorted_afresh(live, segment)
            offset = data.draw(st.integers(0, len(whole) + 1))
            limit = data.draw(st.integers(1, 5))
            assert live.members(segment, limit, offset) == whole[offset : offset + limit]
    assert live.members("no such segment", 10) == []


def test_a_profile_changing_segment_moves_between_the_segment_listings() -> None:
    state = LiveState({"purchase": 1.0, "visit": 0.2}, 30.0, 180.0)
    live = LiveProfiles(state, None, 365)
    state.apply(EventRecord("v1", None, "a1", "visit", START))
    state.apply(EventRecord("v2", None, "a2", "visit", START))
    assert [k for k, _ in live.members(None, 10)] == [("a", "a1"), ("a", "a2")]
    (segment,) = set(live.segment_of.values())
    # a1 becomes a customer's visitor: absorbed, it leaves every listing; c1 enters
    state.apply(LinkRecord("l1", "a1", "c1", START))
    listed = live.members(None, 10)
    assert [k for k, _ in listed] == [("a", "a2"), ("c", "c1")]
    assert [k for k, _ in live.members(segment, 10)] == [k for k, s in listed if s == segment]
