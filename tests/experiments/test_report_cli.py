"""`clm report` tables, `--plot` on `clm experiment analyze`, and the facade."""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clm import Workspace
from clm.cli.app import app
from clm.cli.report import print_automation, print_automations
from clm.errors import NotFound
from clm.experiments import report as rp
from tests.experiments.test_report import UNITS_DDL, WELCOME, WINBACK, make_units

runner = CliRunner()


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    connection.execute(UNITS_DDL)
    connection.register("frame", make_units())
    connection.execute("INSERT INTO units SELECT * FROM frame")
    yield connection
    connection.close()


def test_automation_tables(
    con: duckdb.DuckDBPyConnection, capsys: pytest.CaptureFixture[str]
) -> None:
    report = rp.automation_report(con, "SELECT * FROM units", [], "winback", WINBACK)
    print_automation(report)
    out = capsys.readouterr().out
    for text in (
        "Automation winback",
        "holdout 20.0%",
        "treatment A",
        "global_control",
        "Effects per enrolled",
        "Campaign worth",
        "variant B",
        "Sample ratio: χ² p",
        "Cumulative by enrolment day",
        "2026-03-10",
    ):
        assert text in out, text
    w = report["worth"]["profit"]
    assert f"{w['estimate']:,.2f}" in out
    assert report["caution"] is None and "Caution" not in out  # arms large enough here


def test_small_arms_print_a_caution(
    con: duckdb.DuckDBPyConnection, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same units with the control arm cut to a few: the report says so."""
    con.execute(
        "DELETE FROM units WHERE automation = 'winback' AND arm = 'control' AND "
        "enrolment_id NOT IN (SELECT enrolment_id FROM units WHERE automation = 'winback' "
        "AND arm = 'control' ORDER BY enrolment_id LIMIT 5)"
    )
    report = rp.automation_report(con, "SELECT * FROM units", [], "winback", WINBACK)
    assert report["caution"].startswith("control has 5 units (fewer than 30)")
    print_automation(report)
    assert "Caution: control has 5 units" in " ".join(capsys.readouterr().out.split())
    ranking = rp.automations_report(
        con, "SELECT * FROM units", [], {"winback": WINBACK, "welcome": WELCOME}
    )
    flagged = {r["automation"]: r["caution"] for r in ranking["automations"]}
    assert flagged["winback"] == report["caution"] and flagged["welcome"] is None
    print_automations(ranking)
    out = " ".join(capsys.readouterr().out.split())
    assert "winback *" in out and "welcome *" not in out and "* an arm too small" in out


def test_ranking_tables(con: duckdb.DuckDBPyConnection, capsys: pytest.CaptureFixture[str]) -> None:
    report = rp.automations_report(
        con, "SELECT * FROM units", [], {"winback": WINBACK, "welcome": WELCOME}
    )
    print_automations(report)
    out = capsys.readouterr().out
    assert "Automations by incremental profit" in out
    first = report["automations"][0]["automation"]
    assert out.index(first) < out.index({"winback", "welcome"}.difference({first}).pop())
    assert "global control group" in out
    json.dumps(report)  # JSON-ready as it is


def test_report_commands_are_registered() -> None:
    result = runner.invoke(app, ["report", "--help"])
    assert result.exit_code == 0
    assert "automation " in result.output and "automations" in result.output


def test_analyze_writes_a_plot(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    arm = rng.choice(["control", "email"], 500)
    path = tmp_path / "units.csv"
    pd.DataFrame({"group": arm, "converted": (rng.random(500) < 0.2).astype(int)}).to_csv(
        path, index=False
    )
    plot = tmp_path / "effects.html"
    args = ["experiment", "analyze", str(path), "--arm", "group", "--control", "control"]
    result = runner.invoke(app, [*args, "--metric", "converted", "--json", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    json.loads(result.output)  # the chart does not disturb the JSON
    html = plot.read_text(encoding="utf-8")
    assert '"name":"converted"' in html and "cdn.plot.ly/plotly" not in html
    bad = runner.invoke(app, [*args, "--metric", "converted", "--plot", str(tmp_path / "x.svg")])
    assert bad.exit_code == 1 and ".html or .png" in bad.output
    for command in (["experiment", "analyze"], ["report", "automation"]):
        output = runner.invoke(app, [*command, "--help"]).output.replace("│", " ")
        help_text = " ".join(output.split())
        assert ".html (self-contained) or .png" in help_text, command


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no Chromium to render PNG charts")
def test_analyze_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("kaleido", reason="the png extra is not installed")
    rng = np.random.default_rng(2)
    arm = rng.choice(["control", "email"], 400)
    path = tmp_path / "units.csv"
    pd.DataFrame({"group": arm, "converted": (rng.random(400) < 0.2).astype(int)}).to_csv(
        path, index=False
    )
    plot = tmp_path / "effects.png"
    args = ["experiment", "analyze", str(path), "--arm", "group", "--control", "control"]
    result = runner.invoke(app, [*args, "--metric", "converted", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert f"Wrote the chart of effects to {plot}" in " ".join(result.output.split())
    width, height = struct.unpack(">II", plot.read_bytes()[16:24])  # the IHDR chunk
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (width, height) == (1200, 600)


def test_facade_over_the_measurement_units(ws: Workspace) -> None:
    """Runs once the automation branch's clm.automation.measure is merged."""
    pytest.importorskip("clm.automation.measure", reason="clm.automation.measure not merged")
    with pytest.raises(NotFound, match="no enrolments"):
        ws.report_automation("nobody")
    report: dict[str, Any] = ws.report_automations()
    assert report["automations"] == []
    assert report["programme"]["worth"]["profit"]["reason"] == "no treated units"
