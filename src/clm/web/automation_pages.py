"""The Automations and Experiments pages, written against the shapes the automation
and worth branches will provide through the facade.

``ws.automations() -> list[dict]``, one per definition::

    {"name": str, "version": int, "status": str ("active" | "paused" | "draft" | ...),
     "description": str | None, "trigger": str (a one-line summary),
     "steps": [{"id": str, "type": "send" | "wait" | "branch" | "exit",
                "label": str, "next": [step ids]}],
     "enrolled": int | None, "updated_at": iso time | None}

``ws.report_automation(name) -> dict``::

    {"name": str, "version": int,
     "arms": [{"arm": "control" | "treatment" | "global_control", "variant": str | None,
               "enrolled": int, "sent": int, "delivered": int, "opened": int,
               "clicked": int, "converted": int, "revenue": float}],
     "effects": [{"variant": str | None, "metric": str, "difference": float,
                  "ci_low": float, "ci_high": float, "p_value": float,
                  "relative_lift": float | None, "chance_to_beat_control": float}],
     "worth": {"incremental_conversions" | "incremental_revenue" | "incremental_profit":
               {"value": float, "ci_low": float, "ci_high": float}} | None,
     "cumulative": [{"date": "YYYY-MM-DD", "variant": str | None, "difference": float,
                     "ci_low": float, "ci_high": float}]}

Until those methods exist the pages show an empty state.
"""

from __future__ import annotations

from typing import Any

from clm.charts import PALETTE
from clm.web.charts import DASHES, GREY, layout, rgba

FUNNEL = ("enrolled", "sent", "delivered", "opened", "clicked", "converted")
NOT_YET = (
    "Automations arrive with definitions in `definitions/automations/*.yaml` "
    "(the automation runner is not installed in this version of clm)."
)


def _list(ws: Any) -> list[dict[str, Any]] | None:
    func = getattr(ws, "automations", None)
    return None if func is None else list(func())


def _report(ws: Any, name: str) -> dict[str, Any] | None:
    func = getattr(ws, "report_automation", None)
    return None if func is None else dict(func(name))


def automations(ws: Any) -> dict[str, Any]:
    """Every automation with its flow, and its arm funnel and worth when measured."""
    found = _list(ws)
    if found is None:
        return {"empty": NOT_YET}
    if not found:
        return {
            "empty": "No automations yet: add a definition under "
            "`definitions/automations/NAME.yaml`."
        }
    items = []
    for auto in found:
        report = _report(ws, auto["name"])
        items.append(
            {
                **auto,
                "report": report,
                "funnel_chart": arm_funnel(report["arms"]) if report and report["arms"] else None,
            }
        )
    return {"automations": items}


def experiments(ws: Any) -> dict[str, Any]:
    """Effects with confidence intervals, cumulative effects and worth per automation."""
    found = _list(ws)
    if found is None:
        return {"empty": NOT_YET + " Experiments are the automations' control groups."}
    reports = [r for r in (_report(ws, a["name"]) for a in found) if r and r.get("effects")]
    if not reports:
        return {
            "empty": "No measured experiments yet: an automation's arms appear here once "
            "customers are enrolled."
        }
    return {
        "reports": [
            {
                **r,
                "effects_chart": effects_chart(r["effects"]),
                "cumulative_chart": cumulative_chart(r["cumulative"])
                if r.get("cumulative")
                else None,
            }
            for r in reports
        ]
    }


def arm_funnel(arms: list[dict[str, Any]]) -> dict[str, Any]:
    """Enrolled → converted counts per arm (and variant), grouped bars."""
    traces = []
    for i, arm in enumerate(arms):
        name = arm["arm"] + (f" · {arm['variant']}" if arm.get("variant") else "")
        colour = GREY if arm["arm"] != "treatment" else PALETTE[i % len(PALETTE)]
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
            300, barmode="group", yaxis={"title": {"text": "customers"}, "tickformat": ",d"}
        ),
    }


def effects_chart(effects: list[dict[str, Any]]) -> dict[str, Any]:
    """Each effect versus control with its 95% confidence interval."""
    labels = [f"{e['metric']} · {e.get('variant') or 'treatment'}" for e in effects]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "y": labels,
                "x": [e["difference"] for e in effects],
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": [e["ci_high"] - e["difference"] for e in effects],
                    "arrayminus": [e["difference"] - e["ci_low"] for e in effects],
                },
                "marker": {"size": 10, "color": PALETTE[0]},
            }
        ],
        "layout": layout(
            120 + 40 * len(effects),
            xaxis={"title": {"text": "difference versus control (95% CI)"}, "zeroline": True},
            yaxis={"automargin": True},
            margin={"l": 160, "r": 20, "t": 10, "b": 50},
        ),
    }


def cumulative_chart(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The cumulative effect over time with its interval band, per variant."""
    traces: list[dict[str, Any]] = []
    variants = sorted({str(p.get("variant") or "treatment") for p in points})
    for i, variant in enumerate(variants):
        part = [p for p in points if str(p.get("variant") or "treatment") == variant]
        colour = PALETTE[i % len(PALETTE)]
        x = [p["date"] for p in part]
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": x + x[::-1],
                "y": [p["ci_high"] for p in part] + [p["ci_low"] for p in part][::-1],
                "fill": "toself",
                "fillcolor": rgba(colour, 0.15),
                "line": {"width": 0},
                "showlegend": False,
                "hoverinfo": "skip",
            }
        )
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": variant,
                "x": x,
                "y": [p["difference"] for p in part],
                "line": {"color": colour, "dash": DASHES[i % 4]},
            }
        )
    return {
        "data": traces,
        "layout": layout(
            300,
            xaxis={"type": "date", "title": {"text": "date"}},
            yaxis={"title": {"text": "cumulative difference"}, "zeroline": True},
        ),
    }
