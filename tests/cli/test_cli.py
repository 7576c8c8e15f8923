"""The `clm` command as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from clm.cli import app

runner = CliRunner()
LINES = "cust,day,usd,cat\n1,19970101,11.77,books\n2,19970112,77.00,music\n1,19970203,5.5,books\n"


def clm(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.output


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    code, out = clm("init", str(path))
    assert code == 0, out
    return path


def test_import_score_segments_customer_export(workspace: Path, tmp_path: Path) -> None:
    source = tmp_path / "lines.csv"
    source.write_text(LINES)
    w = ["-w", str(workspace)]
    code, out = clm(
        "import",
        "transactions",
        str(source),
        "--customer",
        "cust",
        "--time",
        "day",
        "--time-format",
        "%Y%m%d",
        "--amount",
        "usd",
        "--category",
        "cat",
        "--json",
        *w,
    )
    assert code == 0, out
    assert json.loads(out)["imported"] == 3
    code, out = clm("score", "--as-of", "1997-12-31", *w)
    assert code == 0, out
    assert "Scored 2 profiles" in out
    code, out = clm("segments", "--json", *w)
    data = json.loads(out)
    assert data["as_of"] == "1997-12-31"
    assert sum(s["customers"] for s in data["segments"]) == 2
    assert {p["phase"] for p in data["phases"]} == {
        "Acquisition",
        "Retention",
        "Increased Value",
        "Veneration",
        "Reactivation",
    }
    code, out = clm("customer", "1", "--json", *w)
    view = json.loads(out)
    assert view["scores"]["n_orders_life"] == 2
    assert view["latest_purchases"][0]["amount"] == pytest.approx(5.5)
    code, out = clm("customer", "1", *w)
    assert code == 0 and "Latest purchases" in out
    target = tmp_path / "scores.parquet"
    code, out = clm("export", "scores", str(target), *w)
    assert code == 0, out
    exported = pd.read_parquet(target)
    assert {
        "customer_id",
        "recency_days",
        "frequency",
        "monetary",
        "n_orders_life",
        "r_score",
        "f_score",
        "m_score",
        "segment",
        "phase",
    } <= set(exported.columns)
    assert len(exported) == 2


def test_workspace_from_environment(workspace: Path) -> None:
    code, out = clm("status", "--json", env={"CLM_WORKSPACE": str(workspace)})
    assert code == 0, out
    assert json.loads(out)["profiles"]["total"] == 0


def test_config_commands(workspace: Path) -> None:
    w = ["-w", str(workspace)]
    assert clm("config", "set", "rfm.window_days", "90", *w)[0] == 0
    code, out = clm("config", "get", "rfm.window_days", *w)
    assert (code, out.strip()) == (0, "90")
    code, out = clm("config", "set", "rfm.window_days", "soon", *w)
    assert code == 1 and "rfm.window_days" in out


def test_not_a_workspace(tmp_path: Path) -> None:
    code, out = clm("status", "-w", str(tmp_path))
    assert code == 1
    assert "is not a clm workspace" in out and "clm init" in out


def test_bad_time_as_a_user_sees_it(tmp_path: Path) -> None:
    """The installed `clm` program: non-zero exit, the line named, nothing imported."""
    exe = Path(sys.executable).with_name("clm")
    env = {**os.environ, "COLUMNS": "200"}
    ws = tmp_path / "ws"
    subprocess.run([exe, "init", ws], check=True, capture_output=True, env=env)
    source = tmp_path / "lines.csv"
    source.write_text(LINES.replace("19970112", "1997-13-45"))
    done = subprocess.run(
        [
            exe,
            "import",
            "transactions",
            source,
            "--customer",
            "cust",
            "--time",
            "day",
            "--time-format",
            "%Y%m%d",
            "--amount",
            "usd",
            "-w",
            ws,
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 1
    assert "line 3: field day: cannot read '1997-13-45' as a time" in done.stderr
    status = subprocess.run(
        [exe, "status", "--json", "-w", ws], capture_output=True, text=True, check=True, env=env
    )
    info = json.loads(status.stdout)
    assert info["events"]["total"] == 0 and info["imports"] == []


def test_a_second_process_is_told_who_holds_the_workspace(workspace: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from clm import Workspace; ws = Workspace.open(sys.argv[1]); "
            "print('open', flush=True); time.sleep(30)",
            str(workspace),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        code, out = clm("status", "-w", str(workspace))
        assert code == 1
        assert "in use by another process" in out
    finally:
        holder.kill()
        holder.wait()


def test_categories_and_activity_exports(workspace: Path, tmp_path: Path) -> None:
    source = tmp_path / "lines.csv"
    rows = ["cust,day,usd,cat"]
    for c in range(40):
        rows.append(f"{c},2024-0{1 + c % 6}-1{c % 9},{10 + c},fashion")
        if c % 2 == 0:
            rows.append(f"{c},2024-06-2{c % 9},{5 + c},beauty")
        if c % 5 == 0:
            rows.append(f"{c},2024-05-0{1 + c % 9},{7 + c},home")
    source.write_text("\n".join(rows) + "\n")
    w = ["-w", str(workspace)]
    assert (
        clm(
            "import",
            "transactions",
            str(source),
            "--customer",
            "cust",
            "--time",
            "day",
            "--amount",
            "usd",
            "--category",
            "cat",
            *w,
        )[0]
        == 0
    )
    assert clm("score", "--as-of", "2024-06-30", *w)[0] == 0
    code, out = clm("categories", "--json", *w)
    assert code == 0, out
    report = json.loads(out)
    assert {c["category"] for c in report["categories"]} == {"fashion", "beauty", "home"}
    assert set(report["lift"]) == {"fashion", "beauty", "home"}
    code, out = clm("categories", *w)
    assert code == 0 and "Lift (1 = independent)" in out
    code, out = clm("customer", "0", "--json", *w)
    view = json.loads(out)
    assert {a["scope"] for a in view["activity"]} == {"all", "fashion", "beauty", "home"}
    activity_file, relations_file = tmp_path / "activity.csv", tmp_path / "relations.csv"
    assert clm("export", "activity", str(activity_file), *w)[0] == 0
    assert clm("export", "relations", str(relations_file), *w)[0] == 0
    activity = pd.read_csv(activity_file)
    assert {
        "customer_id",
        "scope",
        "s_short",
        "s_long",
        "v_short",
        "v_long",
        "activity",
        "trend",
        "affinity",
        "rising",
    } <= set(activity.columns)
    assert activity.loc[activity["scope"] == "all", "affinity"].isna().all()
    relations = pd.read_csv(relations_file)
    assert list(relations.columns) == ["a", "b", "n_a", "n_b", "n_ab", "lift", "correlation"]
    assert len(relations) == 9
