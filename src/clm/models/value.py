"""Per-customer value from fitted models: P(alive), expected purchases and spend, CLV.

SPEC §5. Purchases over the horizon come from the chosen purchase model's
conditional expectation (BG/NBD eq. 10 or Pareto/NBD eq. 22), spend per purchase
from the Gamma-Gamma conditional expectation (Fader & Hardie 2013, eq. 6), and the
customer lifetime value over the horizon discounts the expected margin month by
month:

    CLV = margin · E[M] · Σₖ (E[Y(tₖ)] − E[Y(tₖ₋₁)]) / (1 + d)^(tₖ / 365 days)

with tₖ the ends of 30-day steps up to the horizon (the last step may be
shorter) and d the annual discount rate; this is the discrete discounting of
Fader, Hardie & Lee (2005b), "RFM and CLV: Using Iso-Value Curves", §4, on a
monthly grid. Customers are evaluated once per distinct (x, t_x, T) pattern.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np
from numpy.typing import NDArray

from clm.models import bgnbd, gamma_gamma, pareto_nbd
from clm.models.fitting import Fit
from clm.models.summary import DAYS_PER_UNIT, Summary

STEP_DAYS = 30.0
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class ValueSettings:
    """The horizon, margin and annual discount rate of the CLV, and the time unit of the fit."""

    horizon_days: float = 90.0
    margin: float = 1.0
    discount_rate: float = 0.0
    unit: str = "week"


@dataclass(frozen=True)
class PurchaseOutlook:
    """Per pattern: P(alive), purchases expected in the horizon, and the same purchases
    discounted to today (the factor of the CLV that depends on the purchase model)."""

    p_alive: FloatArray
    expected_purchases: FloatArray
    discounted_purchases: FloatArray

    def take(self, index: NDArray[np.intp]) -> PurchaseOutlook:
        """Expand per-pattern values to customers (``index`` from :func:`summary.compress`)."""
        return PurchaseOutlook(
            self.p_alive[index], self.expected_purchases[index], self.discounted_purchases[index]
        )


def _module(fit: Fit) -> ModuleType:
    """The module of the fitted purchase model."""
    return bgnbd if fit.model == bgnbd.NAME else pareto_nbd


def conditional_purchases(fit: Fit, t: float, s: Summary) -> FloatArray:
    """E[Y(t) | x, t_x, T] under the fitted purchase model (``t`` in the fit's unit)."""
    out = _module(fit).conditional_expected_purchases(fit.values(), t, s.x, s.t_x, s.T)
    return np.asarray(out, dtype=np.float64)


def unconditional_purchases(fit: Fit, t: FloatArray) -> FloatArray:
    """E[X(t)] of a new customer under the fitted purchase model."""
    return np.asarray(_module(fit).expected_purchases(fit.values(), t), dtype=np.float64)


def outlook(fit: Fit, s: Summary, cfg: ValueSettings) -> PurchaseOutlook:
    """The purchase side of SPEC §5 for each row of ``s``."""
    unit_days = DAYS_PER_UNIT[cfg.unit]
    ends = _step_ends(cfg.horizon_days)
    cumulative = [np.zeros_like(s.x)] + [conditional_purchases(fit, e / unit_days, s) for e in ends]
    discounted = np.zeros_like(s.x)
    for k, end in enumerate(ends):
        discounted += (cumulative[k + 1] - cumulative[k]) / (1 + cfg.discount_rate) ** (end / 365.0)
    return PurchaseOutlook(
        p_alive=np.asarray(_module(fit).p_alive(fit.values(), s.x, s.t_x, s.T), np.float64),
        expected_purchases=cumulative[-1],
        discounted_purchases=discounted,
    )


def expected_spend(fit: Fit | None, x: FloatArray, z: FloatArray) -> FloatArray:
    """E[M] per customer from the Gamma-Gamma fit (``z`` = z̄, ignored where x = 0); NaN
    without a spend model."""
    if fit is None:
        return np.full(x.shape, np.nan)
    return gamma_gamma.conditional_expected_spend(fit.values(), x, z)


def clv(outlook: PurchaseOutlook, spend: FloatArray, cfg: ValueSettings) -> FloatArray:
    """margin · E[M] · discounted expected purchases, per customer."""
    return np.asarray(cfg.margin * spend * outlook.discounted_purchases, dtype=np.float64)


def _step_ends(horizon_days: float) -> list[float]:
    """Ends of the 30-day steps up to the horizon, the last one at the horizon."""
    ends = list(np.arange(STEP_DAYS, horizon_days, STEP_DAYS, dtype=np.float64))
    return [float(e) for e in ends] + [float(horizon_days)]
