"""``all_reports`` (the dashboard's one aggregation) against each report computed alone."""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd
import pytest

from clm.experiments import report as rp
from tests.experiments.test_report import ONE, WELCOME, WINBACK, con, frame

__all__ = ["con", "frame"]  # the fixtures of test_report, reused


def test_every_block_equals_the_report_of_that_automation_alone(
    con: duckdb.DuckDBPyConnection, frame: pd.DataFrame
) -> None:
    measurements = {"winback": WINBACK, "welcome": WELCOME}
    every = rp.all_reports(con, "SELECT * FROM units", [], measurements)
    assert set(every["reports"]) == set(frame.automation)
    for name, block in every["reports"].items():
        alone = rp.automation_report(con, ONE, [name], name, measurements[name])
        assert same(block, alone)
    ranking = rp.automations_report(con, "SELECT * FROM units", [], measurements)
    assert same(every["automations"], ranking["automations"])
    assert same(every["programme"], ranking["programme"])


def same(a: Any, b: Any) -> bool:
    """Equal, numbers to 1e-12 relative: one aggregation and many add the same units'
    costs and revenues in another order (2021.199999999988 against 2021.1999999999903)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float | int):
        return bool(a == pytest.approx(b, rel=1e-12, abs=1e-12, nan_ok=True))
    return bool(a == b)
