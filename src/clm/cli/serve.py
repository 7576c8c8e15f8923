"""``clm serve`` and ``clm keys``: the server and the keys that open it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clm.api.keys import ROLES, KeyStore
from clm.cli.common import JsonOpt, WorkspaceOpt, handle_errors
from clm.cli.render import console, print_json, table
from clm.config import CONFIG_FILE
from clm.errors import WorkspaceNotFound

HERE = Path(".")
keys_app = typer.Typer(
    help="API keys of the server: create (shown once, stored as a hash), list, revoke.",
    no_args_is_help=True,
)


@handle_errors
def serve(
    workspace: WorkspaceOpt = HERE,
    host: Annotated[
        str | None,
        typer.Option(
            help="Address to listen on (default: server.host, 127.0.0.1).", show_default=False
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="Port (default: server.port, 8000).", show_default=False),
    ] = None,
    access_log: Annotated[
        bool,
        typer.Option(help="Log every request: method, route template, status, time (no ids)."),
    ] = False,
) -> None:
    """Serve the workspace: event API, live profiles, automations, dashboard (docs: /docs).

    The event API follows Segment's tracking spec, so existing SDKs can send to it. An
    accepted event is journaled before the answer and moves its profile at once; the
    automations run what is due every automation.serve_tick_seconds and react to live
    events; the dashboard is at / (users from `clm users`, or an admin key). Ctrl-C stops.

    While it runs, `clm score`, `clm status`, `clm segments` and `clm customer` on the
    same workspace work through it; other commands say that it is served.
    """
    from clm.api.server import serve as run

    run(
        workspace,
        host,
        port,
        say=lambda m: console.print(m, highlight=False),
        access_log=access_log,
    )


def _store(workspace: Path) -> KeyStore:
    if not (workspace / CONFIG_FILE).exists():
        raise WorkspaceNotFound(f"{workspace} is not a clm workspace (no {CONFIG_FILE})")
    return KeyStore(workspace)


@keys_app.command("create")
@handle_errors
def keys_create(
    role: Annotated[
        str,
        typer.Option(
            help=f"What the key may do: {', '.join(ROLES)} (ingest only sends "
            "events: the key a web page carries)."
        ),
    ],
    name: Annotated[str | None, typer.Option(help="A name to recognize it by.")] = None,
    workspace: WorkspaceOpt = HERE,
    as_json: JsonOpt = False,
) -> None:
    """Create a key and print it once; only its hash is stored."""
    stored, key = _store(workspace).create(role, name)
    if as_json:
        print_json({"key": key, "key_id": stored.key_id, "name": stored.name, "role": stored.role})
        return
    console.print(f"Created {stored.role} key [bold]{stored.name}[/] (id {stored.key_id}):")
    console.print(key, highlight=False, soft_wrap=True)
    console.print("Keep it now: clm stores only its hash and cannot show it again.")


@keys_app.command("list")
@handle_errors
def keys_list(workspace: WorkspaceOpt = HERE, as_json: JsonOpt = False) -> None:
    """The keys: id, name, role, created, revoked (never the keys themselves)."""
    keys = _store(workspace).keys()
    rows = [
        {
            "key_id": k.key_id,
            "name": k.name,
            "role": k.role,
            "created_at": k.created_at,
            "revoked_at": k.revoked_at,
        }
        for k in keys
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No API keys yet: `clm keys create --role ingest`.")
        return
    console.print(
        table(
            "API keys",
            [
                ("id", "left"),
                ("name", "left"),
                ("role", "left"),
                ("created", "left"),
                ("revoked", "left"),
            ],
            [[k.key_id, k.name, k.role, k.created_at, k.revoked_at or ""] for k in keys],
        )
    )


@keys_app.command("revoke")
@handle_errors
def keys_revoke(
    key: Annotated[str, typer.Argument(help="The key's id or name.")],
    workspace: WorkspaceOpt = HERE,
) -> None:
    """Revoke a key: a running server refuses it from its next request on."""
    revoked = _store(workspace).revoke(key)
    console.print(f"Revoked key {revoked.key_id} ({revoked.name}).")
