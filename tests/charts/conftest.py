"""Reports to draw: an analyzed external experiment and an automation report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from clm.experiments import report as rp
from clm.experiments.analysis import analyze
from tests.experiments.test_report import UNITS_DDL, WINBACK, make_units


@pytest.fixture
def analyzed(tmp_path: Path) -> dict[str, Any]:
    rng = np.random.default_rng(5)
    n = 2000
    arm = rng.choice(["control", "email", "sms"], n)
    frame = pd.DataFrame(
        {
            "group": arm,
            "converted": (rng.random(n) < np.where(arm == "control", 0.1, 0.13)).astype(int),
            "revenue": rng.exponential(10.0, n) + 2.0 * (arm == "email"),
        }
    )
    path = tmp_path / "units.csv"
    frame.to_csv(path, index=False)
    return analyze(path, "group", "control", ["converted", "revenue"])


@pytest.fixture
def automation() -> dict[str, Any]:
    with duckdb.connect() as con:
        con.execute(UNITS_DDL)
        con.register("frame", make_units())
        con.execute("INSERT INTO units SELECT * FROM frame")
        sql = "SELECT * FROM units WHERE automation = ?"
        return rp.automation_report(con, sql, ["winback"], "winback", WINBACK)
