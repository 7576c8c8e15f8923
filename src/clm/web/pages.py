"""What each population page shows: a template context built from ``Workspace`` calls.

Every function takes an open :class:`clm.Workspace` and returns a dict for its
template; it calls facade methods only (the engine aggregates). A page whose data
does not exist yet returns ``{"empty": "<what to do next>"}`` instead.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from clm.errors import ScoringError
from clm.web import charts

NO_RUN = "No scoring run yet: import data (`clm import transactions FILE`), then run `clm score`."


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def overview(ws: Any) -> dict[str, Any]:
    """Phases as a funnel, segments by size and revenue, R×F, migration, sizes over time."""
    runs = ws.runs()
    if not runs:
        return {"empty": NO_RUN}
    latest = runs[-1]
    segments = ws.segments()
    phases = ws.phases()
    rf = ws.rf_matrix(latest["run_id"])
    context: dict[str, Any] = {
        "as_of": latest["as_of"],
        "n_runs": len(runs),
        "profiles": int(segments["customers"].sum()),
        "buyers": int(rf["customers"].sum()),
        "revenue": float(segments["revenue"].sum()),
        "segments": _records(segments),
        "phases": _records(phases),
        "funnel": charts.phase_funnel(phases),
        "segment_bars": charts.segment_bars(segments),
        "rf": charts.rf_heatmap(rf),
        "sankey": None,
        "history": None,
    }
    if len(runs) >= 2:
        before = runs[-2]["as_of"]
        flows = ws.segment_migration(latest["run_id"])
        moved = flows[flows["from_segment"] != flows["to_segment"]]
        context["before"] = before
        context["moved"] = int(moved["customers"].sum())
        context["sankey"] = charts.migration_sankey(flows, before, latest["as_of"])
        context["top_moves"] = _records(moved.sort_values("customers", ascending=False).head(8))
        context["history"] = charts.segment_lines(ws.segment_history())
    return context


def categories(ws: Any, selected: str | None) -> dict[str, Any]:
    """Per-category summary, activity and trend over runs, share of spend, lift,
    and the customers with rising interest in the selected category."""
    if not ws.runs():
        return {"empty": NO_RUN}
    try:
        info = ws.categories()
    except ScoringError:
        return {
            "empty": "The latest scoring run has no activity scores: set "
            "`clm config set activity.enabled true` and run `clm score` again."
        }
    summary: pd.DataFrame = info["categories"]
    if summary.empty:
        return {
            "empty": "No categories yet: import purchases with `--category COL`, then "
            "run `clm score`."
        }
    names = list(summary["category"])
    most_rising = summary.sort_values("rising_customers", ascending=False)["category"].iloc[0]
    chosen = selected if selected in names else most_rising
    history = ws.category_history()
    rising = ws.rising_customers(chosen, 20)
    latest = history[history["run_id"] == history["run_id"].iloc[-1]]
    rows = summary.merge(latest[["category", "mean_activity", "mean_trend"]], "left", "category")
    return {
        "as_of": info["as_of"],
        "summary": _records(rows),
        "strongest": info["strongest"],
        "names": names,
        "selected": chosen,
        "rising": _records(rising),
        "n_runs": int(history["run_id"].nunique()),
        "active_chart": charts.category_lines(
            history, "active_customers", "active profiles (S_long ≥ 1)", ",d"
        ),
        "trend_chart": charts.category_lines(
            history, "mean_trend", "mean trend of the active (50 = steady)", ".0f"
        ),
        "share_chart": charts.share_bars(summary),
        "lift_chart": charts.lift_heatmap(info["lift"]),
    }


def customers(ws: Any, query: str | None) -> dict[str, Any]:
    """Search results for ``query`` and, without one, the highest lifetime values."""
    context: dict[str, Any] = {"query": query or "", "results": None, "top": None}
    if query:
        context["results"] = ws.find_profiles(query, 20)
    runs = ws.runs()
    if not runs:
        context["empty"] = NO_RUN
        return context
    try:
        context["top"] = _records(ws.top_lifetime_value(15))
        fit = ws.calibration().clv or {}
        context["horizon"] = fit.get("settings", {}).get("horizon_days")
    except ScoringError:
        context["top"] = []
    return context


def data(ws: Any, server_stats: dict[str, Any] | None) -> dict[str, Any]:
    """Imports, scoring runs, the latest calibration and the event API's health."""
    info = ws.data_summary()
    calibration = None
    if info["scoring_runs"]:
        cal = ws.calibration()
        calibration = {
            "version": cal.version,
            "rfm": cal.rfm.to_dict(),
            "activity": cal.activity.to_dict() if cal.activity else None,
            "clv_model": (cal.clv or {}).get("settings", {}).get("model"),
        }
    return {
        "status": info,
        "runs": list(reversed(info["scoring_runs"])),
        "imports": list(reversed(info["imports"])),
        "calibration": calibration,
        "server": server_stats,
    }
