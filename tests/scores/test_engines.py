"""One definition, two executions: scoring on DuckDB and on Spark gives the same result."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from clm import Workspace
from tests.scores import population

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def load(ws: Workspace, seed: int) -> None:
    ws.import_customers(population.customers(seed))
    ws.import_transactions(population.purchases(seed))
    ws.import_events(population.visits(seed), type="visit")


def scores(ws: Workspace, engine: str, as_of: date) -> pd.DataFrame:
    run = ws.score(as_of, engine=engine)  # type: ignore[arg-type]
    assert run.engine == engine
    frame = ws.scores().drop(columns=["as_of"])
    return frame.sort_values(["customer_id", "anonymous_id"]).reset_index(drop=True)


@pytest.mark.parametrize("seed", [1, 2])
def test_duckdb_and_spark_give_identical_scores(
    ws: Workspace, spark_session: object, seed: int
) -> None:
    load(ws, seed)
    as_of = date(2024, 6, 30)
    on_duckdb = scores(ws, "duckdb", as_of)
    calibration_duckdb = ws.con.execute(
        "SELECT payload->'rfm'->'r_cuts', payload->'rfm'->'m_cuts' FROM calibrations ORDER BY version"
    ).fetchall()[-1]
    on_spark = scores(ws, "spark", as_of)
    calibration_spark = ws.con.execute(
        "SELECT payload->'rfm'->'r_cuts', payload->'rfm'->'m_cuts' FROM calibrations ORDER BY version"
    ).fetchall()[-1]
    assert calibration_spark == calibration_duckdb
    assert len(on_duckdb) > 400
    assert set(on_duckdb["segment"]) >= {
        "Champions",
        "Engaged Visitors",
        "Loyal Visitors",
        "Falling Asleep Customers",
    }
    pd.testing.assert_frame_equal(on_spark, on_duckdb, check_dtype=False)
