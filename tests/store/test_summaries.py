"""The per-run summaries against pandas over the run's rows, and migration 8's fill of
runs stored before it against the summaries scoring writes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from clm import Workspace
from clm.ingest import demo
from clm.scores import history_reports
from clm.store import summaries


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo world scored at two dates, the latest one scored twice (replaced)."""
    path: Path = tmp_path_factory.mktemp("summaries") / "ws"
    with Workspace.init(path) as ws:
        world = demo.build(ws, 300, seed=11)
        ws.score(world.as_of - timedelta(days=30))
        ws.score(world.as_of)
        ws.score(world.as_of)
    return path


@pytest.fixture
def ws(root: Path) -> Iterator[Workspace]:
    with Workspace.open(root) as workspace:
        yield workspace


def frame(ws: Workspace, sql: str) -> pd.DataFrame:
    return ws.con.execute(sql).fetchdf()


def snapshot(ws: Workspace) -> dict[str, pd.DataFrame]:
    return {
        t: frame(ws, f"SELECT * FROM {t} ORDER BY ALL").reset_index(drop=True)
        for t in summaries.TABLES
    }


def test_only_stored_runs_have_summaries_once(ws: Workspace) -> None:
    runs = {r["run_id"] for r in ws.runs()}
    assert len(runs) == 2
    for table in summaries.TABLES:
        assert set(frame(ws, f"SELECT DISTINCT run_id FROM {table}")["run_id"]) == runs, table
    keys = frame(ws, "SELECT run_id, segment, count(*) AS n FROM summary_segments GROUP BY ALL")
    assert (keys["n"] == 1).all()


def test_segments_and_profiles_match_pandas(ws: Workspace) -> None:
    scores = frame(ws, "SELECT * FROM scores")
    expected = (
        scores.groupby(["run_id", "segment"])
        .agg(
            customers=("segment", "size"),
            known=("customer_id", "count"),
            revenue=("monetary", "sum"),
        )
        .reset_index()
    )
    got = frame(ws, "SELECT * FROM summary_segments ORDER BY run_id, segment")
    pd.testing.assert_frame_equal(
        got[["run_id", "segment", "customers", "known"]],
        expected[["run_id", "segment", "customers", "known"]],
        check_dtype=False,
    )
    assert got["revenue"].to_numpy() == pytest.approx(expected["revenue"].to_numpy())
    latest = scores[scores["run_id"] == ws.latest_run()[0]]
    profiles = ws.data_summary()["profiles"]
    assert profiles["customers"] == latest["customer_id"].notna().sum()
    assert profiles["anonymous_visitors"] == latest["customer_id"].isna().sum()


def test_categories_match_pandas(ws: Workspace) -> None:
    activity = frame(ws, "SELECT * FROM activity WHERE scope <> 'all'")
    active = activity[activity["s_long"] >= 1]
    expected = pd.DataFrame(
        {
            "active_customers": active.groupby(["run_id", "scope"]).size(),
            "median_activity": active.groupby(["run_id", "scope"])["activity"].median(),
            "mean_trend": active.groupby(["run_id", "scope"])["trend"].mean(),
            "rising_customers": activity.groupby(["run_id", "scope"])["rising"].sum(),
            "customers_with_events": activity.groupby(["run_id", "scope"]).size(),
        }
    ).fillna({"active_customers": 0})
    got = frame(ws, "SELECT * FROM summary_categories").set_index(["run_id", "category"])
    got.index.names = ["run_id", "scope"]
    got = got.loc[expected.index]
    for column in ("active_customers", "rising_customers", "customers_with_events"):
        assert got[column].tolist() == expected[column].astype(int).tolist(), column
    for column in ("median_activity", "mean_trend"):
        assert got[column].to_numpy() == pytest.approx(expected[column].to_numpy(), nan_ok=True)


def test_rankings_equal_the_direct_query_beyond_the_stored_top(ws: Workspace) -> None:
    """The stored top rows against the aggregation over the run's rows (the path a
    longer ranking takes)."""
    run_id = ws.latest_run()[0]
    longer = summaries.TOP + 1
    for category in ("beauty", "fashion"):
        direct = history_reports.rising_customers(ws.con, run_id, category, longer)
        stored = history_reports.rising_customers(ws.con, run_id, category, summaries.TOP)
        assert len(stored) == min(len(direct), summaries.TOP)
        pd.testing.assert_frame_equal(stored, direct.head(len(stored)), check_dtype=False)
    direct_clv = history_reports.top_lifetime_value(ws.con, run_id, longer)
    stored_clv = history_reports.top_lifetime_value(ws.con, run_id, 10)
    pd.testing.assert_frame_equal(stored_clv, direct_clv.head(10), check_dtype=False)


UNITS = ("units_outcomes", "units_revenue", "units_progress", "units_kept")


def test_migration_fills_runs_stored_before_it(tmp_path: Path, root: Path) -> None:
    """A workspace at schema 7 (no summaries, no indexes) gets the same summaries as
    scoring writes, and the lookup indexes of migration 9."""
    copy = tmp_path / "ws"
    shutil.copytree(root, copy)
    with Workspace.open(copy) as ws:
        written = snapshot(ws)
        for table in summaries.TABLES:
            ws.con.execute(f"DROP TABLE {table}")
        for (index,) in ws.con.execute("SELECT index_name FROM duckdb_indexes()").fetchall():
            ws.con.execute(f"DROP INDEX {index}")
        for table in (*UNITS, "events_by_profile", "events_by_profile_progress"):  # 10, 11
            ws.con.execute(f"DROP TABLE {table}")
        ws.con.execute("DELETE FROM schema_migrations WHERE version >= 8")
    with Workspace.open(copy) as ws:
        filled = snapshot(ws)
        indexes = ws.con.execute("SELECT table_name FROM duckdb_indexes()").fetchall()
    assert {t for (t,) in indexes} >= {"profiles", "decisions", "enrolments", "outbox"}
    for table, expected in written.items():
        pd.testing.assert_frame_equal(filled[table], expected, check_exact=False, rtol=1e-9)
