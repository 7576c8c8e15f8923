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
