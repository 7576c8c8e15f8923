"""`clm automations`, `clm run` and `clm why` as a user types them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from clm import Workspace
from clm.cli import app
from tests.automation.world import automation, events, people, quiet_settings

runner = CliRunner()
WELCOME = """\
name: welcome
trigger: {event: {type: signup}}
goal: {event: purchase, window: 14d}
steps:
  - {id: hello, type: send, channel: email, template: {subject: Hi, text: Hello}}
"""


def clm(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def shop(tmp_path: Path) -> Path:
    with Workspace.init(tmp_path / "ws") as ws:
        people(ws)
        quiet_settings(ws)
        ws.config_set("automation.quiet_hours", "21:00-08:00")
        automation(ws, "welcome", WELCOME)
        events(ws, [("a", "signup", "2024-03-01T22:00:00"), ("c", "signup", "2024-03-01T10:00")])
        return ws.root


def test_validate_list_run_why(tmp_path: Path) -> None:
    w = ["-w", str(shop(tmp_path))]
    code, out = clm("automations", "validate", *w)
    assert code == 0 and "ok definitions/automations/welcome.yaml: welcome" in out
    code, out = clm("run", "--until", "2024-03-05", "--since", "2024-03-01", "--json", *w)
    assert code == 0, out
    report = json.loads(out)
    assert report["automations"]["welcome"]["enrolled:treatment"] == 1
    assert report["automations"]["welcome"]["skipped:consent"] == 1
    assert report["delivered"]["sent"] == 1
    code, out = clm("automations", "list", "--json", *w)
    [row] = json.loads(out)["automations"]
    assert (row["status"], row["version"], row["enrolled"], row["sent"]) == ("active", 1, 1, 1)
    code, out = clm("why", "a", *w)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("2024-03-01 22:00  Enrolled in welcome (v1) (signup event ")
    assert "quiet hours in Europe/Berlin" in out and "Queued the email message" in out
    assert "was sent" in out
    code, out = clm("why", "c", "--json", *w)
    [skip] = json.loads(out)
    assert skip["kind"] == "skipped" and "no consent" in skip["text"]


def test_bad_file_is_named_with_its_line_and_exit_code(tmp_path: Path) -> None:
    root = shop(tmp_path)
    bad = WELCOME.replace("channel: email", "channel: pigeon")
    (root / "definitions" / "automations" / "welcome.yaml").write_text(bad, encoding="utf-8")
    code, out = clm("automations", "validate", "-w", str(root))
    assert code == 1
    assert "definitions/automations/welcome.yaml:5: steps[0].channel: 'pigeon'" in out


def test_pause_resume_schema_and_dry_run(tmp_path: Path) -> None:
    w = ["-w", str(shop(tmp_path))]
    assert clm("automations", "pause", "welcome", *w)[0] == 0
    code, out = clm("automations", "list", "--json", *w)
    assert json.loads(out)["automations"][0]["status"] == "paused"
    assert clm("automations", "resume", "welcome", *w)[0] == 0
    code, out = clm("automations", "pause", "nobody", *w)
    assert code == 1 and "no automation named 'nobody'" in out
    code, out = clm("automations", "schema", *w)
    assert json.loads(out)["title"] == "clm automation"
    code, out = clm("run", "--dry-run", "--since", "2024-02-01", "--until", "2024-03-05", *w)
    assert code == 0 and "Would have" in out and "signup event" in out
    code, out = clm("run", "--dry-run", "--until", "2024-03-05", *w)
    assert code == 1 and "needs --since" in out
