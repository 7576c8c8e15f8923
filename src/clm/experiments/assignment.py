"""Deterministic assignment of customers to arms and variants (SPEC §6).

``unit(key, customer_id)`` maps a customer to a number in [0, 1) by SHA-256 of
``"{key}|{customer_id}"``: the same key and customer always give the same number, and
different keys give independent numbers. Arms and variants are read off that number, so a
customer keeps the arm for the experiment's life (the key) whatever runs, restarts or
versions happen, and no assignment needs storing to be reproduced.

Three independent draws per customer:

- the **global control** group (key: the ``automation.global_control_key`` setting): a
  share of all customers that no automation touches;
- the automation's **holdout** (key: the automation's experiment key): its control arm;
- the **variant** of a send step (key: ``"{experiment key}|{step id}"``), by weight.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal

Arm = Literal["treatment", "control", "global_control"]
SCALE = float(2**64)


def unit(key: str, customer_id: str) -> float:
    """A uniform number in [0, 1) fixed by ``key`` and ``customer_id``."""
    digest = hashlib.sha256(f"{key}|{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / SCALE


def in_global_control(customer_id: str, share: float, key: str = "global-control") -> bool:
    """Whether the customer belongs to the global control group."""
    return unit(key, customer_id) < share


def arm(experiment_key: str, customer_id: str, holdout: float) -> Arm:
    """``"control"`` for a ``holdout`` share of customers, else ``"treatment"``."""
    return "control" if unit(experiment_key, customer_id) < holdout else "treatment"


def assign(
    experiment_key: str,
    customer_id: str,
    *,
    holdout: float,
    global_share: float,
    global_key: str = "global-control",
) -> Arm:
    """The customer's arm: global control first, then the automation's holdout."""
    if in_global_control(customer_id, global_share, global_key):
        return "global_control"
    return arm(experiment_key, customer_id, holdout)


def variant(key: str, customer_id: str, weights: Sequence[tuple[str, float]]) -> str:
    """The variant name picked by weight (weights need not sum to 1)."""
    if not weights:
        raise ValueError("variant() needs at least one (name, weight)")
    total = sum(w for _, w in weights)
    point = unit(key, customer_id) * total
    cumulative = 0.0
    for name, weight in weights:
        cumulative += weight
        if point < cumulative:
            return name
    return weights[-1][0]
