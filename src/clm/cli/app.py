"""The `clm` command line: a thin layer over :class:`clm.Workspace`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from clm.cli import automations, clv, experiment, imports, outbox, serve, users
from clm.cli import report as report_cli
from clm.cli.common import JsonOpt, WorkspaceOpt, handle_errors, opened
from clm.cli.render import (
    RichProgress,
    console,
    frame_records,
    number,
    percent,
    print_json,
    table,
)

if TYPE_CHECKING:
    from clm.cli.remote import RemoteWorkspace
    from clm.workspace import Workspace


@contextmanager
def opened_or_served(path: Path) -> Iterator[Workspace | RemoteWorkspace]:
    """:func:`clm.cli.remote.opened_or_served`, imported when a command runs: it loads
    httpx, pandas and the facade, which `clm --help` does not need."""
    from clm.cli import remote

    with remote.opened_or_served(path) as workspace:
        yield workspace


app = typer.Typer(
    name="clm",
    help="clm: customer lifecycle management. Import customers, purchases and events; score "
    "RFM, lifecycle segments, category activity and lifetime value; run automations and "
    "measure them against control groups; serve the event API and the dashboard.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(imports.app, name="import")
config_app = typer.Typer(
    help="Read and change workspace settings (clm.toml).", no_args_is_help=True
)
app.add_typer(config_app, name="config")
export_app = typer.Typer(help="Export results to CSV or Parquet.", no_args_is_help=True)
app.add_typer(export_app, name="export")
app.add_typer(clv.app, name="clv")
app.add_typer(experiment.app, name="experiment")
app.add_typer(serve.keys_app, name="keys")
app.add_typer(report_cli.app, name="report")
app.command("outbox")(outbox.outbox)
automations.register(app)
app.add_typer(users.app, name="users")

HERE = Path(".")


@app.command()
@handle_errors
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new workspace.")] = HERE,
    name: Annotated[
        str | None, typer.Option(help="Workspace name (default: folder name).", show_default=False)
    ] = None,
) -> None:
    """Create a workspace: clm.toml, the DuckDB file and definition folders."""
    from clm.workspace import Workspace

    with Workspace.init(directory, name=name) as ws:
        console.print(f"Created workspace [bold]{ws.settings.workspace.name}[/] in {ws.root}")
        console.print("Next: clm import transactions FILE -w " + str(directory))


@config_app.command("get")
@handle_errors
def config_get(key: str, workspace: WorkspaceOpt = HERE) -> None:
    """Print the value of a setting, e.g. rfm.window_days."""
    with opened(workspace) as ws:
        print_json(ws.config_get(key))


@config_app.command("set")
@handle_errors
def config_set(
    key: str,
    value: Annotated[str, typer.Argument(help="A TOML value: 180, true, [2, 3, 4, 6], text.")],
    workspace: WorkspaceOpt = HERE,
) -> None:
    """Change a setting; the whole file is validated before it is written."""
    with opened(workspace) as ws:
        new = ws.config_set(key, value)
        console.print(f"{key} = {new!r}")


@config_app.command("list")
@handle_errors
def config_list(workspace: WorkspaceOpt = HERE, as_json: JsonOpt = False) -> None:
    """Print every setting with its value."""
    with opened(workspace) as ws:
        values = ws.config_list()
    if as_json:
        print_json(values)
        return
    console.print(
        table(
            "Settings",
            [("key", "left"), ("value", "left")],
            [[k, repr(v)] for k, v in values.items()],
        )
    )


@app.command()
@handle_errors
def status(workspace: WorkspaceOpt = HERE, as_json: JsonOpt = False) -> None:
    """What the workspace holds: profiles, events by type, imports, scoring runs."""
    with opened_or_served(workspace) as ws:
        info = ws.status()
    if as_json:
        print_json(info)
        return
    p, e = info["profiles"], info["events"]
    console.print(f"Workspace [bold]{info['workspace']['name']}[/] ({info['workspace']['path']})")
    console.print(
        f"Profiles: {number(p['total'])} ({number(p['customers'])} customers, "
        f"{number(p['anonymous_visitors'])} anonymous visitors)"
    )
    span = f", {e['first'][:10]} to {e['last'][:10]}" if e["first"] else ""
    console.print(f"Events: {number(e['total'])}{span}")
    if e["by_type"]:
        console.print(
            table(
                "Events by type",
                [("type", "left"), ("events", "right")],
                [[t, number(n)] for t, n in e["by_type"].items()],
            )
        )
    if info["imports"]:
        console.print(
            table(
                "Imports",
                [
                    ("id", "right"),
                    ("kind", "left"),
                    ("source", "left"),
                    ("read", "right"),
                    ("imported", "right"),
                    ("duplicates", "right"),
                    ("quarantined", "right"),
                    ("finished", "left"),
                ],
                [
                    [
                        str(i["import_id"]),
                        i["kind"],
                        i["source"],
                        number(i["rows_read"]),
                        number(i["imported"]),
                        number(i["duplicates"]),
                        number(i["quarantined"]),
                        i["finished_at"][:19],
                    ]
                    for i in info["imports"]
                ],
            )
        )
    if info["scoring_runs"]:
        console.print(
            table(
                "Scoring runs",
                [
                    ("run", "right"),
                    ("as of", "left"),
                    ("window", "right"),
                    ("engine", "left"),
                    ("profiles", "right"),
                    ("buyers", "right"),
                    ("valued", "right"),
                    ("mean P(alive)", "right"),
                    ("CLV, summed", "right"),
                ],
                [
                    [
                        str(r["run_id"]),
                        r["as_of"],
                        f"{r['window_days']} d",
                        r["engine"],
                        number(r["n_profiles"]),
                        number(r["n_buyers"]),
                        number(r["valued"]),
                        "" if r["mean_p_alive"] is None else percent(r["mean_p_alive"]),
                        number(r["total_clv"]),
                    ]
                    for r in info["scoring_runs"]
                ],
            )
        )
    else:
        console.print("No scoring runs yet: run `clm score`.")


@app.command()
@handle_errors
def score(
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Score as of this date, YYYY-MM-DD (default: the date of the latest event).",
            show_default=False,
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            help="duckdb or spark (default: the engine.name setting).", show_default=False
        ),
    ] = None,
    workspace: WorkspaceOpt = HERE,
    as_json: JsonOpt = False,
) -> None:
    """Score every profile: RFM, lifecycle segments, activity family, lifetime value.

    Lifetime value is P(alive), expected purchases and spend in the clv.horizon_days,
    CLV and churn risk (see `clm clv`); everything is stored with its calibration.
    """
    if engine not in (None, "duckdb", "spark"):
        raise typer.BadParameter("engine must be duckdb or spark", param_hint="--engine")
    with opened_or_served(workspace) as ws, RichProgress() as progress:
        run = ws.score(as_of, engine=engine, progress=progress)  # type: ignore[arg-type]
        frame = ws.segments()
    if as_json:
        print_json(
            {
                "run_id": run.run_id,
                "as_of": run.as_of.isoformat(),
                "engine": run.engine,
                "profiles": run.n_profiles,
                "buyers": run.n_buyers,
                "seconds": round(run.seconds, 3),
                "segments": frame_records(frame),
            }
        )
        return
    console.print(
        f"Scored {number(run.n_profiles)} profiles ({number(run.n_buyers)} buyers) "
        f"as of {run.as_of} on {run.engine} in {run.seconds:.1f} s (run {run.run_id})."
    )
    _print_lifetime_value(run.calibration.clv)
    _print_segments(frame, run.as_of)


def _print_lifetime_value(fit: dict[str, Any] | None) -> None:
    """One line on the CLV fit of the run, or why there is none."""
    if fit is None:
        return
    model = fit["settings"]["model"]
    skipped = fit.get("skipped", {})
    if model in fit and "scores" not in skipped:
        spend = "" if "gamma_gamma" in fit else " (no spend model: CLV left empty)"
        limit = (
            ", at the homogeneous-dropout limit (`clm clv fit` explains)"
            if fit[model].get("dropout") == "homogeneous"
            else ""
        )
        console.print(
            f"Lifetime value: {model} fitted on {number(fit['n_customers'])} customers with a "
            f"purchase ({number(fit['n_repeat_buyers'])} bought again){limit}{spend}; "
            "see `clm customer ID` or `clm export scores`."
        )
    for reason in skipped.values():
        console.print(f"[yellow]Lifetime value:[/] {reason}")


def _print_segments(frame: Any, as_of: date) -> None:
    rows = [
        [
            str(r.phase or "—"),
            r.segment,
            number(r.customers),
            percent(r.share),
            number(r.revenue, 2),
        ]
        for r in frame.itertuples()
    ]
    console.print(
        table(
            f"Lifecycle segments as of {as_of}",
            [
                ("phase", "left"),
                ("segment", "left"),
                ("customers", "right"),
                ("share", "right"),
                ("revenue", "right"),
            ],
            rows,
        )
    )


@app.command()
@handle_errors
def segments(workspace: WorkspaceOpt = HERE, as_json: JsonOpt = False) -> None:
    """Customers, share and revenue per lifecycle segment and phase (latest run)."""
    with opened_or_served(workspace) as ws:
        frame = ws.segments()
        phases = ws.phases()
        _, as_of = ws.latest_run()
    if as_json:
        print_json(
            {
                "as_of": as_of.isoformat(),
                "segments": frame_records(frame),
                "phases": frame_records(phases),
            }
        )
        return
    _print_segments(frame, as_of)
    console.print(
        table(
            "Phases",
            [
                ("CLM level", "left"),
                ("phase", "left"),
                ("customers", "right"),
                ("share", "right"),
                ("revenue", "right"),
            ],
            [
                [r.level, r.phase, number(r.customers), percent(r.share), number(r.revenue, 2)]
                for r in phases.itertuples()
            ],
        )
    )


@app.command()
@handle_errors
def customer(
    customer_id: Annotated[str, typer.Argument(help="Customer id (or an anonymous id).")],
    workspace: WorkspaceOpt = HERE,
    as_json: JsonOpt = False,
) -> None:
    """The single customer view: traits, scores, segment history, latest purchases."""
    with opened_or_served(workspace) as ws:
        view = ws.customer(customer_id)
    if as_json:
        print_json(view)
        return
    from clm.cli.customer import print_customer

    print_customer(view)


TargetArg = Annotated[Path, typer.Argument(help="Target file: .csv or .parquet.")]

# name -> (help, what a row is, the Workspace method that writes it)
EXPORTS = {
    "scores": ("Write the latest scores, one row per profile.", "profiles", "export_scores"),
    "activity": (
        "Write the activity family: one row per profile and scope (all, each category).",
        "rows",
        "export_activity",
    ),
    "relations": (
        "Write the category relations: every ordered pair with counts, lift, correlation.",
        "category pairs",
        "export_relations",
    ),
}


def _exporter(noun: str, method: str) -> Any:
    @handle_errors
    def export(file: TargetArg, workspace: WorkspaceOpt = HERE) -> None:
        with opened(workspace) as ws:
            n = getattr(ws, method)(file)
        console.print(f"Wrote {number(n)} {noun} to {file}")

    return export


for _name, (_help, _noun, _method) in EXPORTS.items():
    export_app.command(_name, help=_help)(_exporter(_noun, _method))


@app.command()
@handle_errors
def categories(workspace: WorkspaceOpt = HERE, as_json: JsonOpt = False) -> None:
    """Per category: active customers, spend share, activity, rising interest; the lift and
    correlation matrices; the strongest relations in words."""
    from clm.cli.categories import print_categories

    with opened(workspace) as ws:
        report = ws.categories()
    if as_json:
        print_json(
            {
                "as_of": report["as_of"].isoformat(),
                "categories": frame_records(report["categories"]),
                "lift": _matrix(report["lift"]),
                "correlation": _matrix(report["correlation"]),
                "strongest": report["strongest"],
            }
        )
        return
    print_categories(report)


def _matrix(frame: Any) -> dict[str, dict[str, float | None]]:
    return {
        str(a): {str(b): (None if v != v else float(v)) for b, v in row.items()}
        for a, row in frame.to_dict(orient="index").items()
    }


@app.command()
@handle_errors
def demo(
    directory: Annotated[Path, typer.Argument(help="Folder for the demo workspace.")] = Path(
        "demo-world"
    ),
    customers: Annotated[
        int, typer.Option("--customers", min=100, help="Number of profiles.")
    ] = 50_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    automate: Annotated[
        bool,
        typer.Option(
            help="Also run the seed programmes over simulated weeks (messages go into "
            "sent/ in the workspace) and measure them against their control groups."
        ),
    ] = True,
) -> None:
    """Build the demo world: generate, import, score, automate, measure, summarize."""
    from clm.ingest import demo as demo_world
    from clm.ingest.demo import story
    from clm.workspace import Workspace

    ws = (
        Workspace.open(directory)
        if (directory / "clm.toml").exists()
        else Workspace.init(directory, name="demo")
    )
    with ws, RichProgress() as progress:
        history = story.HISTORY_DAYS if automate else ()
        world = demo_world.build(
            ws, n_profiles=customers, seed=seed, progress=progress, history=history
        )
        frame = ws.segments()
        if automate:
            story.use_folder_channels(ws)
            story.run_programmes(ws, world.as_of, say=progress.phase)
            ranking = ws.report_automations()
    _print_segments(frame, world.as_of)
    if automate:
        report_cli.print_automations(ranking)
    console.print(f"Demo workspace: {directory}")
    console.print(
        f"Seed customer (rising beauty interest): [bold]{world.seed_customer_id}[/]; "
        f"try: clm customer {world.seed_customer_id} -w {directory}"
        + (f" and clm why {world.seed_customer_id} -w {directory}" if automate else "")
    )


app.command("serve")(serve.serve)


def main() -> None:
    """Entry point of the `clm` command."""
    app()
