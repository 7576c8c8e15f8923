"""Lifetime value: the per-customer summaries as Ibis expressions, the fits on them,
and the per-customer outputs (SPEC §5).

Preparation as in Fader, Hardie & Lee (2005), §4: a profile's purchase lines on one
(UTC) day are one transaction with the amounts summed, and only days with a
positive total count (a day of returns is not a purchase, as in RFM); the first
purchase day is dropped; ``x`` is the number of later purchase days up to the
calibration end, ``t_x`` the days from the first to the last purchase day, ``T``
the days from the first purchase day to the calibration end, and z̄ the mean
amount of the repeat days. The engine computes these per profile and the model
fits run on their distinct patterns (:mod:`clm.models.summary`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

from clm.config import ClvSection
from clm.errors import ConfigError, ScoringError
from clm.models import bgnbd, gamma_gamma, pareto_nbd, summary, value
from clm.models.fitting import Fit
from clm.models.summary import TimeUnit
from clm.scores.rfm import KEYS, PURCHASE

ModelChoice = Literal["bgnbd", "pareto_nbd", "both"]
# A parameter outside this range, or an information matrix that is not positive definite
# (no standard errors), means the likelihood ran off to a boundary (e.g. r, α → ∞: no
# heterogeneity left to estimate), as small samples often make it do.
PLAUSIBLE = (1e-6, 1e6)
PURCHASE_MODELS = {bgnbd.NAME: bgnbd, pareto_nbd.NAME: pareto_nbd}


MODEL_NAMES: dict[str, ModelChoice] = {
    "bgnbd": "bgnbd",
    "pareto": "pareto_nbd",
    "pareto_nbd": "pareto_nbd",
    "both": "both",
}


def model_choice(name: str) -> ModelChoice:
    """The purchase model(s) called ``name`` (``pareto`` is short for ``pareto_nbd``)."""
    if name not in MODEL_NAMES:
        raise ConfigError(f"unknown CLV model {name!r}: use bgnbd, pareto_nbd (pareto) or both")
    return MODEL_NAMES[name]


def purchase_days(events: ir.Table) -> ir.Table:
    """One row per profile and purchase day with a total ≥ 0: ``day``, ``amount``."""
    lines = events.filter(events.type == PURCHASE)
    days = lines.group_by([*KEYS, lines.ts.date().name("day")]).aggregate(
        amount=lambda t: t.amount.sum().cast("float64").coalesce(0.0)
    )
    return days.filter(days.amount >= 0)


def customer_summary(events: ir.Table, calibration_end: date) -> ir.Table:
    """Per profile with a purchase day up to the calibration end: ``x``, ``t_x_days``,
    ``t_days``, ``mean_spend`` (z̄, null when x = 0) and ``first_day``; ``events`` are
    the resolved events as of the calibration end."""
    days = purchase_days(events)
    per = days.group_by(KEYS).aggregate(
        first_day=lambda t: t.day.min(),
        last_day=lambda t: t.day.max(),
        n_days=lambda t: t.count(),
        total=lambda t: t.amount.sum(),
        first_amount=lambda t: t.amount.argmin(t.day),
    )
    x = per.n_days - 1
    return per.select(
        *KEYS,
        x=x.cast("int64"),
        t_x_days=per.last_day.delta(per.first_day, unit="day").cast("int64"),
        t_days=ibis.date(calibration_end).delta(per.first_day, unit="day").cast("int64"),
        mean_spend=ibis.ifelse(x > 0, (per.total - per.first_amount) / x, ibis.null("float64")),
        first_day=per.first_day,
    )


def holdout_days(events: ir.Table, calibration_end: date) -> ir.Table:
    """Per profile, the purchase days after the calibration end (``events`` are the
    resolved events as of the holdout end): ``holdout``."""
    days = purchase_days(events)
    later = days.filter(days.day > ibis.date(calibration_end))
    return later.group_by(KEYS).aggregate(holdout=lambda t: t.count().cast("int64"))


def repeat_days_by_date(events: ir.Table, summaries: ir.Table) -> ir.Table:
    """Repeat purchase days (any purchase day after a profile's first) per calendar day,
    for the profiles of ``summaries``: ``day``, ``repeats``."""
    days = purchase_days(events)
    joined = days.join(summaries.select(*KEYS, "first_day"), list(KEYS))
    repeat = joined.filter(joined.day > joined.first_day)
    return repeat.group_by("day").aggregate(repeats=lambda t: t.count().cast("int64"))


# -- fits --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClvFit:
    """The models fitted on the purchases up to ``calibration_end``."""

    calibration_end: date
    time_unit: TimeUnit
    n_customers: int
    n_repeat_buyers: int
    purchases: dict[str, Fit]
    spend: Fit | None
    skipped: dict[str, str] = field(default_factory=dict)

    def purchase_fit(self, model: str) -> Fit | None:
        return self.purchases.get(model)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "calibration_end": self.calibration_end.isoformat(),
            "time_unit": self.time_unit,
            "n_customers": self.n_customers,
            "n_repeat_buyers": self.n_repeat_buyers,
        }
        out |= {name: fit.to_dict() for name, fit in self.purchases.items()}
        if self.spend is not None:
            out[gamma_gamma.NAME] = self.spend.to_dict()
        if self.skipped:
            out["skipped"] = dict(self.skipped)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClvFit:
        purchases = {
            name: Fit.from_dict(name, module.PARAMS, data[name])
            for name, module in PURCHASE_MODELS.items()
            if name in data
        }
        spend = data.get(gamma_gamma.NAME)
        return cls(
            calibration_end=date.fromisoformat(data["calibration_end"]),
            time_unit=data["time_unit"],
            n_customers=int(data["n_customers"]),
            n_repeat_buyers=int(data["n_repeat_buyers"]),
            purchases=purchases,
            spend=Fit.from_dict(gamma_gamma.NAME, gamma_gamma.PARAMS, spend) if spend else None,
            skipped=dict(data.get("skipped", {})),
        )


@dataclass(frozen=True)
class SummaryArrays:
    """The engine's per-profile summaries as numpy columns (profile keys kept as Arrow)."""

    keys: pa.Table
    x: np.ndarray[Any, np.dtype[np.int64]]
    t_x_days: np.ndarray[Any, np.dtype[np.int64]]
    t_days: np.ndarray[Any, np.dtype[np.int64]]
    mean_spend: np.ndarray[Any, np.dtype[np.float64]]

    @classmethod
    def from_arrow(cls, table: pa.Table) -> SummaryArrays:
        def ints(name: str) -> np.ndarray[Any, np.dtype[np.int64]]:
            return np.asarray(table.column(name).to_numpy(), dtype=np.int64)

        spend = table.column("mean_spend").to_numpy(zero_copy_only=False)
        return cls(
            keys=table.select(list(KEYS)),
            x=ints("x"),
            t_x_days=ints("t_x_days"),
            t_days=ints("t_days"),
            mean_spend=np.nan_to_num(np.asarray(spend, dtype=np.float64), nan=0.0),
        )


def fit(
    data: SummaryArrays, calibration_end: date, unit: TimeUnit, model: ModelChoice
) -> tuple[ClvFit, summary.Summary, np.ndarray[Any, np.dtype[np.intp]]]:
    """Fit the purchase model(s) on the distinct patterns and Gamma-Gamma on the repeat
    buyers; a model that cannot be fitted is reported in ``skipped``, not raised.
    Also returns the patterns and each profile's pattern index."""
    patterns, inverse = summary.compress(data.x, data.t_x_days, data.t_days, unit)
    names = list(PURCHASE_MODELS) if model == "both" else [model]
    fits: dict[str, Fit] = {}
    skipped: dict[str, str] = {}
    for name in names:
        try:
            fits[name] = _fit_purchases(name, patterns)
        except ScoringError as exc:
            skipped[name] = str(exc)
    spend: Fit | None = None
    try:
        x, z, weight = _spend_patterns(data)
        repeat_buyers = int(weight.sum())
        spend = _identified(gamma_gamma.fit(x, z, weight), repeat_buyers, repeat_buyers)
    except ScoringError as exc:
        skipped[gamma_gamma.NAME] = str(exc)
    result = ClvFit(
        calibration_end,
        unit,
        patterns.n_customers,
        patterns.n_repeat_buyers,
        fits,
        spend,
        skipped,
    )
    return result, patterns, inverse


def _fit_purchases(name: str, patterns: summary.Summary) -> Fit:
    if patterns.n_repeat_buyers == 0:
        raise ScoringError(f"{name}: no customer bought twice; the model cannot be fitted")
    fitted: Fit = PURCHASE_MODELS[name].fit(patterns)
    return _identified(fitted, patterns.n_customers, patterns.n_repeat_buyers)


def _identified(fitted: Fit, customers: int, repeat_buyers: int) -> Fit:
    """``fitted`` if it is an interior maximum, else a :class:`ScoringError` that says why."""
    if not fitted.converged:
        raise ScoringError(f"{fitted.model}: the fit did not converge ({_shown(fitted)})")
    free = [n for n in fitted.params if not _at_known_limit(fitted, n)]
    inside = all(PLAUSIBLE[0] < fitted.params[n] < PLAUSIBLE[1] for n in free)
    if not inside or any(fitted.stderr[n] is None for n in free):
        raise ScoringError(
            f"{fitted.model}: the purchases of {_count(customers, 'customer')} "
            f"({_count(repeat_buyers, 'repeat buyer')}) do not identify the model: the "
            f"likelihood has its maximum at a "
            f"boundary ({_shown(fitted)}); fit on more customers or a longer history"
        )
    return fitted


def _at_known_limit(fit: Fit, name: str) -> bool:
    """Whether ``name`` is a parameter the fit put at a documented limit (BG/NBD's a, b
    of the homogeneous-dropout model, :func:`clm.models.bgnbd.fit_homogeneous_dropout`)."""
    return fit.extra.get("dropout") == "homogeneous" and name in ("a", "b")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _shown(fit: Fit) -> str:
    return ", ".join(f"{k} = {v:.4g}" for k, v in fit.params.items())


def _spend_patterns(
    data: SummaryArrays,
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], ...]:
    """Distinct (x, z̄) pairs of repeat buyers and their counts (exact: identical values)."""
    keep = data.x > 0
    pairs = pd.DataFrame({"x": data.x[keep].astype(np.float64), "z": data.mean_spend[keep]})
    # A hash group-by: np.unique(axis=0) sorted every row at 10x the time (benchmarks/RESULTS.md).
    counts = pairs.groupby(["x", "z"], sort=True).size()  # sorted: independent of row order
    x = counts.index.get_level_values("x").to_numpy(np.float64)
    z = counts.index.get_level_values("z").to_numpy(np.float64)
    return x, z, counts.to_numpy(np.float64)


