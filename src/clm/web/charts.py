"""The dashboard's Plotly figures, built as plain ``{"data", "layout"}`` dicts.

Plain dicts skip ``plotly.graph_objects`` validation, which costs milliseconds per
figure; the browser's Plotly renders them (the page tests check every chart draws
without a console error). Colours: Okabe & Ito (2008), one per lifecycle phase, so
a segment has its phase's colour everywhere; sequential scales are ``Cividis``
(Nuñez, Anderton & Renslow 2018), readable with colour-vision deficiencies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from clm.charts import PALETTE
from clm.scores.history_reports import NEW
from clm.scores.segments import PHASE_OF, PROSPECT, SEGMENTS

Figure = dict[str, Any]

PHASE_COLOURS = {
    "Acquisition": "#56B4E9",
    "Retention": "#009E73",
    "Increased Value": "#0072B2",
    "Veneration": "#E69F00",
    "Reactivation": "#D55E00",
}
GREY = "#8C8C8C"
MESSAGE_ROW = "messages (outbox)"
# Okabe & Ito without its yellow (too pale for lines on white), with black instead.
LINES = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
DASHES = ("solid", "dash", "dot", "dashdot")
FONT = {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 13}


def segment_colour(segment: str) -> str:
    phase = PHASE_OF.get(segment)
    return PHASE_COLOURS.get(phase, GREY) if phase else GREY


def layout(height: int = 360, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
        "font": FONT,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "colorway": list(LINES),
        "hoverlabel": {"font": FONT},
        "legend": {"orientation": "h", "y": -0.2},
    }
    base.update(extra)
    return base


def _clean(values: Sequence[Any]) -> list[Any]:
    """JSON-safe numbers: NaN becomes None (a gap), numpy scalars become Python ones."""
    out: list[Any] = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        elif hasattr(v, "item"):
            out.append(v.item())
        else:
            out.append(v)
    return out


def phase_funnel(phases: pd.DataFrame) -> Figure:
    """The five phases as a funnel: customers, with the share of all profiles."""
    return {
        "data": [
            {
                "type": "funnel",
                "y": list(phases["phase"]),
                "x": _clean(phases["customers"]),
                "textinfo": "value+percent total",
                "marker": {"color": [PHASE_COLOURS[p] for p in phases["phase"]]},
                "hovertemplate": "%{y}: %{x:,} profiles<extra></extra>",
            }
        ],
        "layout": layout(320, margin={"l": 120, "r": 20, "t": 10, "b": 20}),
    }


def segment_bars(segments: pd.DataFrame) -> Figure:
    """Profiles (left) and revenue in W (right) per segment, coloured by phase."""
    frame = segments[segments["segment"] != PROSPECT].iloc[::-1]
    colours = [segment_colour(s) for s in frame["segment"]]
    common = {
        "type": "bar",
        "orientation": "h",
        "y": list(frame["segment"]),
        "marker": {"color": colours},
        "showlegend": False,
    }
    return {
        "data": [
            {
                **common,
                "x": _clean(frame["customers"]),
                "name": "profiles",
                "hovertemplate": "%{y}: %{x:,} profiles<extra></extra>",
            },
            {
                **common,
                "x": _clean(frame["revenue"]),
                "name": "revenue",
                "xaxis": "x2",
                "hovertemplate": "%{y}: %{x:,.2f} revenue<extra></extra>",
            },
        ],
        "layout": layout(
            400,
            margin={"l": 180, "r": 20, "t": 30, "b": 50},
            xaxis={"domain": [0, 0.47], "title": {"text": "profiles"}, "tickformat": ",d"},
            xaxis2={
                "domain": [0.53, 1],
                "title": {"text": "revenue in the window"},
                "tickformat": ",.0f",
            },
            yaxis={"automargin": True},
        ),
    }


def rf_heatmap(rf: pd.DataFrame) -> Figure:
    """Buyers per R score (rows) and F score (columns), the count in each cell."""
    grid = [[0] * 5 for _ in range(5)]
    for row in rf.itertuples():
        grid[int(row.r_score) - 1][int(row.f_score) - 1] = int(row.customers)
    return {
        "data": [
            {
                "type": "heatmap",
                "z": grid,
                "x": [1, 2, 3, 4, 5],
                "y": [1, 2, 3, 4, 5],
                "text": [[f"{v:,}" for v in r] for r in grid],
                "texttemplate": "%{text}",
                "colorscale": "Cividis",
                "colorbar": {"title": {"text": "buyers"}},
                "hovertemplate": "R %{y}, F %{x}: %{z:,} buyers<extra></extra>",
            }
        ],
        "layout": layout(
            360,
            xaxis={"title": {"text": "F score (frequency, 5 = best)"}, "dtick": 1},
            yaxis={"title": {"text": "R score (recency, 5 = best)"}, "dtick": 1},
        ),
    }


def migration_sankey(flows: pd.DataFrame, before: str, after: str) -> Figure:
    """Profiles moving from their segment in the run before (left) to the latest (right)."""
    order = [NEW, *SEGMENTS, PROSPECT]
    left = [s for s in order if s in set(flows["from_segment"])]
    right = [s for s in order if s in set(flows["to_segment"])]
    labels = [f"{s} ({before})" for s in left] + [f"{s} ({after})" for s in right]
    colours = [segment_colour(s) for s in left + right]
    index_left = {s: i for i, s in enumerate(left)}
    index_right = {s: len(left) + i for i, s in enumerate(right)}
    link_colours = [rgba(segment_colour(s), 0.35) for s in flows["from_segment"]]
    return {
        "data": [
            {
                "type": "sankey",
                "arrangement": "snap",
                "valueformat": ",d",
                "node": {"label": labels, "color": colours, "pad": 12, "thickness": 14},
                "link": {
                    "source": [index_left[s] for s in flows["from_segment"]],
                    "target": [index_right[s] for s in flows["to_segment"]],
                    "value": _clean(flows["customers"]),
                    "color": link_colours,
                },
            }
        ],
        "layout": layout(560, margin={"l": 10, "r": 10, "t": 10, "b": 10}),
    }


def rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def segment_lines(history: pd.DataFrame) -> Figure:
    """Profiles per segment at every scoring run: phase colour, one dash per segment."""
    traces = []
    dash_of: dict[str, str] = {}
    for segment in [*SEGMENTS, PROSPECT]:
        part = history[history["segment"] == segment]
        if part.empty:
            continue
        phase = PHASE_OF.get(segment) or "-"
        dash_of[phase] = (
            DASHES[(DASHES.index(dash_of[phase]) + 1) % 4] if phase in dash_of else DASHES[0]
        )
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": segment,
                "x": [str(d) for d in part["as_of"]],
                "y": _clean(part["customers"]),
                "line": {"color": segment_colour(segment), "dash": dash_of[phase]},
                "hovertemplate": f"{segment}<br>%{{x}}: %{{y:,}} profiles<extra></extra>",
            }
        )
    return {
        "data": traces,
        "layout": layout(
            420,
            xaxis={"title": {"text": "scoring run (as of)"}, "type": "date"},
            yaxis={"title": {"text": "profiles"}, "tickformat": ",d", "rangemode": "tozero"},
            legend={"orientation": "v", "x": 1.02, "y": 1},
            margin={"l": 60, "r": 10, "t": 10, "b": 50},
        ),
    }


def category_lines(history: pd.DataFrame, column: str, title: str, tickformat: str) -> Figure:
    """One line per category of ``column`` across scoring runs."""
    traces = []
    for i, (category, part) in enumerate(history.groupby("category", sort=True)):
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": str(category),
                "x": [str(d) for d in part["as_of"]],
                "y": _clean(part[column]),
                "line": {"color": LINES[i % len(LINES)], "dash": DASHES[i // len(LINES) % 4]},
            }
        )
    return {
        "data": traces,
        "layout": layout(
            380,
            xaxis={"title": {"text": "scoring run (as of)"}, "type": "date"},
            yaxis={"title": {"text": title}, "tickformat": tickformat},
            legend={"orientation": "v", "x": 1.02, "y": 1},
            margin={"l": 60, "r": 10, "t": 10, "b": 50},
        ),
    }


def share_bars(summary: pd.DataFrame) -> Figure:
    """Each category's share of all spend (π_c, the affinity baseline of SPEC §4)."""
    frame = summary.sort_values("spend_share")
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": list(frame["category"]),
                "x": _clean(frame["spend_share"]),
                "marker": {"color": PALETTE[0]},
                "hovertemplate": "%{y}: %{x:.1%} of spend<extra></extra>",
            }
        ],
        "layout": layout(
            340,
            xaxis={"title": {"text": "share of spend"}, "tickformat": ".0%"},
            yaxis={"automargin": True},
            margin={"l": 100, "r": 20, "t": 10, "b": 50},
        ),
    }


