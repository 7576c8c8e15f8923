"""Charts of experiments and automation reports (SPEC §6).

A forest plot of the effects against control with their 95% intervals (one panel per metric,
one row per variant), and the cumulative effect over enrolment days with its interval as a
band. Both read the JSON-friendly reports of :func:`clm.experiments.analysis.analyze` and
:func:`clm.experiments.report.automation_report`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from clm.charts import PALETTE, write

BAND = "rgba(0, 114, 178, 0.18)"
SERIES = (
    ("converted", "effects", "conversion rate difference"),
    ("revenue", "effects", "revenue per enrolled, difference"),
    ("profit", "worth", "incremental profit (total)"),
)


def _label(effect: dict[str, Any], pooled: bool) -> str:
    """``arm``, ``arm variant``, or ``arm (all)`` for the pooled variants of an automation."""
    variant = effect.get("variant") or ("(all)" if pooled else None)
    return str(effect["arm"]) if variant is None else f"{effect['arm']} {variant}"


def _metrics(report: dict[str, Any]) -> list[str]:
    present = {e["metric"] for e in report["effects"]}
    return [m for m in report["metrics"] if m in present]


def _add_forest(
    figure: go.Figure, effects: list[dict[str, Any]], metric: str, colour: str, col: int
) -> None:
    """One metric's effects as points with horizontal 95% interval bars."""
    pooled = any(e.get("variant") is not None for e in effects)
    shown = [e for e in effects if e["metric"] == metric and e["absolute"]["estimate"] is not None]
    estimates = [e["absolute"]["estimate"] for e in shown]
    figure.add_trace(
        go.Scatter(
            x=estimates,
            y=[_label(e, pooled) for e in shown],
            mode="markers",
            name=metric,
            marker={"color": colour, "size": 10},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [
                    e["absolute"]["ci"][1] - x for e, x in zip(shown, estimates, strict=True)
                ],
                "arrayminus": [
                    x - e["absolute"]["ci"][0] for e, x in zip(shown, estimates, strict=True)
                ],
            },
            customdata=[e["absolute"].get("p_value") for e in shown],
            hovertemplate="%{y}: %{x:.4g} (p = %{customdata:.3g})<extra>" + metric + "</extra>",
        ),
        row=1,
        col=col,
    )
    figure.add_vline(x=0, line_dash="dot", line_color="#666666", row=1, col=col)


def effects_figure(report: dict[str, Any]) -> go.Figure:
    """Forest plot: each variant's absolute effect against control with its 95% CI."""
    metrics = _metrics(report)
    figure = make_subplots(
        rows=1, cols=max(len(metrics), 1), subplot_titles=metrics, shared_yaxes=True
    )
    for i, metric in enumerate(metrics):
        _add_forest(figure, report["effects"], metric, PALETTE[i % len(PALETTE)], i + 1)
        figure.update_xaxes(title_text="difference against control (95% CI)", row=1, col=i + 1)
    figure.update_layout(title="Effects against control", template="plotly_white")
    return figure


def _point(entry: dict[str, Any], block: str, metric: str) -> dict[str, Any]:
    value: dict[str, Any] = entry[block]["profit" if block == "worth" else metric]
    return value


def _add_band(
    figure: go.Figure, daily: list[dict[str, Any]], metric: str, block: str, row: int, col: int
) -> None:
    """The cumulative estimate as a line over its 95% interval as a shaded band."""
    days = [d["day"] for d in daily]
    points = [_point(d, block, metric) for d in daily]
    lo, hi = [p["ci"][0] for p in points], [p["ci"][1] for p in points]
    figure.add_trace(
        go.Scatter(
            x=days,
            y=hi,
            mode="lines",
            line={"width": 0},
            showlegend=False,
            hoverinfo="skip",
            name=f"{metric} upper",
        ),
        row=row,
        col=col,
    )
    figure.add_trace(
        go.Scatter(
            x=days,
            y=lo,
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=BAND,
            name=f"{metric} 95% CI",
            hoverinfo="skip",
        ),
        row=row,
        col=col,
    )
    figure.add_trace(
        go.Scatter(
            x=days,
            y=[p["estimate"] for p in points],
            mode="lines+markers",
            name=f"{metric} cumulative",
            line={"color": PALETTE[0]},
        ),
        row=row,
        col=col,
    )
    figure.add_hline(y=0, line_dash="dot", line_color="#666666", row=row, col=col)


def cumulative_figure(report: dict[str, Any]) -> go.Figure:
    """The cumulative effect by enrolment day with its 95% band, one panel per quantity."""
    figure = make_subplots(rows=1, cols=len(SERIES), subplot_titles=[s[2] for s in SERIES])
    for i, (metric, block, _) in enumerate(SERIES):
        _add_band(figure, report["daily"], metric, block, 1, i + 1)
        figure.update_xaxes(title_text="enrolled up to", row=1, col=i + 1)
    figure.update_layout(title="Cumulative effect over time", template="plotly_white")
    return figure


def automation_figure(report: dict[str, Any]) -> go.Figure:
    """An automation report's effects (top) and cumulative effects over time (bottom)."""
    metrics = _metrics(report)
    cols = max(len(metrics), len(SERIES))
    titles = [*metrics, *[""] * (cols - len(metrics)), *[s[2] for s in SERIES]]
    figure = make_subplots(rows=2, cols=cols, subplot_titles=titles, vertical_spacing=0.18)
    for i, metric in enumerate(metrics):
        _add_forest(figure, report["effects"], metric, PALETTE[i % len(PALETTE)], i + 1)
    for i, (metric, block, _) in enumerate(SERIES):
        _add_band(figure, report["daily"], metric, block, 2, i + 1)
    figure.update_layout(
        title=f"Automation {report['automation']}: effects against control and over time",
        template="plotly_white",
        height=800,
    )
    return figure


def write_effects_chart(report: dict[str, Any], path: Path) -> None:
    """:func:`effects_figure` as a self-contained ``.html`` file or a ``.png`` image."""
    write(effects_figure(report), path)


def write_automation_chart(report: dict[str, Any], path: Path) -> None:
    """:func:`automation_figure` as a self-contained ``.html`` file or a ``.png`` image."""
    write(automation_figure(report), path)
