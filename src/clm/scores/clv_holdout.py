"""How well the lifetime value models predict a holdout period (Fader, Hardie & Lee 2005, §4).

The models are fitted on the purchases up to the calibration end and compared with
what the same customers did up to the holdout end:

- in total, the conditional expectation E[Y(t*) | x, t_x, T] summed over customers
  against the repeat purchase days actually observed (the paper's holdout test);
- by calibration frequency x (the paper's Figure 4: conditional expectations);
- per customer (mean absolute error, root mean squared error, correlation);
- week by week from the first purchase to the holdout end (the paper's Figures 2 and 3:
  cumulative repeat transactions), predicted by the unconditional E[X(t)] of every
  cohort of customers who made their first purchase on the same day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from clm.models.fitting import Fit
from clm.models.summary import DAYS_PER_UNIT, TimeUnit, from_days
from clm.models.value import conditional_purchases, unconditional_purchases

PERIOD_DAYS = 7
FREQUENCY_GROUPS = 7  # x = 0 … 6 each, then "7+"


@dataclass(frozen=True)
class HoldoutData:
    """Per customer of the calibration: the summary days and the holdout purchase days;
    per calendar day: the repeat purchase days of these customers."""

    x: NDArray[np.int64]
    t_x_days: NDArray[np.int64]
    t_days: NDArray[np.int64]
    first_day: NDArray[np.datetime64]
    holdout: NDArray[np.int64]
    repeat_days: dict[date, int]


def validate(
    fit: Fit, data: HoldoutData, calibration_end: date, holdout_end: date, unit: TimeUnit
) -> dict[str, Any]:
    """The comparison of one fitted purchase model with the holdout, JSON-friendly."""
    horizon = (holdout_end - calibration_end).days / DAYS_PER_UNIT[unit]
    s = from_days(data.x, data.t_x_days, data.t_days, unit)
    predicted = conditional_purchases(fit, horizon, s)
    actual = data.holdout.astype(np.float64)
    return {
        "model": fit.model,
        "holdout_length": horizon,
        "total": {"actual": int(actual.sum()), "predicted": float(predicted.sum())},
        "by_frequency": by_frequency(data.x, actual, predicted),
        "per_customer": per_customer_error(actual, predicted),
        "periods": tracking(fit, data, holdout_end, unit),
    }


def by_frequency(
    x: NDArray[np.int64], actual: NDArray[np.float64], predicted: NDArray[np.float64]
) -> list[dict[str, Any]]:
    """Mean actual and predicted holdout purchases per calibration frequency."""
    group = np.minimum(x, FREQUENCY_GROUPS)
    rows = []
    for g in range(FREQUENCY_GROUPS + 1):
        mask = group == g
        if not mask.any():
            continue
        rows.append(
            {
                "x": f"{g}+" if g == FREQUENCY_GROUPS else str(g),
                "customers": int(mask.sum()),
                "actual": float(actual[mask].mean()),
                "predicted": float(predicted[mask].mean()),
            }
        )
    return rows


def per_customer_error(
    actual: NDArray[np.float64], predicted: NDArray[np.float64]
) -> dict[str, float | None]:
    """MAE, RMSE and the Pearson correlation of predicted and actual holdout purchases."""
    error = predicted - actual
    spread = float(actual.std()) * float(predicted.std())
    corr = float(np.corrcoef(actual, predicted)[0, 1]) if spread > 0 else None
    return {
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "correlation": corr,
    }


def tracking(
    fit: Fit, data: HoldoutData, holdout_end: date, unit: TimeUnit
) -> list[dict[str, Any]]:
    """Actual and predicted repeat purchase days per 7-day period and cumulatively, from
    the first customer's first purchase to the holdout end."""
    scale = DAYS_PER_UNIT[unit]
    cohorts, sizes = np.unique(data.first_day.astype("datetime64[D]"), return_counts=True)
    period_start: date = cohorts[0].astype(date)
    rows: list[dict[str, Any]] = []
    cumulative_actual = 0
    previous = 0.0
    while period_start <= holdout_end:
        period_end = min(period_start + timedelta(days=PERIOD_DAYS - 1), holdout_end)
        actual = sum(n for day, n in data.repeat_days.items() if period_start <= day <= period_end)
        cumulative_actual += actual
        # E[X(t)] of each cohort, t = the days from its first purchase to the period's end.
        elapsed = (np.datetime64(period_end, "D") - cohorts).astype(np.float64)
        expected = unconditional_purchases(fit, np.clip(elapsed, 0, None) / scale)
        cumulative = float(np.dot(sizes, expected))
        rows.append(
            {
                "period_end": period_end.isoformat(),
                "actual": actual,
                "predicted": cumulative - previous,
                "cumulative_actual": cumulative_actual,
                "cumulative_predicted": cumulative,
            }
        )
        previous = cumulative
        period_start = period_end + timedelta(days=1)
    return rows
