"""`clm automations`, `clm run` and `clm why`: automations as files, runs, explanations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from clm.cli.common import JsonOpt, WorkspaceOpt, handle_errors, opened
from clm.cli.render import console, number, print_json, table

HERE = Path(".")
app = typer.Typer(
    help="Automations: YAML files in definitions/automations, checked against a published "
    "JSON Schema; list, validate, pause and resume them.",
    no_args_is_help=True,
)


@app.command("validate")
@handle_errors
def validate(workspace: WorkspaceOpt = HERE, as_json: JsonOpt = False) -> None:
    """Check every automation file; each problem is printed with its file and line."""
    with opened(workspace) as ws:
        valid = ws.automations_validate()
    if as_json:
        print_json({"valid": valid})
        return
    for a in valid:
        console.print(f"[green]ok[/] {a['path']}: {a['name']} ({a['trigger']}, {a['steps']} steps)")
    if not valid:
        console.print("No automation files in definitions/automations.")


@app.command("list")
@handle_errors
def list_(workspace: WorkspaceOpt = HERE, as_json: JsonOpt = False) -> None:
    """Every automation with its status, stored version and counts (enrolled, sent,
    converted); files with problems are listed below."""
    with opened(workspace) as ws:
        info = ws.automations()
    if as_json:
        print_json(info)
        return
    rows = [
        [
            a["name"],
            a["status"],
            "—" if a["version"] is None else str(a["version"]) + (" (+)" if a["changed"] else ""),
            a["trigger"],
            str(a["priority"]),
            number(a["enrolled"]),
            number(a["control"]),
            number(a["sent"]),
            number(a["converted"]),
        ]
        for a in info["automations"]
    ]
    console.print(
        table(
            "Automations",
            [
                ("name", "left"),
                ("status", "left"),
                ("version", "right"),
                ("trigger", "left"),
                ("priority", "right"),
                ("enrolled", "right"),
                ("control", "right"),
                ("sent", "right"),
                ("converted", "right"),
            ],
            rows,
        )
    )
    if any(a["changed"] for a in info["automations"]):
        console.print("(+): the file changed; the next run stores a new version.")
    for problem in info["problems"]:
        console.print(f"[red]problem:[/] {problem}", highlight=False)


@app.command("pause")
@handle_errors
def pause(name: str, workspace: WorkspaceOpt = HERE) -> None:
    """Pause an automation: no new enrolments and no steps until it is resumed."""
    with opened(workspace) as ws:
        ws.automation_pause(name)
    console.print(f"Paused {name}.")


@app.command("resume")
@handle_errors
def resume(name: str, workspace: WorkspaceOpt = HERE) -> None:
    """Resume a paused automation; steps that fell due meanwhile run at the next run."""
    with opened(workspace) as ws:
        ws.automation_resume(name)
    console.print(f"Resumed {name}.")


@app.command("schema")
@handle_errors
def schema(workspace: WorkspaceOpt = HERE) -> None:
    """Print the JSON Schema that automation files follow."""
    with opened(workspace) as ws:
        print_json(ws.automations_schema())


def run(
    until: Annotated[
        str | None,
        typer.Option(
            help="Process everything due up to this UTC date or time (ISO 8601; default: "
            "now). A later time simulates ahead.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Backtest from --since on a blank state; write nothing."),
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            help="Start of a --dry-run backtest, or of the very first run (default: one "
            "day before --until).",
            show_default=False,
        ),
    ] = None,
    workspace: WorkspaceOpt = HERE,
    as_json: JsonOpt = False,
) -> None:
    """Run the automations: enrol on triggers, take due steps, apply the guards, enqueue and
    deliver messages, record conversions. Running again sends nothing twice."""
    with opened(workspace) as ws:
        stats = ws.run(until, since=since, dry_run=dry_run)
    report = stats.to_json()
    if as_json:
        print_json(report)
        return
    print_run(report)


def print_run(report: dict[str, Any]) -> None:
    verb = "Would have" if report["dry_run"] else "Processed"
    console.print(f"{verb} {report['start'][:16]} to {report['end'][:16]} UTC.")
    for item in report["new_versions"]:
        console.print(f"Stored {item['automation']} version {item['version']}.")
    for problem in report["problems"]:
        console.print(f"[red]problem (the stored version keeps running):[/] {problem}")
    rows = []
    for name, counts in report["automations"].items():
        enrolled = sum(v for k, v in counts.items() if k.startswith("enrolled:"))
        skipped = ", ".join(
            f"{k.split(':', 1)[1]} {v}" for k, v in counts.items() if k.startswith("skipped:")
        )
        rows.append(
            [
                name,
                number(enrolled),
                number(
                    counts.get("enrolled:control", 0) + counts.get("enrolled:global_control", 0)
                ),
                number(counts.get("sent", 0)),
                number(counts.get("moved", 0)),
                skipped or "—",
                number(counts.get("converted", 0)),
            ]
        )
    console.print(
        table(
            "Automations",
            [
                ("name", "left"),
                ("enrolled", "right"),
                ("of them control", "right"),
                ("messages", "right"),
                ("quiet hours moved", "right"),
                ("skipped", "left"),
                ("converted", "right"),
            ],
            rows,
        )
    )
    console.print(f"Messages: {number(report['messages'])}, cost {report['cost']:.2f}.")
    if report["dry_run"] and report["would_send"]:
        shown = report["would_send"][:20]
        console.print(
            table(
                "Would send (first 20; --json lists all)",
                [
                    ("at (UTC)", "left"),
                    ("automation", "left"),
                    ("customer", "left"),
                    ("channel", "left"),
                    ("why", "left"),
                ],
                [
                    [
                        m["not_before"][:16],
                        m["automation"],
                        m["customer_id"],
                        m["channel"],
                        m["why"],
                    ]
                    for m in shown
                ],
            )
        )
    if report["delivered"]:
        console.print("Delivered: " + ", ".join(f"{k} {v}" for k, v in report["delivered"].items()))


def why(
    customer_id: Annotated[str, typer.Argument(help="Customer id.")],
    automation: Annotated[
        str | None, typer.Option(help="Only this automation.", show_default=False)
    ] = None,
    workspace: WorkspaceOpt = HERE,
    as_json: JsonOpt = False,
) -> None:
    """Every automation decision about a customer, in order and in plain words: enrolled,
    arm, skipped and why, quiet hours, sent, opened, converted."""
    with opened(workspace) as ws:
        rows = ws.why(customer_id, automation)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(f"No automation decisions about {customer_id}.")
    for row in rows:
        console.print(
            f"{str(row['ts'])[:16].replace('T', ' ')}  {row['text']}",
            highlight=False,
            soft_wrap=True,
        )


def register(main: typer.Typer) -> None:
    """Add `clm automations`, `clm run` and `clm why` to the main app."""
    main.add_typer(app, name="automations")
    main.command("run")(handle_errors(run))
    main.command("why")(handle_errors(why))
