"""The Bloom filter never forgets a key, and its false "maybe" rate is the published one."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from clm.profiles.bloom import Bloom, false_maybe_rate, hashes_of


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=12), max_size=60), st.integers(0, 50))
def test_every_key_added_is_a_maybe_one_at_a_time_or_many(keys: list[str], capacity: int) -> None:
    one, many = Bloom(capacity), Bloom(capacity)
    for key in keys:
        one.add(hash(key))
    many.add_many(hashes_of(keys))
    assert all(hash(k) in one and hash(k) in many for k in keys)
    assert many.contains_many(hashes_of(keys)).all()
    probe = [f"{k}?" for k in keys]  # the two ways agree on every key, added or not
    assert [hash(k) in one for k in probe] == many.contains_many(hashes_of(probe)).tolist()
    assert one.nbytes() == many.nbytes() and len(one) == len(many) == len(keys)


def test_the_false_maybe_rate_is_the_formula_s() -> None:
    capacity = 20_000
    bloom = Bloom(capacity // 8)  # overfilled: a rate large enough to measure
    bloom.add_many(np.arange(capacity, dtype=np.int64) * 7_919 + 13)
    fresh = np.random.default_rng(3).integers(-(2**62), 2**62, 200_000, dtype=np.int64)
    rate = float(bloom.contains_many(fresh).mean())
    want = false_maybe_rate(capacity, bloom.bits)
    assert 0.01 < want < 0.5
    assert abs(rate - want) < 0.15 * want
    sized = Bloom(capacity)
    sized.add_many(np.arange(capacity, dtype=np.int64) * 7_919 + 13)
    assert float(sized.contains_many(fresh).mean()) < 1e-3  # at its capacity: rare


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(-(2**62), 2**62), max_size=40), max_size=12),
    st.integers(0, 20),
)
def test_a_growing_filter_never_forgets_a_key(batches: list[list[int]], capacity: int) -> None:
    """Keys added one at a time, with a test, or many at once, across layers: each is a
    "maybe" after, in both checks, and ``test_and_add`` finds the keys of earlier layers."""
    bloom = Bloom(capacity, grow=True)
    seen: list[int] = []
    for i, batch in enumerate(batches):
        if i % 3 == 0:
            bloom.add_many(np.array(batch, np.int64))
        elif i % 3 == 1:
            for h in batch:
                bloom.add(h)
        else:
            for h in batch:
                assert bloom.test_and_add(h) or h not in seen
        seen.extend(batch)
        assert all(h in bloom for h in seen)
        assert bloom.contains_many(np.array(seen, np.int64)).all()
        assert all(bloom.test_and_add(h) for h in batch[:3])
        seen.extend(batch[:3])
    assert len(bloom) == len(seen)


def test_a_growing_filter_keeps_false_maybes_rare_past_its_capacity() -> None:
    """Ten times its capacity added: a fixed filter says "maybe" to 41% of new keys, a
    growing one to a few per ten thousand (layers' count times the rate at capacity)."""
    capacity = 2_000
    keys = np.arange(10 * capacity, dtype=np.int64) * 7_919 + 13
    fixed, growing = Bloom(capacity), Bloom(capacity, grow=True)
    for chunk in np.array_split(keys, 50):
        fixed.add_many(chunk)
        growing.add_many(chunk)
    fresh = np.random.default_rng(5).integers(-(2**62), 2**62, 100_000, dtype=np.int64)
    overfilled = false_maybe_rate(len(keys), fixed.bits)  # 0.41 for 65,536 bits
    assert abs(float(fixed.contains_many(fresh).mean()) - overfilled) < 0.05 * overfilled
    rate = float(growing.contains_many(fresh).mean())
    bound = sum(false_maybe_rate(c, 24 * c) for c in (2_000, 4_000, 8_000, 16_000))
    assert growing.layers() == 4 and rate <= 3 * bound and rate < 1e-3
    assert growing.contains_many(keys).all()
