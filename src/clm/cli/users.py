"""`clm users`: the dashboard's users (stored hashed in <workspace>/.clm/users.json).

These commands edit the users file without opening the workspace database, so they
work while `clm serve` holds it; a running server sees the change at once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from clm import config
from clm.cli.common import JsonOpt, WorkspaceOpt, handle_errors
from clm.cli.render import console, print_json, table
from clm.errors import UserError, WorkspaceNotFound

if TYPE_CHECKING:
    from clm.web.users import UserStore

app = typer.Typer(
    help="Dashboard users: create, list and delete the accounts that sign in to `clm serve`.",
    no_args_is_help=True,
)
HERE = Path(".")
NameArg = Annotated[str, typer.Argument(help="User name (letters, digits, . _ @ -).")]


def _store(workspace: Path) -> UserStore:
    if not (workspace / config.CONFIG_FILE).exists():
        raise WorkspaceNotFound(
            f"{workspace} is not a clm workspace (no {config.CONFIG_FILE}); "
            f"create one with `clm init {workspace}`"
        )
    from clm.web.users import UserStore  # clm.web loads FastAPI: only when needed

    return UserStore(workspace)


@app.command("create")
@handle_errors
def create(
    name: NameArg,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from the first line of standard input."
        ),
    ] = False,
    workspace: WorkspaceOpt = HERE,
) -> None:
    """Create a user; asks for the password twice unless --password-stdin is given."""
    store = _store(workspace)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    store.create(name, password)
    console.print(f"Created user [bold]{name}[/]; sign in at the dashboard of `clm serve`.")


@app.command("list")
@handle_errors
def list_users(workspace: WorkspaceOpt = HERE, as_json: JsonOpt = False) -> None:
    """List the users (names and creation times; never passwords)."""
    users = _store(workspace).list()
    if as_json:
        print_json(users)
        return
    if not users:
        console.print("No users yet: create one with `clm users create NAME`.")
        return
    rows = [[u["name"], u["created_at"]] for u in users]
    console.print(table("Dashboard users", [("name", "left"), ("created", "left")], rows))


@app.command("delete")
@handle_errors
def delete(name: NameArg, workspace: WorkspaceOpt = HERE) -> None:
    """Delete a user; their open sessions end at their next page view."""
    store = _store(workspace)
    if not store.exists(name):
        raise UserError(f"no user {name!r} in this workspace (see `clm users list`)")
    store.delete(name)
    console.print(f"Deleted user [bold]{name}[/].")
