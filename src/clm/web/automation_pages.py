"""The Automations and Experiments pages, over the facade's automation reports.

Reports (``clm.experiments.report``, on main since the ``worth`` merge):

- ``ws.report_automations()``: ``{"automations": [{"automation", "rank", "enrolled",
  "margin", "worth", "srm"}], "programme": {"treated_customers",
  "global_control_customers", "worth"}}``;
- ``ws.report_automation(name)``: ``{"automation", "margin", "holdout_share", "arms":
  [{"arm", "variant", "enrolled", "sent", "delivered", "opened", "clicked", "converted",
  "revenue", "cost", "profit", ...}], "effects": [{"arm", "variant", "metric",
  "absolute": {"estimate", "ci": [lo, hi], "p_value", "reason"?}, "relative": {...},
  "chance_to_win"}], "worth": {"treated", "control", "population", "cost",
  "conversions" | "revenue" | "profit": {"estimate", "ci", "p_value", "reason"?}},
  "srm": {"p_value", "flag", "reason"?}, "daily": [{"day", "treated", "control",
  "effects": {"converted" | "revenue": {"estimate", "ci"}}, "worth": {...}}]}``.

Definitions (the automation branch adds them): ``ws.automations() -> list[dict]``, one per
definition: ``{"name", "version", "status", "description"?, "trigger": one-line text,
"steps": [{"id", "type": "send" | "wait" | "branch" | "exit", "label", "next": [ids]}]}``.

Until the reports can run (they need ``clm.automation.measure``) the pages show an empty
state; a report that fails for one automation is shown as a reason, never as an error page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from clm.charts import PALETTE
from clm.errors import ClmError
from clm.web.charts import DASHES, GREY, LINES, layout, rgba

FUNNEL = ("enrolled", "sent", "delivered", "opened", "clicked", "converted")
QUANTITIES = ("conversions", "revenue", "profit")
NOT_YET = (
    "Automations arrive with definitions in `definitions/automations/*.yaml` "
    "(the automation runner is not part of this installation yet)."
)
log = logging.getLogger(__name__)


class Unavailable(Exception):
    """A facade method the pages use is missing or cannot run yet; the text says why."""


def _call(ws: Any, method: str, *args: Any) -> Any:
    func: Callable[..., Any] | None = getattr(ws, method, None)
    if func is None:
        raise Unavailable(NOT_YET)
    try:
        return func(*args)
    except ImportError as exc:  # clm.automation.measure is not installed yet
        log.info("dashboard: ws.%s unavailable: %s", method, exc)
        raise Unavailable(NOT_YET) from exc
    except ClmError as exc:
        raise Unavailable(str(exc)) from exc


def _report(ws: Any, name: str) -> dict[str, Any]:
    """The report of one automation with its charts, or ``{"reason": ...}``."""
    try:
        report = dict(_call(ws, "report_automation", name))
    except Unavailable as exc:
        return {"automation": name, "reason": str(exc)}
    report["funnel_chart"] = arm_funnel(report["arms"]) if report.get("arms") else None
    report["effects_chart"] = effects_chart(report.get("effects", []))
    report["cumulative_chart"] = cumulative_chart(report.get("daily", []))
    return report


def automations(ws: Any) -> dict[str, Any]:
    """Every automation: its flow (when definitions exist) and its funnel per arm."""
    try:
        definitions = list(_call(ws, "automations"))
    except Unavailable:
        definitions = None
    if definitions is None:
        try:
            ranking = _call(ws, "report_automations")["automations"]
        except Unavailable as exc:
            return {"empty": str(exc)}
        definitions = [{"name": row["automation"]} for row in ranking]
    if not definitions:
        return {
            "empty": "No automations yet: add a definition under "
            "`definitions/automations/NAME.yaml`."
        }
    return {"automations": [{**d, "report": _report(ws, d["name"])} for d in definitions]}


def experiments(ws: Any) -> dict[str, Any]:
    """The automations ranked by incremental profit, the programme's worth against the
    global control group, and each automation's effects over time."""
    try:
        overview = _call(ws, "report_automations")
    except Unavailable as exc:
        return {"empty": f"{exc} Experiments are the automations' control groups."}
    ranking = overview["automations"]
    if not ranking:
        return {
            "empty": "No measured experiments yet: an automation's arms appear here once "
            "customers are enrolled."
        }
    return {
        "ranking": ranking,
        "programme": overview["programme"],
        "reports": [_report(ws, row["automation"]) for row in ranking],
    }


def arm_funnel(arms: list[dict[str, Any]]) -> dict[str, Any]:
    """Enrolled → converted counts per arm (and variant), grouped bars."""
    traces = []
    for i, arm in enumerate(arms):
        name = arm["arm"] + (f" · {arm['variant']}" if arm.get("variant") else "")
        colour = LINES[i % len(LINES)] if arm["arm"] == "treatment" else GREY
        traces.append(
            {
                "type": "bar",
                "name": name,
                "x": list(FUNNEL),
                "y": [arm.get(stage, 0) for stage in FUNNEL],
                "marker": {"color": colour},
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