def scored(
    data: SummaryArrays,
    result: ClvFit,
    patterns: summary.Summary,
    inverse: np.ndarray[Any, np.dtype[np.intp]],
    settings: ClvSection,
) -> pa.Table:
    """Per profile: the summary and P(alive), expected purchases, expected spend, CLV,
    churn risk, under the configured purchase model."""
    purchase_fit = result.purchase_fit(settings.model)
    if purchase_fit is None:
        raise ScoringError(result.skipped.get(settings.model, f"{settings.model} was not fitted"))
    cfg = value.ValueSettings(
        horizon_days=float(settings.horizon_days),
        margin=settings.margin,
        discount_rate=settings.discount_rate,
        unit=result.time_unit,
    )
    per_pattern = value.outlook(purchase_fit, patterns, cfg)
    if not all(np.isfinite(v).all() for v in vars(per_pattern).values()):
        raise ScoringError(f"{settings.model}: predictions are not finite ({_shown(purchase_fit)})")
    outlook = per_pattern.take(inverse)
    spend = value.expected_spend(result.spend, data.x.astype(np.float64), data.mean_spend)
    clv = value.clv(outlook, spend, cfg)
    columns: dict[str, Any] = {
        "x": data.x,
        "t_x_days": data.t_x_days,
        "t_days": data.t_days,
        "mean_spend": np.where(data.x > 0, data.mean_spend, np.nan),
        "p_alive": outlook.p_alive,
        "expected_purchases": outlook.expected_purchases,
        "expected_spend": spend,
        "clv": clv,
        "churn_risk": 1.0 - outlook.p_alive,
    }
    return pa.table(
        {key: data.keys.column(key) for key in KEYS}
        | {name: pa.array(values, from_pandas=True) for name, values in columns.items()}
    )


def summaries(events: ir.Table, calibration_end: date) -> SummaryArrays:
    """Run :func:`customer_summary` on its engine and bring the columns to numpy."""
    return SummaryArrays.from_arrow(customer_summary(events, calibration_end).to_pyarrow())
