"""`clm outbox`: the messages automations decided, with their status."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clm.cli.common import JsonOpt, WorkspaceOpt, handle_errors, opened
from clm.cli.render import console, print_json, table

STATUS_HELP = "Only this status: queued, sending, sent, retrying, failed or unknown."


@handle_errors
def outbox(
    status: Annotated[
        str | None, typer.Option("--status", help=STATUS_HELP, show_default=False)
    ] = None,
    automation: Annotated[
        str | None, typer.Option(help="Only this automation.", show_default=False)
    ] = None,
    customer: Annotated[
        str | None, typer.Option(help="Only this customer id.", show_default=False)
    ] = None,
    channel: Annotated[
        str | None,
        typer.Option(
            help="Only this channel: email, sms, push, banner, webhook.", show_default=False
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 100,
    requeue: Annotated[
        list[str] | None,
        typer.Option(
            "--requeue",
            metavar="MESSAGE_ID",
            help="First queue this unknown or failed message again (repeatable); it goes "
            "out with the next delivery, an email with the same Message-ID.",
            show_default=False,
        ),
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """List outbox messages, newest first: channel, status, tries, times, last error.

    Status 'unknown': an email interrupted after the SMTP server got it (it may have
    arrived); clm never re-sends it by itself.
    """
    from clm.automation.outbox import STATUSES

    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"one of {', '.join(STATUSES)}", param_hint="--status")
    with opened(workspace) as ws:
        if requeue:
            n = ws.outbox_requeue(requeue)
            console.print(f"Requeued {n} of {len(requeue)} message(s).")
        rows = ws.outbox(
            status=status,
            automation=automation,
            customer_id=customer,
            channel=channel,
            limit=limit,
        )
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No messages.")
        return
    console.print(
        table(
            f"Outbox ({len(rows)} newest)",
            [
                ("message", "left"),
                ("automation", "left"),
                ("customer", "left"),
                ("channel", "left"),
                ("status", "left"),
                ("tries", "right"),
                ("due or sent", "left"),
                ("last error", "left"),
            ],
            [
                [
                    r["message_id"][:12],
                    r["automation"],
                    r["customer_id"],
                    r["channel"],
                    r["status"],
                    str(r["attempts"]),
                    (r["sent_at"] or r["not_before"] or "")[:16].replace("T", " "),
                    r["last_error"] or "",
                ]
                for r in rows
            ],
        )
    )
