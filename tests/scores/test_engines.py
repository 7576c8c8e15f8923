"""One definition, two executions: scoring on DuckDB and on Spark gives the same result."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from clm import Workspace
from tests.conftest import data_path
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
    calibration_duckdb = ws.calibration().rfm
    on_spark = scores(ws, "spark", as_of)
    calibration_spark = ws.calibration().rfm
    assert calibration_spark.r_cuts == calibration_duckdb.r_cuts
    assert calibration_spark.m_cuts == calibration_duckdb.m_cuts
    assert len(on_duckdb) > 400
    assert set(on_duckdb["segment"]) >= {
        "Champions",
        "Engaged Visitors",
        "Loyal Visitors",
        "Falling Asleep Customers",
    }
    pd.testing.assert_frame_equal(on_spark, on_duckdb, check_dtype=False)


def test_activity_relations_and_next_best_agree_across_engines(
    ws: Workspace, spark_session: object
) -> None:
    load(ws, 3)
    ws.config_set("activity.weights.visit", "0.1")
    as_of = date(2024, 3, 31)
    runs = {}
    for engine in ("duckdb", "spark"):
        ws.score(as_of, engine=engine)  # type: ignore[arg-type]
        keys = ["customer_id", "anonymous_id", "scope"]
        activity = ws.activity().sort_values(keys).reset_index(drop=True)
        relations = ws.category_relations()
        best = ws.con.execute(
            "SELECT customer_id, anonymous_id, rank, category, score FROM next_best "
            "WHERE run_id = (SELECT max(run_id) FROM next_best) "
            "ORDER BY customer_id, anonymous_id, rank"
        ).fetchdf()
        runs[engine] = (activity, relations, best, ws.calibration().activity)
    (a_d, r_d, b_d, c_d), (a_s, r_s, b_s, c_s) = runs["duckdb"], runs["spark"]
    assert len(a_d) > 1000 and a_d["rising"].any()
    pd.testing.assert_frame_equal(a_s, a_d, check_dtype=False, rtol=1e-9)
    pd.testing.assert_frame_equal(r_s, r_d, check_dtype=False, rtol=1e-9)
    pd.testing.assert_frame_equal(b_s, b_d, check_dtype=False, rtol=1e-9)
    assert c_s.r_ref == pytest.approx(c_d.r_ref, rel=1e-9)
    assert c_s.pi == pytest.approx(c_d.pi, rel=1e-9)
    assert c_s.m == pytest.approx(c_d.m, rel=1e-12)


def test_lifetime_value_agrees_across_engines(ws: Workspace, spark_session: object) -> None:
    """The CDNOW sample (this population's uniform purchases leave BG/NBD unidentified)."""
    ws.import_transactions(
        data_path("cdnow", "CDNOW_sample.txt"),
        delimiter="whitespace",
        header=False,
        columns=["master_id", "sample_id", "date", "cds", "dollars"],
        customer="sample_id",
        time="date",
        time_format="%Y%m%d",
        amount="dollars",
    )
    values = {}
    for engine in ("duckdb", "spark"):
        run = ws.score(date(1997, 9, 30), engine=engine)  # type: ignore[arg-type]
        assert run.calibration.clv is not None and "skipped" not in run.calibration.clv
        values[engine] = ws.clv()
    assert len(values["duckdb"]) == 2357
    pd.testing.assert_frame_equal(values["spark"], values["duckdb"], check_dtype=False)
