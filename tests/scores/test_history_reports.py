"""Reports across scoring runs (and profile search) against pandas over the same tables."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clm import Workspace
from clm.ingest import demo
from clm.scores.history_reports import NEW


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A small demo world scored at three dates a month apart, oldest first."""
    root: Path = tmp_path_factory.mktemp("history") / "ws"
    workspace = Workspace.init(root)
    world = demo.build(workspace, 1_200, seed=3)
    for days in (61, 30):
        workspace.score(world.as_of - timedelta(days=days))
    workspace.score(world.as_of)
    yield workspace
    workspace.close()


def table(ws: Workspace, name: str) -> pd.DataFrame:
    return ws.con.execute(f"SELECT * FROM {name}").fetchdf()


def keyed(scores: pd.DataFrame) -> pd.DataFrame:
    out = scores.copy()
    out["pkey"] = np.where(
        out["customer_id"].isna(),
        "a:" + out["anonymous_id"].astype(str),
        "c:" + out["customer_id"].astype(str),
    )
    return out


def test_runs_are_listed_oldest_first_and_the_latest_is_latest_run(ws: Workspace) -> None:
    runs = ws.runs()
    assert [r["as_of"] for r in runs] == sorted(r["as_of"] for r in runs)
    assert len(runs) == 3
    assert runs[-1]["run_id"] == ws.latest_run()[0]


def test_rf_matrix_counts_buyers_per_r_and_f(ws: Workspace) -> None:
    run_id = ws.latest_run()[0]
    scores = table(ws, "scores")
    buyers = scores[(scores["run_id"] == run_id) & scores["r_score"].notna()]
    expected = buyers.groupby(["r_score", "f_score"]).agg(
        customers=("monetary", "size"), revenue=("monetary", "sum")
    )
    got = ws.rf_matrix().set_index(["r_score", "f_score"])
    assert got["customers"].to_dict() == expected["customers"].to_dict()
    np.testing.assert_allclose(got["revenue"], expected["revenue"], rtol=1e-12)
    assert got["customers"].sum() == buyers.shape[0] > 0


def test_migration_matches_a_join_of_the_last_two_runs(ws: Workspace) -> None:
    runs = ws.runs()
    scores = keyed(table(ws, "scores"))
    before = scores[scores["run_id"] == runs[-2]["run_id"]][["pkey", "segment"]]
    after = scores[scores["run_id"] == runs[-1]["run_id"]][["pkey", "segment"]]
    joined = after.merge(before, on="pkey", how="left", suffixes=("_to", "_from"))
    joined["segment_from"] = joined["segment_from"].fillna(NEW)
    expected = joined.groupby(["segment_from", "segment_to"]).size().to_dict()
    got = ws.segment_migration()
    flows = {(r.from_segment, r.to_segment): r.customers for r in got.itertuples()}
    assert flows == expected
    assert sum(v for (a, b), v in flows.items() if a != b and a != NEW) > 0  # people moved
    assert any(a == NEW for a, _ in flows)  # and new profiles arrived


def test_segment_history_counts_every_run(ws: Workspace) -> None:
    scores = table(ws, "scores")
    expected = scores.groupby(["run_id", "segment"]).agg(
        customers=("monetary", "size"), revenue=("monetary", "sum")
    )
    got = ws.segment_history().set_index(["run_id", "segment"])
    assert got["customers"].to_dict() == expected["customers"].to_dict()
    np.testing.assert_allclose(
        got["revenue"].sort_index(), expected["revenue"].sort_index(), rtol=1e-12
    )
    as_of = dict(
        zip((r["run_id"] for r in ws.runs()), (r["as_of"] for r in ws.runs()), strict=True)
    )
    for run_id, day in ws.segment_history()[["run_id", "as_of"]].itertuples(index=False):
        assert str(day)[:10] == as_of[run_id]


