"""The versioned calibration of a scoring run (SPEC §2).

A calibration holds the population constants that turn one profile's inputs
into scores: the as-of date D, the window W and the RFM cut points. The batch
recomputes it; the online path reuses the last one, so the same inputs and the
same calibration always give the same scores.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
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

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RfmCalibration:
        data = dict(data)
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


@dataclass(frozen=True)
class ActivityCalibration:
    """Population constants of the activity family (SPEC §4), stored with a run.

    ``r_ref`` per scope (``"all"`` and each category), the spend shares ``pi``
    per category, the prior strength ``m``, and the settings they were computed
    with. The lift matrix is stored beside it (table ``category_relations``).
    """

    half_life_short: float
    half_life_long: float
    weights: dict[str, float]
    rising_trend: float
    rising_min_long: float
    r_ref: dict[str, float]
    pi: dict[str, float]
    m: float
    n_active: int

    def kappa(self, scope: str) -> float:
        """κ of a scope (a scope without a reference falls back to ``all``'s, else 1)."""
        from clm.scores.formulas import kappa

        r_ref = self.r_ref.get(scope) or self.r_ref.get("all") or 0.0
        return kappa(r_ref, self.half_life_short) if r_ref > 0 else 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActivityCalibration:
        return cls(**data)


@dataclass(frozen=True)
class Calibration:
    """Everything a scoring run calibrated, under one version (the run id)."""

    version: int
    rfm: RfmCalibration
    activity: ActivityCalibration | None  # None when the activity family is switched off
    clv: dict[str, Any] | None = None  # the lifetime value fits (clm.scores.clv.ClvFit)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": self.version,
                "rfm": self.rfm.to_dict(),
                "activity": self.activity.to_dict() if self.activity else None,
                "clv": self.clv,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        data = json.loads(text)
        return cls(
            version=int(data["version"]),
            rfm=RfmCalibration.from_dict(data["rfm"]),
            activity=(
                ActivityCalibration.from_dict(data["activity"]) if data.get("activity") else None
            ),
            clv=data.get("clv"),
        )
