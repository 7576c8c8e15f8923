"""`clm experiment`: analyze an experiment run anywhere (SPEC §6)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from clm.cli.common import JsonOpt, handle_errors
from clm.cli.render import console, number, percent, print_json, table

PlotOpt = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        help="Also write a chart to this path: .html (self-contained) or .png (needs the "
        "png extra, kaleido, and Chrome or Chromium).",
        show_default=False,
    ),
]

app = typer.Typer(
    help="Experiments: effects of each arm against control with Welch intervals, relative "
    "lift, chance to win, a sample-ratio check, CUPED and always-valid intervals (SPEC §6).",
    no_args_is_help=True,
)


@app.command("analyze")
@handle_errors
def analyze(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file, one row per unit.")],
    arm: Annotated[str, typer.Option("--arm", help="Column that names each unit's arm.")],
    control: Annotated[str, typer.Option("--control", help="The control arm's value.")],
    metric: Annotated[
        list[str],
        typer.Option("--metric", help="Metric column (repeatable); 0/1 is a conversion."),
    ],
    covariate: Annotated[
        str | None,
        typer.Option(help="Pre-period covariate column for CUPED.", show_default=False),
    ] = None,
    sequential: Annotated[
        bool, typer.Option("--sequential", help="Also print always-valid intervals.")
    ] = False,
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    """Per arm n, means and sums; per variant and metric the absolute and relative effect
    against control with 95% CIs, p-value and chance to win; the sample-ratio check."""
    from clm.experiments.analysis import analyze as run

    report = run(file, arm, control, metric, covariate=covariate, sequential=sequential)
    if plot is not None:
        from clm.charts.experiments import write_effects_chart

        write_effects_chart(report, plot)
    if as_json:
        print_json(report)
        return
    print_report(report)
    if plot is not None:
        console.print(f"Wrote the chart of effects to {plot}")


def _num(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def _ci(ci: list[float | None], digits: int = 4) -> str:
    lo, hi = ci
    return "—" if lo is None or hi is None else f"[{lo:.{digits}g}, {hi:.{digits}g}]"


def _pct(value: float | None) -> str:
    return "—" if value is None else percent(value)


def print_report(report: dict[str, Any]) -> None:
    """Arms, effects and the SRM line as Rich tables; CUPED and sequential when present."""
    metrics = list(report["metrics"])
    console.print(
        table(
            f"Arms ({report['arm_column']}; control {report['control']})",
            [("arm", "left"), ("n", "right")] + [(m, "right") for m in metrics],
            [
                [a["arm"], number(a["n"])]
                + [_arm_cell(a["metrics"][m]["mean"], report["metrics"][m]) for m in metrics]
                for a in report["arms"]
            ],
        )
    )
    print_effects("Effects against control (95% Welch intervals)", report["effects"])
    srm = report["srm"]
    flag = "[bold red]sample-ratio mismatch[/]" if srm["flag"] else "no mismatch"
    console.print(f"Sample ratio: χ² p = {srm['p_value']:.4g} ({flag}; flagged at p < 0.001)")
    if "cuped" in report:
        cuped = report["cuped"]
        thetas = ", ".join(f"{m} θ = {_num(t)}" for m, t in cuped["theta"].items())
        print_effects(f"CUPED on {cuped['covariate']} ({thetas})", cuped["effects"])
        for m, reason in cuped.get("skipped", {}).items():
            console.print(f"[yellow]CUPED skipped for {m}:[/] {reason}")
    if "sequential" in report:
        print_effects("Always-valid intervals (sequential)", report["sequential"]["effects"])


def _arm_cell(mean: float | None, kind: str) -> str:
    if mean is None:
        return "—"
    return f"{100 * mean:.2f}%" if kind == "conversion" else f"{mean:,.4g}"


def print_effects(title: str, effects: list[dict[str, Any]]) -> None:
    rows, notes = [], []
    for e in effects:
        a, r = e["absolute"], e["relative"]
        rows.append(
            [
                e["arm"],
                e["metric"],
                f"{_num(a['estimate'])} {_ci(a['ci'])}",
                _num(a["p_value"], 3) if "p_value" in a else "",
                f"{_pct(r['estimate'])} [{_pct(r['ci'][0])}, {_pct(r['ci'][1])}]",
                _pct(e["chance_to_win"]),
            ]
        )
        if a.get("reason") or r.get("reason"):
            notes.append(f"{e['arm']}, {e['metric']}: {a.get('reason') or r.get('reason')}")
    console.print(
        table(
            title,
            [
                ("arm", "left"),
                ("metric", "left"),
                ("difference [95% CI]", "right"),
                ("p", "right"),
                ("lift [95% CI]", "right"),
                ("P(win)", "right"),
            ],
            rows,
        )
    )
    for note in notes:
        console.print(f"[yellow]{note}[/]")
