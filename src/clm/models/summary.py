"""The customer summaries the models fit on, compressed into weighted patterns.

SPEC §5 (preparation as in Fader, Hardie & Lee 2005, §4): ``x`` repeat purchase
days in the calibration period, ``t_x`` the time of the last purchase day and
``T`` the length of the observation, both since the first purchase day, in a
time unit. The likelihoods depend on a customer only through ``(x, t_x, T)``,
so customers sharing a pattern are fitted once with a weight: the fit's cost
grows with the number of distinct patterns, which days bound (``x ≤ t_x ≤ T``
in days), not with the number of customers. Patterns are found on the integer
day counts, so the compression is exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

TimeUnit = Literal["day", "week"]
DAYS_PER_UNIT: dict[str, float] = {"day": 1.0, "week": 7.0}


@dataclass(frozen=True)
class Summary:
    """Per customer (or per pattern, with ``weight``): ``x``, ``t_x``, ``T`` in the unit."""

    x: NDArray[np.float64]
    t_x: NDArray[np.float64]
    T: NDArray[np.float64]
    weight: NDArray[np.float64]

    @property
    def n_customers(self) -> int:
        return round(float(self.weight.sum()))

    @property
    def n_repeat_buyers(self) -> int:
        return round(float(self.weight[self.x > 0].sum()))


def from_days(
    x: NDArray[np.integer],
    t_x_days: NDArray[np.integer],
    T_days: NDArray[np.integer],
    unit: TimeUnit = "week",
) -> Summary:
    """One row per customer, times converted from days to ``unit``."""
    scale = DAYS_PER_UNIT[unit]
    return Summary(
        x=np.asarray(x, dtype=np.float64),
        t_x=np.asarray(t_x_days, dtype=np.float64) / scale,
        T=np.asarray(T_days, dtype=np.float64) / scale,
        weight=np.ones(len(x), dtype=np.float64),
    )


def compress(
    x: NDArray[np.integer],
    t_x_days: NDArray[np.integer],
    T_days: NDArray[np.integer],
    unit: TimeUnit = "week",
) -> tuple[Summary, NDArray[np.intp]]:
    """The distinct ``(x, t_x, T)`` patterns with their counts as weights, and for each
    customer the index of its pattern (so per-pattern predictions expand back with
    ``values[inverse]``)."""
    columns = [np.asarray(c, np.int64) for c in (x, t_x_days, T_days)]
    if len(columns[0]) == 0:
        return from_days(columns[0], columns[1], columns[2], unit), np.zeros(0, np.intp)
    keys, decode = _packed(*columns)
    # A hash factorization is 5x faster than np.unique's sort at 10M customers; sorting the
    # (few) patterns afterwards makes the fit independent of the customers' row order, which
    # an engine's parallel aggregation does not fix (the sums would differ in the last bits).
    codes, found = pd.factorize(keys)
    order = np.argsort(found, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    inverse = rank[codes]
    patterns = np.asarray(found)[order]
    counts = np.bincount(inverse, minlength=len(patterns))
    px, pt, pT = decode(patterns)
    summary = from_days(px, pt, pT, unit)
    weighted = Summary(summary.x, summary.t_x, summary.T, counts.astype(np.float64))
    return weighted, inverse.reshape(-1)


_BITS = 21  # 2^21 days is 5,700 years: x ≤ t_x ≤ T in days always fit


def _packed(
    x: NDArray[np.int64], t_x: NDArray[np.int64], T: NDArray[np.int64]
) -> tuple[NDArray[np.int64], Callable[[NDArray[np.int64]], tuple[NDArray[np.int64], ...]]]:
    """One int64 key per customer (hashing one column is several times faster than
    hashing rows); the function that turns keys back into the three columns."""
    low = min(int(c.min()) for c in (x, t_x, T))
    high = max(int(c.max()) for c in (x, t_x, T))
    if low < 0 or high >= 1 << _BITS:
        raise ValueError(f"pattern values must lie in [0, {1 << _BITS}) days: got {low}..{high}")
    mask = (1 << _BITS) - 1

    def decode(keys: NDArray[np.int64]) -> tuple[NDArray[np.int64], ...]:
        return keys >> (2 * _BITS), (keys >> _BITS) & mask, keys & mask

    return (x << (2 * _BITS)) | (t_x << _BITS) | T, decode
