"""The event-id set against Python's set, across its merges."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clm.profiles import idset
from clm.profiles.idset import IdSet


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.text(max_size=6), max_size=50),
    st.lists(st.text(max_size=6), max_size=300),
    st.lists(st.text(max_size=6), max_size=50),
)
def test_the_set_holds_exactly_what_was_added(
    loaded: list[str], added: list[str], probes: list[str]
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(idset, "RECENT", 4)  # merge often: many levels
        s = IdSet(loaded)
        want = set(loaded)
        for event_id in added:
            if event_id not in s:
                s.add(event_id)
            want.add(event_id)
            assert event_id in s
        assert len(s) == len(want)
        everything = probes + loaded + added
        for probe in everything:
            assert (probe in s) == (probe in want)
        assert s.contains(everything) == [p in want for p in everything]
        assert sorted(map(hash, want)) == s.hashes().tolist()
        sizes = [len(level) for level in s._levels]
        assert all(a > 2 * b for a, b in itertools.pairwise(sizes))


def test_a_million_ids_take_about_8_bytes_each() -> None:
    s = IdSet(f"e-{i}" for i in range(1_000_000))
    assert f"e-{999_999}" in s and "e-x" not in s
    assert sum(level.nbytes for level in s._levels) == 8_000_000