def lift_heatmap(lift: pd.DataFrame) -> Figure:
    """Lift between categories on a log₂ colour scale centred on 1 (independence);
    the diagonal is left blank."""
    names = [str(c) for c in lift.columns]
    rows = [str(r) for r in lift.index]
    values = lift.to_numpy(dtype=float)

    def shown(a: str, b: str, v: float) -> bool:  # lift(a, a) = N / n_a says nothing
        return a != b and not math.isnan(v) and v > 0

    z = [
        [math.log2(v) if shown(a, b, v) else None for b, v in zip(names, row, strict=True)]
        for a, row in zip(rows, values, strict=True)
    ]
    text = [
        [f"{v:.2f}" if shown(a, b, v) else "" for b, v in zip(names, row, strict=True)]
        for a, row in zip(rows, values, strict=True)
    ]
    return {
        "data": [
            {
                "type": "heatmap",
                "z": z,
                "x": names,
                "y": rows,
                "text": text,
                "texttemplate": "%{text}",
                "zmid": 0,
                "colorscale": [[0, "#0072B2"], [0.5, "#F7F7F7"], [1, "#D55E00"]],
                "colorbar": {
                    "title": {"text": "lift"},
                    "tickvals": [-2, -1, 0, 1, 2],
                    "ticktext": ["¼", "½", "1", "2", "4"],
                },
                "hovertemplate": "active in %{y} → %{x}: lift %{text}<extra></extra>",
            }
        ],
        "layout": layout(
            460,
            xaxis={"title": {"text": "category b"}, "tickangle": -30},
            yaxis={"title": {"text": "category a"}, "autorange": "reversed"},
            margin={"l": 100, "r": 20, "t": 10, "b": 90},
        ),
    }


