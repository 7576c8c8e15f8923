"""`clm import transactions|customers|events`: map source columns to clm's fields."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from clm.cli.common import WorkspaceOpt, handle_errors, opened
from clm.cli.render import RichProgress, console, number, print_json, table

if TYPE_CHECKING:
    from clm.ingest.summary import ImportSummary

app = typer.Typer(
    help="Import transactions, customers or events from CSV (or .csv.gz) or Parquet.",
    no_args_is_help=True,
)

FileArg = Annotated[Path, typer.Argument(help="CSV, gzip CSV or Parquet file.", show_default=False)]
Col = Annotated[str | None, typer.Option(help="Source column.", show_default=False)]
TimeFmt = Annotated[
    str | None,
    typer.Option(
        help="strptime format of the time column, e.g. %Y%m%d or '%m/%d/%Y %H:%M'.",
        show_default=False,
    ),
]
Where = Annotated[
    str | None,
    typer.Option(
        help='Row filter over source columns, e.g. "CustomerID IS NOT NULL".', show_default=False
    ),
]
Delim = Annotated[
    str | None,
    typer.Option(
        help="Field delimiter (default: detected); 'whitespace' for aligned text files.",
        show_default=False,
    ),
]
Header = Annotated[bool, typer.Option("--header/--no-header", help="First line holds names.")]
Columns = Annotated[
    str | None,
    typer.Option(help="Comma-separated column names (with --no-header).", show_default=False),
]
Zone = Annotated[
    str | None,
    typer.Option(
        help="Time zone of times without an offset (default: import.timezone, UTC).",
        show_default=False,
    ),
]
Quarantine = Annotated[
    Path | None,
    typer.Option(
        help="Write bad rows (with line and reason) here and import the rest; "
        "without it, one bad row imports nothing.",
        show_default=False,
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]
Encoding = Annotated[
    str | None,
    typer.Option(
        help="Text encoding, e.g. latin-1 (default: UTF-8, falling back to Latin-1).",
        show_default=False,
    ),
]


CustomerCol = Annotated[str | None, typer.Option(help="Customer id column.", show_default=False)]
TimeCol = Annotated[str | None, typer.Option(help="Time column.", show_default=False)]


def _source(
    where: str | None,
    delimiter: str | None,
    header: bool,
    columns: str | None,
    timezone: str | None,
    quarantine: Path | None,
    encoding: str | None,
) -> dict[str, Any]:
    """The source options every import command shares, as Workspace keyword arguments."""
    return {
        "where": where,
        "delimiter": delimiter,
        "header": header,
        "columns": _columns(columns),
        "timezone": timezone,
        "quarantine": quarantine,
        "encoding": encoding,
    }


def _columns(text: str | None) -> list[str] | None:
    return [c.strip() for c in text.split(",")] if text else None


def _report(summary: ImportSummary, as_json: bool) -> None:
    if as_json:
        print_json(summary.as_dict())
        return
    rows = [
        ["rows read", number(summary.rows_read)],
        ["filtered out (--where)", number(summary.filtered)],
        ["imported", number(summary.imported)],
        ["duplicates ignored", number(summary.duplicates)],
        ["quarantined", number(summary.quarantined)],
    ]
    if summary.linked:
        rows.append(["anonymous ids linked", number(summary.linked)])
    console.print(
        table(
            f"Import {summary.import_id}: {summary.kind} from {summary.source}",
            [("", "left"), ("rows", "right")],
            rows,
        )
    )


@app.command("transactions")
@handle_errors
def transactions(
    file: FileArg,
    customer: CustomerCol = None,
    time: TimeCol = None,
    time_format: TimeFmt = None,
    amount: Annotated[
        str | None,
        typer.Option(
            help='Amount column or expression, e.g. "Quantity*UnitPrice".', show_default=False
        ),
    ] = None,
    category: Col = None,
    order: Annotated[
        str | None, typer.Option(help="Order (invoice, basket) id column.", show_default=False)
    ] = None,
    event_id: Annotated[
        str | None,
        typer.Option(
            help="Unique line id column (default: derived from the row's content).",
            show_default=False,
        ),
    ] = None,
    where: Where = None,
    delimiter: Delim = None,
    header: Header = True,
    columns: Columns = None,
    timezone: Zone = None,
    quarantine: Quarantine = None,
    encoding: Encoding = None,
    as_json: JsonOut = False,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Import purchase lines (refunds as negative amounts); all or nothing."""
    with opened(workspace) as ws, RichProgress() as progress:
        summary = ws.import_transactions(
            file,
            customer=customer,
            time=time,
            time_format=time_format,
            amount=amount,
            category=category,
            order=order,
            event_id=event_id,
            **_source(where, delimiter, header, columns, timezone, quarantine, encoding),
            progress=progress,
        )
    _report(summary, as_json)


