"""Printing the category report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

from clm.cli.render import console, number, percent, table

if TYPE_CHECKING:
    import pandas as pd

MATRIX_LIMIT = 12


def print_categories(report: dict[str, Any]) -> None:
    """The per-category table, the strongest relations, and the lift matrix."""
    frame: pd.DataFrame = report["categories"]
    rows = [
        [
            r.category,
            number(r.active_customers),
            percent(r.spend_share),
            number(r.median_activity, 1),
            number(r.rising_customers),
        ]
        for r in frame.itertuples()
    ]
    console.print(
        table(
            f"Categories as of {report['as_of']}",
            [
                ("category", "left"),
                ("active customers", "right"),
                ("spend share", "right"),
                ("median activity", "right"),
                ("rising interest", "right"),
            ],
            rows,
        )
    )
    if report["strongest"]:
        console.print("[bold]Strongest relations[/]")
        for rel in report["strongest"]:
            console.print(
                f"  • {rel['text'].capitalize()} ({number(rel['shared_customers'])} "
                "customers active in both)"
            )
    console.print(_lift_matrix(report["lift"], list(frame["category"][:MATRIX_LIMIT])))
    if len(frame) > MATRIX_LIMIT:
        console.print(
            f"(lift matrix of the {MATRIX_LIMIT} largest categories; "
            "`clm export relations FILE` or --json has all)"
        )


def _lift_matrix(lift: pd.DataFrame, names: list[str]) -> Table:
    out = Table(title="Lift (1 = independent)", title_justify="left", header_style="bold")
    out.add_column("")
    for name in names:
        out.add_column(name[:10], justify="right")
    for a in names:
        cells = []
        for b in names:
            value = lift.loc[a, b] if a in lift.index and b in lift.columns else None
            text = "" if value is None or value != value else f"{value:.2f}"
            if a != b and value is not None and value == value and value >= 1.5:
                text = f"[bold]{text}[/]"
            cells.append(text if a != b else "—")
        out.add_row(a[:14], *cells)
    return out