def test_category_history_matches_pandas(ws: Workspace) -> None:
    activity = table(ws, "activity")
    cats = activity[activity["scope"] != "all"]
    rows = []
    for (run_id, scope), part in cats.groupby(["run_id", "scope"]):
        active = part[part["s_long"] >= 1]
        rows.append(
            {
                "run_id": run_id,
                "category": scope,
                "active_customers": len(active),
                "mean_activity": active["activity"].mean() if len(active) else np.nan,
                "mean_trend": active["trend"].mean() if len(active) else np.nan,
                "rising_customers": int(part["rising"].sum()),
            }
        )
    expected = pd.DataFrame(rows).set_index(["run_id", "category"]).sort_index()
    got = ws.category_history().set_index(["run_id", "category"]).sort_index()
    assert got.index.equals(expected.index)
    for column in ("active_customers", "rising_customers"):
        assert got[column].tolist() == expected[column].tolist()
    for column in ("mean_activity", "mean_trend"):
        np.testing.assert_allclose(got[column], expected[column], rtol=1e-9)


def test_rising_customers_are_the_rising_sorted_by_trend(ws: Workspace) -> None:
    run_id = ws.latest_run()[0]
    activity = table(ws, "activity")
    part = activity[(activity["run_id"] == run_id) & (activity["scope"] == "beauty")]
    rising = part[part["rising"]].copy()
    rising["profile_id"] = rising["customer_id"].fillna(rising["anonymous_id"])
    expected = rising.sort_values(
        ["trend", "activity", "profile_id"], ascending=[False, False, True]
    )
    got = ws.rising_customers("beauty", limit=7)
    assert got["profile_id"].tolist() == expected["profile_id"].head(7).tolist()
    assert len(got) == min(7, len(expected)) > 0
    assert (got["trend"] >= 60).all()


def test_top_lifetime_value_is_the_highest_clv_with_its_segment(ws: Workspace) -> None:
    run_id = ws.latest_run()[0]
    clv = table(ws, "clv")
    clv = clv[(clv["run_id"] == run_id) & clv["clv"].notna()]
    expected = clv.sort_values("clv", ascending=False).head(5)
    got = ws.top_lifetime_value(5)
    assert got["profile_id"].tolist() == expected["customer_id"].tolist()
    scores = table(ws, "scores")
    latest = scores[scores["run_id"] == run_id].set_index("customer_id")["segment"]
    assert got["segment"].tolist() == [latest[c] for c in got["profile_id"]]


def test_find_profiles_by_prefix_of_id_or_email(ws: Workspace) -> None:
    profiles = table(ws, "profiles")
    prefix = "C0000012"
    expected = sorted(
        profiles[
            profiles["customer_id"].str.lower().str.startswith(prefix.lower())
            | profiles["email"].fillna("").str.lower().str.startswith(prefix.lower())
        ]["customer_id"]
    )
    found = ws.find_profiles(prefix.lower(), limit=50)
    assert [f["id"] for f in found] == expected and expected
    seed = demo.SEED_CUSTOMER_ID
    email = profiles.set_index("customer_id").loc[seed, "email"]
    exact = ws.find_profiles(email.upper())
    assert exact[0]["id"] == seed and exact[0]["exact"] and exact[0]["segment"]
    assert ws.find_profiles("no-such-%-prefix") == []
    assert ws.find_profiles("C_") == []  # LIKE wildcards are taken literally


def test_timeline_holds_the_customer_and_their_anonymous_history(ws: Workspace) -> None:
    seed = demo.SEED_CUSTOMER_ID
    events = table(ws, "events")
    links = table(ws, "identities")
    anonymous = set(links[links["customer_id"] == seed]["anonymous_id"])
    own = events[
        (events["customer_id"] == seed)
        | (events["customer_id"].isna() & events["anonymous_id"].isin(anonymous))
    ]
    timeline = ws.customer_timeline(seed, limit=10_000)
    assert len(timeline) == len(own) == sum(ws.customer(seed)["events"].values())
    times = [e["ts"] for e in timeline]
    assert times == sorted(times, reverse=True)
    assert len(ws.customer_timeline(seed, limit=5)) == 5


