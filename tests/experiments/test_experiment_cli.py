"""`clm experiment analyze` end to end on a generated CSV."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clm.cli.app import app

runner = CliRunner()


@pytest.fixture
def units(tmp_path: Path) -> Path:
    rng = np.random.default_rng(42)
    n = 3000
    arm = rng.choice(["control", "email", "sms"], n)
    pre = rng.gamma(2.0, 20.0, n)
    lift = np.where(arm == "email", 0.04, np.where(arm == "sms", 0.02, 0.0))
    frame = pd.DataFrame(
        {
            "unit": np.arange(n),
            "group": arm,
            "converted": (rng.random(n) < 0.10 + lift).astype(int),
            "revenue": pre * 0.5 + rng.exponential(10.0, n) * (arm != "control"),
            "pre_revenue": pre,
        }
    )
    path = tmp_path / "units.csv"
    frame.to_csv(path, index=False)
    return path


def test_json_has_the_issue_shape(units: Path) -> None:
    args = ["experiment", "analyze", str(units), "--arm", "group", "--control", "control"]
    args += ["--metric", "converted", "--metric", "revenue", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [a["arm"] for a in report["arms"]] == ["control", "email", "sms"]
    assert sum(a["n"] for a in report["arms"]) == 3000
    for a in report["arms"]:
        assert set(a["metrics"]) == {"converted", "revenue"}
        assert set(a["metrics"]["converted"]) == {"mean", "sum"}
    assert len(report["effects"]) == 4
    for e in report["effects"]:
        assert set(e) == {"arm", "metric", "absolute", "relative", "chance_to_win"}
        assert set(e["absolute"]) == {"estimate", "ci", "p_value"}
        assert set(e["relative"]) == {"estimate", "ci"}
        lo, hi = e["absolute"]["ci"]
        assert lo < e["absolute"]["estimate"] < hi
        assert 0.0 <= e["chance_to_win"] <= 1.0
    assert set(report["srm"]) >= {"p_value", "flag"}
    assert "cuped" not in report and "sequential" not in report


def test_cuped_and_sequential_on_request(units: Path) -> None:
    args = ["experiment", "analyze", str(units), "--arm", "group", "--control", "control"]
    args += ["--metric", "revenue", "--covariate", "pre_revenue", "--sequential", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["cuped"]["theta"]["revenue"] == pytest.approx(0.5, abs=0.05)
    assert len(report["cuped"]["effects"]) == len(report["sequential"]["effects"]) == 2


def test_tables_for_people(units: Path) -> None:
    args = ["experiment", "analyze", str(units), "--arm", "group", "--control", "control"]
    args += ["--metric", "converted", "--covariate", "pre_revenue", "--sequential"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for text in ("Arms", "Effects against control", "Sample ratio", "CUPED", "Always-valid"):
        assert text in result.output


def test_a_missing_column_is_a_clear_error(units: Path) -> None:
    args = ["experiment", "analyze", str(units), "--arm", "grp", "--control", "control"]
    result = runner.invoke(app, [*args, "--metric", "converted"])
    assert result.exit_code == 1
    assert "no column 'grp'" in result.output
