"""`clm users`: create (password from stdin), list, delete, with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from clm import Workspace
from clm.cli import app
from clm.web.users import UserStore

runner = CliRunner()


def test_create_list_delete(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    made = runner.invoke(
        app,
        ["users", "create", "ana", "--password-stdin", "-w", str(root)],
        input="a long password\n",
    )
    assert made.exit_code == 0, made.output
    assert UserStore(root).verify("ana", "a long password")
    listed = runner.invoke(app, ["users", "list", "-w", str(root), "--json"])
    assert [u["name"] for u in json.loads(listed.output)] == ["ana"]
    assert "password" not in listed.output and "scrypt" not in listed.output
    gone = runner.invoke(app, ["users", "delete", "ana", "-w", str(root)])
    assert gone.exit_code == 0 and not UserStore(root).exists("ana")


def test_prompted_password_must_be_confirmed(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    made = runner.invoke(
        app,
        ["users", "create", "ana", "-w", str(root)],
        input="a long password\na long password\n",
    )
    assert made.exit_code == 0, made.output
    assert UserStore(root).verify("ana", "a long password")


def test_errors_name_the_problem(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    short = runner.invoke(
        app, ["users", "create", "ana", "--password-stdin", "-w", str(root)], input="short\n"
    )
    assert short.exit_code == 1 and "at least 8 characters" in short.output
    missing = runner.invoke(app, ["users", "delete", "bob", "-w", str(root)])
    assert missing.exit_code == 1 and "no user 'bob'" in missing.output
    nowhere = runner.invoke(app, ["users", "list", "-w", str(tmp_path / "nope")])
    assert nowhere.exit_code == 1 and "not a clm workspace" in nowhere.output


def test_users_can_be_managed_while_the_database_is_open(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    with Workspace.init(root):  # as a running `clm serve` holds it
        made = runner.invoke(
            app,
            ["users", "create", "ana", "--password-stdin", "-w", str(root)],
            input="a long password\n",
        )
    assert made.exit_code == 0, made.output
