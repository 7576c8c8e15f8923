"""The demo world: deterministic, shaped like a shop, every segment populated, idempotent."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pandas as pd
import pytest

from clm import Workspace
from clm.ingest import demo
from clm.ingest.demo import DemoWorld
from clm.scores.segments import SEGMENTS

SMALL = 2_000


@pytest.fixture
def world() -> DemoWorld:
    """A small world (generating it takes a few hundredths of a second)."""
    return demo.generate(SMALL, seed=11)


def day_end(as_of: date) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(as_of + timedelta(days=1), time()))


def test_generate_is_deterministic_for_a_seed(world: DemoWorld) -> None:
    again = demo.generate(SMALL, seed=11)
    for name in ("customers", "transactions", "events"):
        pd.testing.assert_frame_equal(getattr(world, name), getattr(again, name))
    other = demo.generate(SMALL, seed=12)
    assert not other.transactions["amount"].equals(world.transactions["amount"])


def test_times_ids_orders_and_refunds_are_well_formed(world: DemoWorld) -> None:
    end = day_end(world.as_of)
    for frame in (world.transactions, world.events):
        assert frame["event_id"].is_unique
        assert frame["ts"].min() >= end - pd.Timedelta(days=730)
        assert frame["ts"].max() < end
    lines = world.transactions
    positive = lines[lines["amount"] > 0]
    per_order = positive.groupby("order_id", observed=True)
    assert set(per_order.size().unique()) <= {1, 2, 3, 4}
    assert (per_order["ts"].nunique() == 1).all()  # an order's lines share their time
    refunds = lines[lines["amount"] < 0]
    assert 0.01 < len(refunds) / len(lines) < 0.06
    assert not set(refunds["order_id"]) & set(positive["order_id"])
    assert len(world.transactions["category"].cat.categories) >= 10


def test_fashion_buyers_are_much_more_likely_to_buy_beauty(world: DemoWorld) -> None:
    lines = world.transactions[world.transactions["amount"] > 0]
    bought = pd.crosstab(lines["customer_id"], lines["category"]) > 0
    p_beauty = bought["beauty"].mean()
    p_beauty_given_fashion = bought.loc[bought["fashion"], "beauty"].mean()
    assert p_beauty_given_fashion / p_beauty > 1.5  # the lift of SPEC §4 on buyers
    assert bought.loc[~bought["fashion"], "beauty"].mean() < p_beauty


def test_seed_customer_and_her_rising_beauty_interest(world: DemoWorld) -> None:
    me = world.seed_customer_id
    profile = world.customers.set_index("customer_id").loc[me]
    assert (profile["age"], profile["gender"], profile["income"], profile["card_usage"]) == (
        38,
        "female",
        65_000,
        "rare",
    )
    recent = day_end(world.as_of) - pd.Timedelta(days=90)
    lines = world.transactions[world.transactions["customer_id"] == me]
    views = world.events[
        (world.events["customer_id"] == me) & (world.events["type"] == "product_view")
    ]
    for rows in (lines, views):
        beauty = rows[rows["category"] == "beauty"]
        assert len(beauty) >= 5
        assert (beauty["ts"] >= recent).mean() >= 0.8
    fashion = lines[lines["category"] == "fashion"]
    assert (fashion["ts"] < recent).sum() >= 4  # a fashion buyer for two years


def test_anonymous_visitors_exist_and_some_are_linked(world: DemoWorld) -> None:
    anonymous = world.events[world.events["customer_id"].isna()]
    assert anonymous["anonymous_id"].notna().all()
    assert set(anonymous["type"]) <= {"visit", "product_view"}
    linked = set(world.customers["anonymous_id"].dropna())
    seen = set(anonymous["anonymous_id"])
    assert len(seen - linked) > 0.1 * SMALL  # visitors who never identified themselves
    assert len(seen & linked) > 0.1 * SMALL  # earlier visits of known profiles


def test_build_populates_every_segment(ws: Workspace) -> None:
    world = demo.build(ws, 3_000, seed=7)
    assert ws.latest_run()[1] == world.as_of
    counts = ws.segments().set_index("segment")["customers"]
    empty = [s for s in SEGMENTS if counts[s] == 0]
    assert not empty, f"empty segments: {empty}"
    seed = ws.customer(world.seed_customer_id)
    assert seed["attributes"]["age"] == 38
    assert seed["anonymous_ids"] == ["A-SEED-0001"]
    assert ws.status()["profiles"]["anonymous_visitors"] > 0


def test_building_again_imports_nothing_new(ws: Workspace) -> None:
    demo.build(ws, 1_000, seed=3)
    events_before = ws.status()["events"]["total"]
    demo.build(ws, 1_000, seed=3)
    status = ws.status()
    second = status["imports"][3:]
    assert [i["kind"] for i in second] == ["customers", "transactions", "events"]
    assert all(i["imported"] == 0 and i["duplicates"] == i["rows_read"] for i in second)
    assert status["events"]["total"] == events_before


def test_a_world_needs_a_profile() -> None:
    with pytest.raises(ValueError, match="at least one profile"):
        demo.generate(0)