@app.command("events")
@handle_errors
def events(
    file: FileArg,
    type: Annotated[
        str | None,
        typer.Option(
            "--type", help="One event type for every row, e.g. visit.", show_default=False
        ),
    ] = None,
    type_column: Annotated[
        str | None, typer.Option(help="Column holding the event type.", show_default=False)
    ] = None,
    customer: CustomerCol = None,
    anonymous: Annotated[
        str | None, typer.Option(help="Anonymous (visitor) id column.", show_default=False)
    ] = None,
    time: TimeCol = None,
    time_format: TimeFmt = None,
    amount: Annotated[
        str | None, typer.Option(help="Amount column or expression.", show_default=False)
    ] = None,
    category: Col = None,
    order: Col = None,
    event_id: Annotated[
        str | None,
        typer.Option(
            help="Unique event id column (default: derived from the row's content).",
            show_default=False,
        ),
    ] = None,
    properties: Annotated[
        str | None,
        typer.Option(help="Comma-separated columns kept as event properties.", show_default=False),
    ] = None,
    where: Where = None,
    delimiter: Delim = None,
    header: Header = True,
    columns: Columns = None,
    timezone: Zone = None,
    quarantine: Quarantine = None,
    encoding: Encoding = None,
    as_json: JsonOut = False,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Import web/app events (visits, product views, signups, any type); all or nothing."""
    with opened(workspace) as ws, RichProgress() as progress:
        summary = ws.import_events(
            file,
            type=type,
            type_column=type_column,
            customer=customer,
            anonymous=anonymous,
            time=time,
            time_format=time_format,
            amount=amount,
            category=category,
            order=order,
            event_id=event_id,
            properties=_columns(properties) or (),
            **_source(where, delimiter, header, columns, timezone, quarantine, encoding),
            progress=progress,
        )
    _report(summary, as_json)


@app.command("customers")
@handle_errors
def customers(
    file: FileArg,
    customer: CustomerCol = None,
    email: Col = None,
    phone: Col = None,
    signup: Annotated[
        str | None, typer.Option(help="Signup time column.", show_default=False)
    ] = None,
    time_format: TimeFmt = None,
    timezone_column: Annotated[
        str | None,
        typer.Option(help="Column with the customer's IANA time zone.", show_default=False),
    ] = None,
    anonymous: Annotated[
        str | None,
        typer.Option(
            help="Anonymous id column: links that visitor's history to the customer.",
            show_default=False,
        ),
    ] = None,
    consent_email: Annotated[
        str | None, typer.Option(help="Email consent column (yes/no).", show_default=False)
    ] = None,
    consent_sms: Annotated[
        str | None, typer.Option(help="SMS consent column (yes/no).", show_default=False)
    ] = None,
    consent_push: Annotated[
        str | None, typer.Option(help="Push consent column (yes/no).", show_default=False)
    ] = None,
    consent_time: Annotated[
        str | None, typer.Option(help="Time the consent was given.", show_default=False)
    ] = None,
    attributes: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated attribute columns (default: every other column).",
            show_default=False,
        ),
    ] = None,
    where: Where = None,
    delimiter: Delim = None,
    header: Header = True,
    columns: Columns = None,
    timezone: Zone = None,
    quarantine: Quarantine = None,
    encoding: Encoding = None,
    as_json: JsonOut = False,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Import customers: traits, consent per channel, attributes; all or nothing."""
    consent = {
        ch: col
        for ch, col in (("email", consent_email), ("sms", consent_sms), ("push", consent_push))
        if col
    }
    with opened(workspace) as ws, RichProgress() as progress:
        summary = ws.import_customers(
            file,
            customer=customer,
            email=email,
            phone=phone,
            signup=signup,
            time_format=time_format,
            timezone_column=timezone_column,
            anonymous=anonymous,
            consent=consent,
            consent_time=consent_time,
            attributes=_columns(attributes),
            **_source(where, delimiter, header, columns, timezone, quarantine, encoding),
            progress=progress,
        )
    _report(summary, as_json)
