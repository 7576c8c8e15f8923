"""Options and helpers shared by every command."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.markup import escape

from clm.cli.render import errors
from clm.config import ENV_VAR
from clm.errors import ClmError

if TYPE_CHECKING:
    from clm.workspace import Workspace

WorkspaceOpt = Annotated[
    Path,
    typer.Option(
        "--workspace",
        "-w",
        envvar=ENV_VAR,
        help=f"Workspace folder (default: ${ENV_VAR}, else the current folder).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(func: F) -> F:
    """Turn clm's errors into a red message on stderr and exit code 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ClmError as exc:
            errors.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def opened(path: Path) -> Iterator[Workspace]:
    """The workspace at ``path``, closed afterwards."""
    from clm.workspace import Workspace  # on first use: `clm --help` stays fast

    workspace = Workspace.open(path)
    try:
        yield workspace
    finally:
        workspace.close()
