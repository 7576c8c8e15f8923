"""The versioned calibration of a scoring run (SPEC §2).

A calibration holds the population constants that turn one profile's inputs
into scores: the as-of date D, the window W and the RFM cut points. The batch
recomputes it; the online path reuses the last one, so the same inputs and the
same calibration always give the same scores.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

QUINTILES = (Fraction(1, 5), Fraction(2, 5), Fraction(3, 5), Fraction(4, 5))


@dataclass(frozen=True)
class RfmCalibration:
    """Cut points for R, F and M.

    ``r_cuts`` are cut points of ``-recency_days`` (more recent is better);
    ``f_cuts`` are the fixed thresholds (``f_mode == "fixed"``, score counts
    ``frequency >= t``) or quantile cut points (``"quantile"``, score counts
    ``frequency > c``); ``m_cuts`` are cut points of ``monetary``.
    """

    as_of: date
    window_days: int
    n_buyers: int
    r_cuts: tuple[float, ...]
    f_mode: str
    f_cuts: tuple[float, ...]
    m_cuts: tuple[float, ...]
    version: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> RfmCalibration:
        data = json.loads(text)
        data["as_of"] = date.fromisoformat(data["as_of"])
        for key in ("r_cuts", "f_cuts", "m_cuts"):
            data[key] = tuple(data[key])
        return cls(**data)


def percentile_disc(
    values: npt.ArrayLike, counts: npt.ArrayLike, probabilities: tuple[Fraction, ...] = QUINTILES
) -> tuple[float, ...]:
    """PERCENTILE_DISC over a weighted sample: for each p, the smallest observed
    value whose cumulative share is at least p (SPEC §2).

    ``values`` are distinct observed values and ``counts`` how often each occurs
    (what an engine returns from a value count). Shares are compared as exact
    fractions, so ``p = 0.2`` of 5 values is the first value, never the second.
    """
    vals = np.asarray(values, dtype=np.float64)
    cnts = np.asarray(counts, dtype=np.int64)
    if vals.size == 0:
        return ()
    order = np.argsort(vals, kind="stable")
    vals, cnts = vals[order], cnts[order]
    cumulative = np.cumsum(cnts)
    total = int(cumulative[-1])
    cuts = []
    for p in probabilities:
        # cum / total >= num / den  <=>  cum * den >= num * total (exact integers)
        index = int(np.searchsorted(cumulative * p.denominator, p.numerator * total, side="left"))
        cuts.append(float(vals[index]))
    return tuple(cuts)
