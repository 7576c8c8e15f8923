"""The demo world tells the seed scenario through clm's own results (issue: activity)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clm import Workspace
from clm.ingest import demo


@pytest.fixture(scope="module")
def world_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    ws = Workspace.init(tmp_path_factory.mktemp("demo") / "ws")
    demo.build(ws, n_profiles=4_000, seed=11)
    yield ws
    ws.close()


def test_seed_customer_shows_rising_beauty_interest(world_ws: Workspace) -> None:
    view = world_ws.customer(demo.SEED_CUSTOMER_ID)
    assert view["attributes"]["age"] == 38
    assert view["attributes"]["income"] == 65000
    beauty = next(a for a in view["activity"] if a["scope"] == "beauty")
    fashion = next(a for a in view["activity"] if a["scope"] == "fashion")
    assert beauty["rising"] and beauty["trend"] > 60
    assert beauty["activity"] > fashion["activity"]


def test_fashion_and_beauty_are_strongly_related(world_ws: Workspace) -> None:
    relations = world_ws.category_relations().set_index(["a", "b"])
    lift = relations.loc[("beauty", "fashion"), "lift"]
    others = relations[[a != b for a, b in relations.index]]["lift"]
    assert lift > 2.0
    assert lift >= others.quantile(0.9)
    assert relations.loc[("beauty", "fashion"), "correlation"] > 0.2
    assert any(
        {r["a"], r["b"]} == {"beauty", "fashion"} for r in world_ws.categories()["strongest"]
    )


def test_every_buyer_has_a_lifetime_value(world_ws: Workspace) -> None:
    """The demo's lapsing is not heterogeneous per purchase, so BG/NBD's a, b run off
    to infinity and the run fits the homogeneous-dropout limit (documented in bgnbd)."""
    fit = world_ws.calibration().clv
    assert fit is not None and "skipped" not in fit
    assert fit["bgnbd"]["dropout"] == "homogeneous"
    values = world_ws.clv()
    buyers = world_ws.scores().query("n_orders_life > 0")
    assert len(values) >= len(buyers)
    assert values["clv"].notna().all() and (values["clv"] >= 0).all()
    assert values["p_alive"].between(0, 1).all()
    seed = world_ws.customer(demo.SEED_CUSTOMER_ID)["lifetime_value"]
    assert seed["p_alive"] > 0.5 and seed["clv"] > 0
