"""The Automations and Experiments pages, over the facade's automation methods.

- ``ws.automations()`` (``clm.automation.listing.overview``): ``{"automations": [{"name",
  "path", "status", "trigger", "priority", "version", "changed", "file"?, "enrolled",
  "treatment", "control", "sent", "converted"}], "problems": ["file:line: text"]}``;
- ``ws.automation_definitions()``: ``{name: spec}``, the flat id-linked step lists drawn by
  :mod:`clm.web.flow`;
- ``ws.automation_reports()`` (``clm.experiments.report.all_reports``): in one aggregation
  of the measurement units, the ranking with the programme's worth (``automations``,
  ``programme``) and under ``reports`` per automation its funnel per arm and variant,
  effects against control, worth, sample-ratio check and daily series.

An automation without enrolments is not measured yet ("run `clm run`"); a report that
fails for one automation is shown as its reason, never as an error page.
"""

from __future__ import annotations

import logging
from typing import Any

# What the facade's automation methods import on first use, imported with the dashboard
# (when the server starts) rather than by the first request of these pages (~0.1-0.2 s).
import clm.automation.definitions
import clm.automation.kept_units
import clm.automation.listing
import clm.automation.versions
import clm.experiments.measurement
import clm.experiments.report  # noqa: F401
from clm.charts import PALETTE
from clm.errors import ClmError
from clm.web.charts import DASHES, GREY, LINES, layout, rgba
from clm.web.flow import flow

FUNNEL = ("enrolled", "sent", "delivered", "opened", "clicked", "converted")
QUANTITIES = ("conversions", "revenue", "profit")
NO_FILES = (
    "No automations yet: write one in `definitions/automations/NAME.yaml` "
    "(`clm automations schema` prints the format, `clm automations validate` checks it), "
    "then run `clm run`."
)
DARK_GREY = "#4D4D4D"
NO_RUNS = "No enrolments yet: run `clm run` to process the automations up to now."
log = logging.getLogger(__name__)


def _all_reports(ws: Any) -> dict[str, Any]:
    """Every automation's report (``{}`` when they cannot be measured, with the reason
    logged)."""
    try:
        return dict(ws.automation_reports())
    except ClmError as exc:
        log.info("dashboard: no automation reports: %s", type(exc).__name__)
        return {"automations": [], "programme": None, "reports": {}, "reason": str(exc)}


def _report(reports: dict[str, Any], name: str) -> dict[str, Any]:
    """The report of one automation with its charts, or ``{"reason": ...}``."""
    if name not in reports["reports"]:
        return {"automation": name, "reason": reports.get("reason", NO_RUNS)}
    report = dict(reports["reports"][name])
    report["funnel_chart"] = arm_funnel(report["arms"]) if report.get("arms") else None
    report["effects_chart"] = effects_chart(report.get("effects", []))
    report["cumulative_chart"] = cumulative_chart(report.get("daily", []))
    return report


def automations(ws: Any) -> dict[str, Any]:
    """Every automation: status, version and counts, its flow, its funnel per arm and
    worth; and the files with problems."""
    overview = ws.automations()
    rows, problems = overview["automations"], overview["problems"]
    if not rows and not problems:
        return {"empty": NO_FILES}
    specs = ws.automation_definitions()
    reports = _all_reports(ws) if any(row["enrolled"] for row in rows) else None
    shown = []
    for row in rows:
        spec = specs.get(row["name"])
        shown.append(
            {
                **row,
                "description": spec.get("description") if spec else None,
                "flow": flow(row["name"], spec) if spec else None,
                "report": _report(reports, row["name"])
                if reports is not None and row["enrolled"]
                else {"automation": row["name"], "reason": NO_RUNS},
            }
        )
    return {
        "automations": shown,
        "problems": problems,
        "never_run": bool(rows) and not any(r["enrolled"] for r in rows),
        "no_runs": NO_RUNS,
    }