def test_customer_segment_history_has_one_row_per_run(ws: Workspace) -> None:
    seed = demo.SEED_CUSTOMER_ID
    history = ws.customer_segment_history(seed)
    scores = table(ws, "scores")
    mine = scores[scores["customer_id"] == seed].sort_values("as_of")
    assert [h["segment"] for h in history] == mine["segment"].tolist()
    assert len(history) == 3


def test_data_summary_agrees_with_status(ws: Workspace) -> None:
    summary, status = ws.data_summary(), ws.status()
    assert summary["events"] == status["events"]
    assert summary["imports"] == status["imports"]
    assert summary["scoring_runs"] == status["scoring_runs"]
    profiles = summary["profiles"]
    assert profiles["as_of"] == ws.runs()[-1]["as_of"]
    # every profile of the demo world has events up to the latest run's date
    assert profiles["customers"] == status["profiles"]["customers"]
    assert profiles["anonymous_visitors"] == status["profiles"]["anonymous_visitors"]


def test_data_signature_changes_with_new_events(tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "ws") as fresh:
        before = fresh.data_signature()
        assert before == fresh.data_signature()
        fresh.import_events(
            pd.DataFrame({"customer_id": ["c1"], "ts": [pd.Timestamp("2026-10-30")]}),
            type="visit",
        )
        after = fresh.data_signature()
        assert after != before and after[0] == 1
        fresh.score("2026-10-30")
        assert fresh.data_signature() != after
        assert fresh.data_summary()["profiles"] == {
            "as_of": "2026-10-30",
            "customers": 1,
            "anonymous_visitors": 0,
        }


def test_customer_view_reads_a_visitors_and_a_customers_rows(ws: Workspace) -> None:
    run_id = ws.latest_run()[0]
    events, activity = table(ws, "events"), table(ws, "activity")
    next_best, clv = table(ws, "next_best"), table(ws, "clv")
    visitor = str(
        activity[(activity["run_id"] == run_id) & activity["customer_id"].isna()]
        .sort_values("anonymous_id")["anonymous_id"]
        .iloc[0]
    )
    view = ws.customer(visitor)
    own = events[events["customer_id"].isna() & (events["anonymous_id"] == visitor)]
    assert view["kind"] == "visitor"
    assert view["events"] == own.groupby("type").size().to_dict()
    mine = activity[(activity["run_id"] == run_id) & (activity["anonymous_id"] == visitor)]
    assert sorted(a["scope"] for a in view["activity"]) == sorted(mine["scope"])
    seed = demo.SEED_CUSTOMER_ID
    seed_view = ws.customer(seed)
    best = next_best[(next_best["run_id"] == run_id) & (next_best["customer_id"] == seed)]
    assert [n["category"] for n in seed_view["next_best_categories"]] == list(
        best.sort_values("rank")["category"]
    )
    value = clv[(clv["run_id"] == run_id) & (clv["customer_id"] == seed)].iloc[0]
    assert seed_view["lifetime_value"]["clv"] == pytest.approx(value["clv"], rel=1e-12)
    orders = events[(events["customer_id"] == seed) & (events["type"] == "purchase")]
    assert sum(o["lines"] for o in seed_view["latest_purchases"]) <= len(orders)
    assert seed_view["latest_purchases"][0]["ts"] == orders["ts"].max().isoformat()
    linked = table(ws, "identities").query("customer_id == @seed")["anonymous_id"]
    mine_all = events[
        (events["customer_id"] == seed)
        | (events["customer_id"].isna() & events["anonymous_id"].isin(linked))
    ]
    assert seed_view["events"] == mine_all.groupby("type").size().to_dict()
    bought = mine_all[mine_all["type"] == "purchase"]
    key = bought["order_id"].fillna(bought["event_id"])
    per = (
        bought.assign(key=key)
        .groupby("key")
        .agg(ts=("ts", "min"), amount=("amount", "sum"), lines=("ts", "size"))
    )
    per = per.reset_index().sort_values("ts", ascending=False).head(10)
    got = seed_view["latest_purchases"]
    assert [o["order_id"] for o in got] == per["key"].tolist()
    assert [o["lines"] for o in got] == per["lines"].tolist()
    assert [o["amount"] for o in got] == pytest.approx([float(a) for a in per["amount"]])