def timeline(events: list[dict[str, Any]], messages: Sequence[dict[str, Any]] = ()) -> Figure:
    """A profile's events over time, one row per event type; purchases sized by amount;
    the outbox's messages (``ws.outbox`` rows) on a row of their own, at the time they
    went out (or are due), as diamonds labelled with channel, automation and status."""
    traces = []
    types = sorted({e["type"] for e in events})
    for i, kind in enumerate(types):
        part = [e for e in events if e["type"] == kind]
        sizes = [8 + min(16.0, math.sqrt(abs(e["amount"] or 0))) for e in part]
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": kind,
                "x": [e["ts"] for e in part],
                "y": [kind] * len(part),
                "marker": {"size": sizes, "color": LINES[i % len(LINES)], "opacity": 0.75},
                "text": [_event_text(e) for e in part],
                "hovertemplate": "%{x}<br>%{text}<extra></extra>",
            }
        )
    if messages:
        types.append(MESSAGE_ROW)
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": MESSAGE_ROW,
                "x": [m["sent_at"] or m["not_before"] for m in messages],
                "y": [MESSAGE_ROW] * len(messages),
                "marker": {"size": 11, "symbol": "diamond", "color": GREY, "opacity": 0.9},
                "text": [f"{m['channel']} · {m['automation']} · {m['status']}" for m in messages],
                "hovertemplate": "%{x}<br>%{text}<extra></extra>",
            }
        )
    return {
        "data": traces,
        "layout": layout(
            80 + 45 * max(len(types), 2),
            xaxis={"title": {"text": "time (UTC)"}, "type": "date"},
            yaxis={"automargin": True, "type": "category"},
            showlegend=False,
            margin={"l": 110, "r": 20, "t": 10, "b": 50},
        ),
    }


def _event_text(event: dict[str, Any]) -> str:
    parts = [str(event["type"])]
    if event.get("category"):
        parts.append(str(event["category"]))
    if event.get("amount") is not None:
        parts.append(f"{event['amount']:,.2f}")
    return " · ".join(parts)


def activity_bars(activity: list[dict[str, Any]]) -> Figure:
    """A profile's activity and trend per scope (0-100; 50 = typical / steady)."""
    scopes = [a["scope"] for a in activity]
    return {
        "data": [
            {
                "type": "bar",
                "name": "activity",
                "x": scopes,
                "y": _clean([a["activity"] for a in activity]),
                "marker": {"color": PALETTE[0]},
                "hovertemplate": "%{x}: activity %{y:.0f}<extra></extra>",
            },
            {
                "type": "bar",
                "name": "trend",
                "x": scopes,
                "y": _clean([a["trend"] for a in activity]),
                "marker": {"color": PALETTE[1]},
                "hovertemplate": "%{x}: trend %{y:.0f}<extra></extra>",
            },
        ],
        "layout": layout(
            320,
            barmode="group",
            yaxis={"title": {"text": "index (0-100)"}, "range": [0, 100]},
            shapes=[
                {
                    "type": "line",
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "y0": 50,
                    "y1": 50,
                    "line": {"color": GREY, "dash": "dot", "width": 1},
                }
            ],
            legend={"orientation": "h", "y": 1.12},
            margin={"l": 60, "r": 20, "t": 30, "b": 50},
        ),
    }


def segment_steps(history: list[dict[str, Any]]) -> Figure:
    """A profile's segment at every scoring run, as a step line over the segment order."""
    order = [*SEGMENTS, PROSPECT]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "line": {"shape": "hv", "color": GREY},
                "marker": {"size": 12, "color": [segment_colour(h["segment"]) for h in history]},
                "x": [h["as_of"] for h in history],
                "y": [h["segment"] for h in history],
                "hovertemplate": "%{x}: %{y}<extra></extra>",
            }
        ],
        "layout": layout(
            300,
            xaxis={"title": {"text": "scoring run (as of)"}, "type": "date"},
            yaxis={
                "type": "category",
                "categoryorder": "array",
                "categoryarray": order[::-1],
                "automargin": True,
            },
            showlegend=False,
            margin={"l": 170, "r": 20, "t": 10, "b": 50},
        ),
    }
