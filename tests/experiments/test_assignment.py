"""Deterministic assignment (SPEC §6): stable, independent, shares and weights respected."""

from __future__ import annotations

import math
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from clm.experiments.assignment import arm, assign, in_global_control, unit, variant

IDS = st.text(min_size=1, max_size=30)
N = 20_000


def within_binomial(count: int, n: int, p: float, z: float = 5.0) -> bool:
    """|count − np| within z standard deviations (z = 5: a false alarm once in ~3.5M)."""
    return abs(count - n * p) <= z * math.sqrt(n * p * (1 - p))


@given(key=IDS, customer=IDS)
def test_stable_and_in_the_unit_interval(key: str, customer: str) -> None:
    u = unit(key, customer)
    assert 0.0 <= u < 1.0
    assert unit(key, customer) == u  # same inputs, same number, every time
    assert arm(key, customer, 0.3) == arm(key, customer, 0.3)


@given(customer=IDS, low=st.floats(0, 0.5), high=st.floats(0.5, 0.99))
def test_a_larger_holdout_only_moves_customers_into_control(
    customer: str, low: float, high: float
) -> None:
    if arm("k", customer, low) == "control":
        assert arm("k", customer, high) == "control"


@settings(max_examples=20, deadline=None)
@given(share=st.floats(0.01, 0.6), key=st.text(min_size=1, max_size=8))
def test_holdout_share_within_binomial_bounds(share: float, key: str) -> None:
    controls = sum(arm(key, f"c{i}", share) == "control" for i in range(N))
    assert within_binomial(controls, N, share)


def test_global_control_and_holdout_are_independent() -> None:
    ids = [f"cust-{i}" for i in range(N)]
    both = sum(in_global_control(c, 0.2) and arm("auto", c, 0.3) == "control" for c in ids)
    assert within_binomial(both, N, 0.2 * 0.3)
    arms = Counter(assign("auto", c, holdout=0.3, global_share=0.2) for c in ids)
    assert within_binomial(arms["global_control"], N, 0.2)
    assert within_binomial(arms["control"], N, 0.8 * 0.3)


def test_different_experiment_keys_give_unrelated_arms() -> None:
    ids = [f"cust-{i}" for i in range(N)]
    same = sum(arm("one", c, 0.5) == arm("two", c, 0.5) for c in ids)
    assert within_binomial(same, N, 0.5)


@settings(max_examples=10, deadline=None)
@given(weights=st.lists(st.floats(0.1, 10), min_size=2, max_size=4))
def test_variant_weights_respected(weights: list[float]) -> None:
    named = [(f"v{i}", w) for i, w in enumerate(weights)]
    counts = Counter(variant("exp|step", f"c{i}", named) for i in range(N))
    total = sum(weights)
    for name, w in named:
        assert within_binomial(counts[name], N, w / total)
