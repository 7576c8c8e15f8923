"""``all_reports`` (the dashboard's one aggregation) against each report computed alone."""

from __future__ import annotations

import duckdb
import pandas as pd

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
        assert block == alone
    ranking = rp.automations_report(con, "SELECT * FROM units", [], measurements)
    assert every["automations"] == ranking["automations"]
    assert every["programme"] == ranking["programme"]
