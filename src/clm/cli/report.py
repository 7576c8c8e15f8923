"""`clm report`: what each automation was worth against its control group (SPEC §6)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from clm.cli.common import JsonOpt, WorkspaceOpt, handle_errors, opened
from clm.cli.experiment import PlotOpt, print_effects
from clm.cli.render import console, number, percent, print_json, table

app = typer.Typer(
    help="Reports on automations: funnel, effects against the control group, incremental "
    "conversions, revenue and profit with 95% intervals, and the programme's worth against "
    "the global control group (SPEC §6).",
    no_args_is_help=True,
)

HERE = Path(".")
QUANTITIES = (("conversions", 1), ("revenue", 2), ("profit", 2))


@app.command("automation")
@handle_errors
def automation(
    name: Annotated[str, typer.Argument(help="The automation's name.")],
    workspace: WorkspaceOpt = HERE,
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    """Per arm and variant the enrolled, sent, delivered, opened, clicked, converted and
    revenue; effects against control; campaign worth; the sample-ratio check against the
    configured holdout share; the cumulative effect by enrolment day."""
    with opened(workspace) as ws:
        report = ws.report_automation(name)
    if plot is not None:
        from clm.charts.experiments import write_automation_chart

        write_automation_chart(report, plot)
    if as_json:
        print_json(report)
        return
    print_automation(report)
    if plot is not None:
        console.print(f"Wrote the chart to {plot}")


@app.command("automations")
@handle_errors
def automations(workspace: WorkspaceOpt = HERE, as_json: JsonOpt = False) -> None:
    """Every automation ranked by incremental profit against its own control group, and the
    whole programme's worth: treated customers against the global control group."""
    with opened(workspace) as ws:
        report = ws.report_automations()
    if as_json:
        print_json(report)
        return
    print_automations(report)


def _ci(block: dict[str, Any], digits: int = 2) -> str:
    if block["estimate"] is None:
        return "— " + str(block.get("reason", ""))
    lo, hi = block["ci"]
    return f"{number(block['estimate'], digits)} [{number(lo, digits)}, {number(hi, digits)}]"


def _label(arm: str, variant: str | None) -> str:
    return arm if variant is None else f"{arm} {variant}"


def print_automation(report: dict[str, Any]) -> None:
    """The automation report as Rich tables."""
    holdout = report["holdout_share"]
    share = "not configured" if holdout is None else percent(holdout)
    console.print(
        f"Automation [bold]{report['automation']}[/] (margin {percent(report['margin'])}, "
        f"holdout {share})"
    )
    _print_arms(report["arms"])
    pooled = any(e["variant"] is not None for e in report["effects"])
    labelled = [
        {**e, "arm": _label(e["arm"], e["variant"] or ("(all)" if pooled else None))}
        for e in report["effects"]
    ]
    print_effects("Effects per enrolled against control (95% Welch intervals)", labelled)
    _print_worth(report)
    if report.get("caution"):
        console.print(f"[bold yellow]Caution:[/] {report['caution']}")
    _print_srm(report["srm"])
    _print_daily(report["daily"])


def _print_arms(arms: list[dict[str, Any]]) -> None:
    """The funnel and the outcomes per arm and variant, as two tables that fit 80 columns."""
    steps = ("enrolled", "sent", "delivered", "opened", "clicked")
    console.print(
        table(
            "Funnel",
            [("arm", "left"), *[(s, "right") for s in steps]],
            [[_label(a["arm"], a["variant"]), *[number(a[s]) for s in steps]] for a in arms],
        )
    )
    console.print(
        table(
            "Outcomes (goal window)",
            [
                ("arm", "left"),
                ("converted", "right"),
                ("rate", "right"),
                ("revenue", "right"),
                ("per enrolled", "right"),
                ("costs", "right"),
            ],
            [
                [
                    _label(a["arm"], a["variant"]),
                    number(a["converted"]),
                    "" if not a["n"] else percent(a["converted"] / a["n"]),
                    number(a["revenue"], 2),
                    number(a["metrics"]["revenue"]["mean"], 2),
                    number(a["cost"], 2),
                ]
                for a in arms
            ],
        )
    )


def _print_worth(report: dict[str, Any]) -> None:
    blocks = [("all treated", report["worth"])]
    if len(report["worth_by_variant"]) > 1:
        blocks += [(f"variant {w['variant']}", w) for w in report["worth_by_variant"]]
    rows = [
        [who, str(q), _ci(w[q], d), "" if w[q]["p_value"] is None else f"{w[q]['p_value']:.3g}"]
        for who, w in blocks
        for q, d in QUANTITIES
    ]
    w = report["worth"]
    console.print(
        table(
            f"Campaign worth over {number(w['population'])} treated (cost {number(w['cost'], 2)})",
            [
                ("treated", "left"),
                ("quantity", "left"),
                ("incremental [95% CI]", "right"),
                ("p", "right"),
            ],
            rows,
        )
    )


def _print_srm(srm: dict[str, Any]) -> None:
    if srm["p_value"] is None:
        console.print(f"Sample ratio: not tested ({srm['reason']})")
        return
    flag = "[bold red]sample-ratio mismatch[/]" if srm["flag"] else "no mismatch"
    console.print(f"Sample ratio: χ² p = {srm['p_value']:.4g} ({flag}; flagged at p < 0.001)")


def _print_daily(daily: list[dict[str, Any]]) -> None:
    console.print(
        table(
            "Cumulative by enrolment day",
            [
                ("up to", "left"),
                ("treated", "right"),
                ("control", "right"),
                ("conversion rate diff.", "right"),
                ("revenue diff.", "right"),
                ("incremental profit", "right"),
            ],
            [
                [
                    d["day"],
                    number(d["treated"]),
                    number(d["control"]),
                    _ci(d["effects"]["converted"], 4),
                    _ci(d["effects"]["revenue"]),
                    _ci(d["worth"]["profit"]),
                ]
                for d in daily
            ],
        )
    )


def print_automations(report: dict[str, Any]) -> None:
    """The ranking and the programme's worth as Rich tables."""
    console.print(
        table(
            "Automations by incremental profit (95% CI)",
            [
                ("rank", "right"),
                ("automation", "left"),
                ("enrolled", "right"),
                ("conversions", "right"),
                ("revenue", "right"),
                ("profit", "right"),
            ],
            [
                [
                    str(r["rank"]),
                    r["automation"] + (" *" if r.get("caution") else ""),
                    number(r["enrolled"]),
                    *[_ci(r["worth"][q], d) for q, d in QUANTITIES],
                ]
                for r in report["automations"]
            ],
        )
    )
    if any(r.get("caution") for r in report["automations"]):
        console.print(
            "* an arm too small for its intervals (fewer than 30 units, or 10 conversions or "
            "non-conversions): read them as rough; `clm report automation NAME` says which"
        )
    p = report["programme"]
    console.print(
        f"Programme: {number(p['treated_customers'])} treated customers against "
        f"{number(p['global_control_customers'])} in the global control group"
    )
    for q, d in QUANTITIES:
        console.print(f"  incremental {q}: {_ci(p['worth'][q], d)}")
    if p.get("caution"):
        console.print(f"  [bold yellow]Caution:[/] {p['caution']}")
