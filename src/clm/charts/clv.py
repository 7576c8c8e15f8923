"""Charts of the lifetime value validation (Fader, Hardie & Lee 2005, Figures 2 and 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from clm.charts import PALETTE, write

TITLES = {"bgnbd": "BG/NBD", "pareto_nbd": "Pareto/NBD"}


def tracking_figure(report: dict[str, Any]) -> go.Figure:
    """Cumulative repeat purchases per week, actual and predicted by each model (left),
    and the holdout purchases per customer by calibration frequency (right)."""
    figure = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.6, 0.4],
        subplot_titles=(
            "Cumulative repeat purchases",
            "Holdout purchases per customer by calibration purchases",
        ),
    )
    first = report["models"][0]
    weeks = [p["period_end"] for p in first["periods"]]
    actual = [p["cumulative_actual"] for p in first["periods"]]
    figure.add_trace(
        go.Scatter(x=weeks, y=actual, name="actual", line={"color": "#000000"}), row=1, col=1
    )
    groups = [r["x"] for r in first["by_frequency"]]
    figure.add_trace(
        go.Bar(
            x=groups,
            y=[r["actual"] for r in first["by_frequency"]],
            name="actual (holdout)",
            marker_color="#999999",
        ),
        row=1,
        col=2,
    )
    for colour, model in zip(PALETTE, report["models"], strict=False):
        name = TITLES.get(model["model"], model["model"])
        figure.add_trace(
            go.Scatter(
                x=weeks,
                y=[p["cumulative_predicted"] for p in model["periods"]],
                name=f"{name} predicted",
                line={"color": colour, "dash": "dash"},
            ),
            row=1,
            col=1,
        )
        figure.add_trace(
            go.Bar(
                x=groups,
                y=[r["predicted"] for r in model["by_frequency"]],
                name=f"{name} (holdout)",
                marker_color=colour,
            ),
            row=1,
            col=2,
        )
    figure.add_vline(
        x=report["calibration_end"], line_dash="dot", line_color="#666666", row=1, col=1
    )
    figure.update_xaxes(title_text="week ending", row=1, col=1)
    figure.update_yaxes(title_text="repeat purchases", row=1, col=1)
    figure.update_xaxes(title_text="purchases in the calibration period (x)", row=1, col=2)
    figure.update_yaxes(title_text="mean purchases in the holdout", row=1, col=2)
    figure.update_layout(
        title=f"Calibration to {report['calibration_end']}, holdout to {report['holdout_end']}",
        barmode="group",
        template="plotly_white",
    )
    return figure


def write_tracking_chart(report: dict[str, Any], path: Path) -> None:
    """:func:`tracking_figure` as a self-contained ``.html`` file or a ``.png`` image."""
    write(tracking_figure(report), path)
