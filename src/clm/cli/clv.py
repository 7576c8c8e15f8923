"""`clm clv`: fit the lifetime value models and check them against a holdout."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from clm.cli.common import JsonOpt, WorkspaceOpt, handle_errors, opened
from clm.cli.render import console, number, print_json, table

if TYPE_CHECKING:
    from clm.scores.clv import ClvFit, ModelChoice

app = typer.Typer(
    help="Customer lifetime value: fit BG/NBD, Pareto/NBD and Gamma-Gamma (SPEC §5) and "
    "validate them on a holdout period. `clm score` applies the fit to every customer.",
    no_args_is_help=True,
)
HERE = Path(".")
# the models' NAMEs (clm.models.*): literal here so that the CLI starts without SciPy
TITLES = {"bgnbd": "BG/NBD", "pareto_nbd": "Pareto/NBD", "gamma_gamma": "Gamma-Gamma"}

ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="bgnbd, pareto_nbd (or pareto) or both: the purchase model(s) to fit "
        "(default: the clv.model setting).",
        show_default=False,
    ),
]
UnitOpt = Annotated[
    str | None,
    typer.Option(help="day or week (default: the clv.time_unit setting).", show_default=False),
]


def _model(name: str | None) -> ModelChoice | None:
    from clm.scores.clv import MODEL_NAMES

    if name is not None and name not in MODEL_NAMES:
        raise typer.BadParameter("must be bgnbd, pareto_nbd (pareto) or both", param_hint="--model")
    return None if name is None else MODEL_NAMES[name]


def _unit(name: str | None) -> Any:
    if name not in (None, "day", "week"):
        raise typer.BadParameter("must be day or week", param_hint="--time-unit")
    return name


@app.command("fit")
@handle_errors
def fit(
    calibration_end: Annotated[
        str | None,
        typer.Option(
            help="Fit on purchases up to this date, YYYY-MM-DD (default: the latest event's).",
            show_default=False,
        ),
    ] = None,
    time_unit: UnitOpt = None,
    model: ModelOpt = None,
    workspace: WorkspaceOpt = HERE,
    as_json: JsonOpt = False,
) -> None:
    """Fit the purchase model(s) and Gamma-Gamma by maximum likelihood and store the fit."""
    with opened(workspace) as ws:
        result = ws.clv_fit(calibration_end, time_unit=_unit(time_unit), model=_model(model))
    if as_json:
        print_json(result.to_dict())
        return
    print_fit(result)


def print_fit(result: ClvFit) -> None:
    """One table per fitted model: estimates, standard errors, log-likelihood, fit time."""
    console.print(
        f"Purchases up to {result.calibration_end}, time unit {result.time_unit}: "
        f"{number(result.n_customers)} customers, {number(result.n_repeat_buyers)} repeat buyers."
    )
    fits = [*result.purchases.values(), *([result.spend] if result.spend else [])]
    for f in fits:
        rows = [
            [name, f"{value:.6g}", "" if f.stderr[name] is None else f"{f.stderr[name]:.4g}"]
            for name, value in f.params.items()
        ]
        console.print(
            table(
                f"{TITLES[f.model]}: log-likelihood {f.log_likelihood:,.3f}, "
                f"{number(f.n_customers)} customers, fitted in {f.seconds:.2f} s",
                [("parameter", "left"), ("estimate", "right"), ("std. error", "right")],
                rows,
            )
        )
        if f.extra.get("dropout") == "homogeneous":
            se = f.extra.get("p_stderr")
            console.print(
                f"  Dropout is the same for every customer here: a and b run to infinity "
                f"(shown at a + b = 1e8), and the fit is the limit with p = {f.extra['p']:.4g}"
                + ("" if se is None else f" (std. error {se:.2g})")
                + " per purchase."
            )
    print_skipped(result.skipped)


def print_skipped(skipped: dict[str, str]) -> None:
    """Why a model was not fitted (each reason starts with the model's name)."""
    for reason in skipped.values():
        console.print(f"[yellow]Not fitted:[/] {reason}")


@app.command("validate")
@handle_errors
def validate(
    calibration_end: Annotated[
        str, typer.Option(help="End of the calibration period, YYYY-MM-DD.")
    ],
    holdout_end: Annotated[str, typer.Option(help="End of the holdout period, YYYY-MM-DD.")],
    time_unit: UnitOpt = None,
    model: ModelOpt = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            help="Also write the tracking chart (cumulative repeat purchases, actual and "
            "predicted) to this .html file.",
            show_default=False,
        ),
    ] = None,
    workspace: WorkspaceOpt = HERE,
    as_json: JsonOpt = False,
) -> None:
    """Fit on the calibration period, predict the holdout, compare with what happened."""
    with opened(workspace) as ws:
        report = ws.clv_validate(
            calibration_end, holdout_end, time_unit=_unit(time_unit), model=_model(model)
        )
    if plot is not None:
        from clm.charts.clv import write_tracking_chart

        write_tracking_chart(report, plot)
    if as_json:
        print_json(report)
        return
    print_validation(report)
    if plot is not None:
        console.print(f"Wrote the tracking chart to {plot}")


def print_validation(report: dict[str, Any]) -> None:
    """Totals, conditional expectations by frequency, and per-customer error per model."""
    console.print(
        f"Calibration to {report['calibration_end']}, holdout to {report['holdout_end']}."
    )
    for warning in report.get("warnings", []):
        console.print(f"[yellow]Warning:[/] {warning}")
    print_skipped(report["fit"].get("skipped", {}))
    for m in report["models"]:
        total = m["total"]
        error = (total["predicted"] - total["actual"]) / total["actual"] if total["actual"] else 0
        err = m["per_customer"]
        console.print(
            f"[bold]{TITLES[m['model']]}[/]: {number(total['actual'])} repeat purchases in the "
            f"holdout, {number(total['predicted'], 1)} predicted ({100 * error:+.1f}%); per "
            f"customer MAE {err['mae']:.3f}, RMSE {err['rmse']:.3f}, correlation "
            f"{number(err['correlation'], 3)}."
        )
        rows = [
            [r["x"], number(r["customers"]), number(r["actual"], 3), number(r["predicted"], 3)]
            for r in m["by_frequency"]
        ]
        console.print(
            table(
                "Holdout purchases per customer by calibration purchases (x)",
                [
                    ("x", "right"),
                    ("customers", "right"),
                    ("actual", "right"),
                    ("predicted", "right"),
                ],
                rows,
            )
        )