def experiments(ws: Any) -> dict[str, Any]:
    """The automations ranked by incremental profit, the programme's worth against the
    global control group, and each automation's effects over time."""
    overview = _all_reports(ws)
    ranking = overview["automations"]
    if not ranking:
        return {
            "empty": "No measured experiments yet: experiments are the automations' control "
            "groups, measured once `clm run` has enrolled customers (see Automations)."
        }
    return {
        "ranking": ranking,
        "programme": overview["programme"],
        "reports": [_report(overview, row["automation"]) for row in ranking],
    }


def arm_funnel(arms: list[dict[str, Any]]) -> dict[str, Any]:
    """Enrolled → converted counts per arm (and variant), grouped bars: the treatment
    variants in the palette's colours, the holdout light grey, the global control group
    dark grey (told apart by lightness, not hue)."""
    traces = []
    treated = 0
    for arm in arms:
        name = arm["arm"].replace("_", " ") + (f" · {arm['variant']}" if arm.get("variant") else "")
        marker: dict[str, Any]
        if arm["arm"] == "treatment":
            marker = {"color": LINES[treated % len(LINES)]}
            treated += 1
        elif arm["arm"] == "global_control":
            marker = {"color": DARK_GREY}
        else:
            marker = {"color": GREY}
        traces.append(
            {
                "type": "bar",
                "name": name,
                "x": list(FUNNEL),
                "y": [arm.get(stage, 0) for stage in FUNNEL],
                "marker": marker,
                "hovertemplate": name + "<br>%{x}: %{y:,d}<extra></extra>",
            }
        )
    return {
        "data": traces,
        "layout": layout(
            300, barmode="group", yaxis={"title": {"text": "enrolments"}, "tickformat": ",d"}
        ),
    }


def effects_chart(effects: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Each variant's effect on the conversion rate versus control, with its 95% CI (the
    revenue effects, in money, stay in the table)."""
    shown = [
        e
        for e in effects
        if e["metric"] == "converted" and e["absolute"].get("estimate") is not None
    ]
    if not shown:
        return None
    x = [e["absolute"]["estimate"] for e in shown]
    high = [e["absolute"]["ci"][1] - v for e, v in zip(shown, x, strict=True)]
    low = [v - e["absolute"]["ci"][0] for e, v in zip(shown, x, strict=True)]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "y": [e.get("variant") or "all variants" for e in shown],
                "x": x,
                "error_x": {"type": "data", "symmetric": False, "array": high, "arrayminus": low},
                "marker": {"size": 10, "color": PALETTE[0]},
                "hovertemplate": "%{y}: %{x:.2%}<extra></extra>",
            }
        ],
        "layout": layout(
            120 + 40 * len(shown),
            xaxis={
                "title": {"text": "conversion rate difference versus control (95% CI)"},
                "tickformat": ".1%",
                "zeroline": True,
            },
            yaxis={"automargin": True, "type": "category"},
            margin={"l": 120, "r": 20, "t": 10, "b": 50},
        ),
    }


def cumulative_chart(daily: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The cumulative effect on the conversion rate over enrolment days, with its band."""
    points = [p for p in daily if p["effects"]["converted"].get("estimate") is not None]
    if len(points) < 2:
        return None
    x = [p["day"] for p in points]
    effect = [p["effects"]["converted"] for p in points]
    colour = PALETTE[0]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "x": x + x[::-1],
                "y": [e["ci"][1] for e in effect] + [e["ci"][0] for e in effect][::-1],
                "fill": "toself",
                "fillcolor": rgba(colour, 0.15),
                "line": {"width": 0},
                "name": "95% CI",
                "hoverinfo": "skip",
            },
            {
                "type": "scatter",
                "mode": "lines",
                "x": x,
                "name": "difference",
                "y": [e["estimate"] for e in effect],
                "line": {"color": colour, "dash": DASHES[0]},
            },
        ],
        "layout": layout(
            300,
            xaxis={"type": "date", "title": {"text": "enrolled up to"}},
            yaxis={
                "title": {"text": "conversion rate difference"},
                "tickformat": ".1%",
                "zeroline": True,
            },
        ),
    }
