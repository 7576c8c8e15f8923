"""The lifetime value jobs behind ``clm clv``: fit and store, validate on a holdout, read.

Each job runs the population work on an engine (:mod:`clm.scores.clv`) and the
models in Python; the workspace facade only opens the engine and passes settings.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any, cast

import duckdb
import numpy as np

from clm.errors import ScoringError
from clm.models.summary import TimeUnit
from clm.scores import clv, clv_holdout, rfm
from clm.store.engines import Engine

CLV_COLUMNS = (
    "x, t_x_days, t_days, mean_spend, p_alive, expected_purchases, expected_spend, clv, churn_risk"
)


def fit_and_store(
    con: duckdb.DuckDBPyConnection,
    engine: Engine,
    calibration_end: date,
    unit: TimeUnit,
    model: clv.ModelChoice,
) -> clv.ClvFit:
    """Fit on the purchases up to the calibration end and record the fit in ``clv_fits``."""
    events = rfm.resolved_events(engine.sources(), calibration_end)
    data = clv.summaries(events, calibration_end)
    if len(data.x) == 0:
        raise ScoringError(f"no purchases up to {calibration_end}: nothing to fit")
    fitted, _, _ = clv.fit(data, calibration_end, unit, model)
    next_id = con.execute("SELECT coalesce(max(fit_id), 0) + 1 FROM clv_fits").fetchall()[0][0]
    con.execute(
        "INSERT INTO clv_fits VALUES (?, ?, ?, ?, ?)",
        [
            int(next_id),
            datetime.now(UTC).replace(tzinfo=None),
            calibration_end,
            unit,
            json.dumps(fitted.to_dict()),
        ],
    )
    return fitted


def validate(
    engine: Engine,
    calibration_end: date,
    holdout_end: date,
    unit: TimeUnit,
    model: clv.ModelChoice,
) -> dict[str, Any]:
    """Fit on the calibration period and compare every purchase model with the holdout."""
    if holdout_end <= calibration_end:
        raise ScoringError(
            f"the holdout end ({holdout_end}) must come after the calibration end "
            f"({calibration_end})"
        )
    src = engine.sources()
    calibration_events = rfm.resolved_events(src, calibration_end)
    summary_expr = clv.customer_summary(calibration_events, calibration_end)
    all_events = rfm.resolved_events(src, holdout_end)
    holdout = clv.holdout_days(all_events, calibration_end)
    joined = summary_expr.left_join(holdout, list(rfm.KEYS)).select(
        *summary_expr.columns, holdout=lambda t: t.holdout.coalesce(0)
    )
    table = joined.to_pyarrow()
    if table.num_rows == 0:
        raise ScoringError(f"no purchases up to {calibration_end}: nothing to fit")
    data = clv.SummaryArrays.from_arrow(table)
    fitted, _, _ = clv.fit(data, calibration_end, unit, model)
    repeats = clv.repeat_days_by_date(all_events, summary_expr).to_pyarrow().to_pylist()
    holdout_data = clv_holdout.HoldoutData(
        x=data.x,
        t_x_days=data.t_x_days,
        t_days=data.t_days,
        first_day=np.asarray(table.column("first_day").to_numpy(), dtype="datetime64[D]"),
        holdout=np.asarray(table.column("holdout").to_numpy(), dtype=np.int64),
        repeat_days={r["day"]: int(r["repeats"]) for r in repeats},
    )
    last = src.events.ts.max().to_pyarrow().as_py()
    warnings = []
    if last is not None and last.date() < holdout_end:
        warnings.append(
            f"the data end on {last.date()}, before the holdout end ({holdout_end}): the "
            "holdout's actual purchases are incomplete, so the prediction looks too high"
        )
    return {
        "calibration_end": calibration_end.isoformat(),
        "holdout_end": holdout_end.isoformat(),
        "time_unit": unit,
        "warnings": warnings,
        "fit": fitted.to_dict(),
        "models": [
            clv_holdout.validate(f, holdout_data, calibration_end, holdout_end, unit)
            for f in fitted.purchases.values()
        ],
    }


def clv_query(run_id: int, customer_id: str | None = None) -> tuple[str, list[Any]]:
    """SQL of the lifetime values of a run (one row per buyer), optionally of one profile."""
    where, params = "run_id = ?", [cast(Any, run_id)]
    if customer_id is not None:
        where += " AND coalesce(customer_id, anonymous_id) = ?"
        params.append(customer_id)
    sql = (
        f"SELECT customer_id, anonymous_id, {CLV_COLUMNS} FROM clv WHERE {where} "
        "ORDER BY customer_id NULLS LAST, anonymous_id"
    )
    return sql, params
