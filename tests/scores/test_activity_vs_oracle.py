"""clm's activity family against the independent pandas oracle (SPEC §4).

Every (profile, scope) row must exist on both sides and agree on S, V, activity, trend and
affinity within a relative 1e-9 (absolute 1e-12 near 0) and on rising exactly; the calibration
(r_ref, π, m, N), every category relation (counts exactly, lift and correlation within 1e-9)
and every profile's next best categories must agree too. Data: a seeded random population,
small random populations (hypothesis) and The Complete Journey (departments as categories).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clm import Workspace
from tests.conftest import data_path
from tests.oracles.activity import ALL, ActivityOracle, ActivitySettings, activity_oracle

FLOATS = ["s_short", "s_long", "v_short", "v_long", "activity", "trend", "affinity"]
RELATIVE, ABSOLUTE = 1e-9, 1e-12


# -- comparison ------------------------------------------------------------------------------


def _close(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise: both null, or equal within 1e-9 relative (1e-12 absolute near 0)."""
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    both_null = np.isnan(a) & np.isnan(b)
    with np.errstate(invalid="ignore"):
        tolerance = np.maximum(RELATIVE * np.maximum(np.abs(a), np.abs(b)), ABSOLUTE)
        close: np.ndarray = both_null | (np.abs(a - b) <= tolerance)
    return close


def _close_scalar(a: float, b: float) -> bool:
    return bool(_close(np.array([a]), np.array([b]))[0])


def _keyed(activity: pd.DataFrame) -> pd.DataFrame:
    """clm's activity rows indexed like the oracle's: ``(profile, scope)``."""
    customer = activity["customer_id"].astype(object)
    anonymous = activity["anonymous_id"].astype(object)
    assert (customer.notna() ^ anonymous.notna()).all(), "a row needs exactly one id"
    profile = ("c:" + customer.astype(str)).where(customer.notna(), "a:" + anonymous.astype(str))
    keyed = activity.assign(profile=profile.to_numpy()).set_index(["profile", "scope"])
    assert keyed.index.is_unique, "duplicate (profile, scope) rows"
    return keyed.sort_index()


def assert_activity_matches(got: pd.DataFrame, want: ActivityOracle) -> None:
    """Assert that clm's activity rows equal the oracle's, row by row and field by field."""
    got = _keyed(got)
    expected = want.activity
    missing = expected.index.difference(got.index)
    extra = got.index.difference(expected.index)
    assert missing.empty and extra.empty, (
        f"rows only in the oracle: {list(missing[:10])}; only in clm: {list(extra[:10])}"
    )
    got = got.loc[expected.index]
    problems = []
    for col in FLOATS:
        a = got[col].to_numpy(dtype="float64", na_value=np.nan)
        b = expected[col].to_numpy(dtype="float64", na_value=np.nan)
        bad = np.flatnonzero(~_close(a, b))
        if len(bad):
            sample = {expected.index[i]: (a[i], b[i]) for i in bad[:5]}
            problems.append(f"{col}: {len(bad)} rows differ (clm, oracle): {sample}")
    rising = got["rising"].astype(bool).to_numpy() != expected["rising"].to_numpy(dtype=bool)
    if rising.any():
        keys = [expected.index[i] for i in np.flatnonzero(rising)[:5]]
        problems.append(f"rising: {int(rising.sum())} rows differ: {keys}")
    assert not problems, "\n".join(problems)


def assert_calibration_matches(ws: Workspace, want: ActivityOracle) -> None:
    cal = ws.calibration().activity
    assert cal.n_active == want.n_active
    assert _close_scalar(cal.m, want.m), (cal.m, want.m)
    assert set(cal.r_ref) == set(want.r_ref), (sorted(cal.r_ref), sorted(want.r_ref))
    bad = {
        s: (cal.r_ref[s], v) for s, v in want.r_ref.items() if not _close_scalar(cal.r_ref[s], v)
    }
    assert not bad, f"r_ref differs (clm, oracle): {bad}"
    assert set(cal.pi) == set(want.pi), (sorted(cal.pi), sorted(want.pi))
    bad = {c: (cal.pi[c], v) for c, v in want.pi.items() if not _close_scalar(cal.pi[c], v)}
    assert not bad, f"pi differs (clm, oracle): {bad}"


def assert_relations_match(got: pd.DataFrame, want: ActivityOracle) -> None:
    got = got.set_index(["a", "b"]).sort_index()
    expected = want.relations.set_index(["a", "b"]).sort_index()
    assert list(got.index) == list(expected.index), "the category pairs differ"
    problems = []
    for col in ("n_a", "n_b", "n_ab"):
        bad = got.index[got[col].to_numpy() != expected[col].to_numpy()]
        if len(bad):
            sample = {k: (got.loc[k, col], expected.loc[k, col]) for k in bad[:5]}
            problems.append(f"{col}: {len(bad)} pairs differ (clm, oracle): {sample}")
    for col in ("lift", "correlation"):
        a = got[col].to_numpy(dtype="float64", na_value=np.nan)
        b = expected[col].to_numpy(dtype="float64", na_value=np.nan)
        bad = np.flatnonzero(~_close(a, b))
        if len(bad):
            sample = {got.index[i]: (a[i], b[i]) for i in bad[:5]}
            problems.append(f"{col}: {len(bad)} pairs differ (clm, oracle): {sample}")
    assert not problems, "\n".join(problems)


def assert_next_best_matches(ws: Workspace, want: ActivityOracle) -> None:
    problems = []
    for key, expected in want.next_best.items():
        got = ws.next_best_categories(key[2:])
        assert [g["rank"] for g in got] == list(range(1, len(got) + 1))
        same = [g["category"] for g in got] == [c for c, _ in expected] and all(
            _close_scalar(g["score"], s) for g, (_, s) in zip(got, expected, strict=True)
        )
        if not same:
            problems.append(
                f"{key}: clm {[(g['category'], g['score']) for g in got]}, oracle {expected}"
            )
    assert not problems, f"{len(problems)} profiles differ:\n" + "\n".join(problems[:5])


def assert_matches_oracle(
    ws: Workspace,
    want: ActivityOracle,
    activity: pd.DataFrame | None = None,
    relations: pd.DataFrame | None = None,
) -> None:
    """clm's latest run == the oracle (activity rows, calibration, relations, next best)."""
    assert_activity_matches(ws.activity() if activity is None else activity, want)
    assert_calibration_matches(ws, want)
    assert_relations_match(ws.category_relations() if relations is None else relations, want)
    assert_next_best_matches(ws, want)


def configure(ws: Workspace, s: ActivitySettings) -> None:
    ws.config_set("activity.half_life_short", str(s.half_life_short))
    ws.config_set("activity.half_life_long", str(s.half_life_long))
    for event_type, weight in s.weights.items():
        ws.config_set(f"activity.weights.{event_type}", str(weight))
    ws.config_set("activity.rising_trend", str(s.rising_trend))
    ws.config_set("activity.rising_min_long", str(s.rising_min_long))


def load(ws: Workspace, events: pd.DataFrame) -> None:
    """Import purchase lines as transactions and the other events as events."""
    purchases = events.loc[events["type"] == "purchase"]
    others = events.loc[events["type"] != "purchase"]
    if len(purchases):
        ws.import_transactions(
            purchases.drop(columns=["type"]),
            customer="customer_id",
            anonymous="anonymous_id",
            time="ts",
            amount="amount",
            category="category",
            order="order_id",
        )
    if len(others):
        ws.import_events(
            others.drop(columns=["amount", "order_id"]),
            type_column="type",
            customer="customer_id",
            anonymous="anonymous_id",
            time="ts",
            category="category",
        )


# -- a seeded random population --------------------------------------------------------------

START = datetime(2023, 1, 1)
CATEGORIES = ["beauty", "books", "fashion", "garden", "home", "toys"]
AS_OF = date(2023, 12, 31)  # in the middle of two years of data
VIEWS = ActivitySettings(weights={"purchase": 1.0, "product_view": 0.2})


def _kept(keep: np.ndarray, values: list[str]) -> np.ndarray:
    """``values`` where ``keep``, else None (an object array)."""
    out = np.array(values, dtype=object)
    out[~keep] = None
    return out


def population(seed: int, n_customers: int = 300) -> pd.DataFrame:
    """Two years of events: multi-line orders, refunds and zero lines, lines without category,
    product views (of a category only ever viewed, too), visits, anonymous visitors of whom
    some are linked to a customer by an event carrying both ids (before ``AS_OF``)."""
    rng = np.random.default_rng(seed)
    seconds = 730 * 86400
    # heavy and light customers, each with its own taste over the categories
    rate = rng.pareto(1.5, n_customers) + 0.2
    taste = rng.dirichlet(np.full(len(CATEGORIES), 0.5), n_customers)
    customers = np.array([f"c{i:04d}" for i in range(n_customers)])

    n_orders = 2000
    buyer = rng.choice(n_customers, n_orders, p=rate / rate.sum())
    order_ts = rng.integers(0, seconds, n_orders)
    n_lines = rng.integers(1, 5, n_orders)
    line_order = np.repeat(np.arange(n_orders), n_lines)
    line_customer = buyer[line_order]
    # lines of an order up to three days apart: some orders straddle AS_OF
    line_ts = order_ts[line_order] + rng.integers(0, 3 * 86400, len(line_order))
    category = np.array([rng.choice(CATEGORIES, p=taste[c]) for c in line_customer], dtype=object)
    category[rng.random(len(category)) < 0.05] = None
    amount = np.round(rng.choice([4.99, 10.0, 25.5, 60.0, 149.9], len(line_order)), 2)
    amount = amount * rng.integers(1, 4, len(line_order))
    refund = rng.random(len(amount)) < 0.06
    amount[refund] = -amount[refund]
    amount[rng.random(len(amount)) < 0.02] = 0.0
    with_id = rng.random(n_orders) < 0.7  # else every line is an order by itself
    order_id = _kept(with_id[line_order], [f"o{o}" for o in line_order])
    purchases = pd.DataFrame(
        {
            "customer_id": customers[line_customer],
            "anonymous_id": None,
            "type": "purchase",
            "ts": [START + timedelta(seconds=int(s)) for s in line_ts],
            "amount": amount,
            "category": category,
            "order_id": order_id,
        }
    )

    n_views = 3000
    viewer = rng.integers(0, n_customers + 50, n_views)  # 50 viewers never buy
    view_category = np.array(
        [rng.choice(CATEGORIES, p=taste[v % n_customers]) for v in viewer], dtype=object
    )
    view_category[rng.random(n_views) < 0.03] = "gifts"  # viewed, never bought
    view_category[rng.random(n_views) < 0.05] = None
    anonymous = rng.random(n_views) < 0.15
    views = pd.DataFrame(
        {
            "customer_id": _kept(~anonymous, [f"c{v:04d}" for v in viewer]),
            "anonymous_id": _kept(anonymous, [f"v{v % 80:03d}" for v in viewer]),
            "type": "product_view",
            "ts": [START + timedelta(seconds=int(s)) for s in rng.integers(0, seconds, n_views)],
            "amount": np.nan,
            "category": view_category,
            "order_id": None,
        }
    )

    n_visits = 800
    visitor = rng.integers(0, 120, n_visits)
    known = rng.random(n_visits) < 0.5
    visits = pd.DataFrame(
        {
            "customer_id": _kept(known, [f"c{v * 2:04d}" for v in visitor]),
            "anonymous_id": _kept(~known, [f"v{v:03d}" for v in visitor]),
            "type": "visit",
            "ts": [START + timedelta(seconds=int(s)) for s in rng.integers(0, seconds, n_visits)],
            "amount": np.nan,
            "category": None,
            "order_id": None,
        }
    )
    # identify calls: visitors v000..v019 become customers c0500.., linked before AS_OF
    links = pd.DataFrame(
        {
            "customer_id": [f"c{500 + i:04d}" for i in range(20)],
            "anonymous_id": [f"v{i:03d}" for i in range(20)],
            "type": "visit",
            "ts": [START + timedelta(days=100 + 7 * i, seconds=37) for i in range(20)],
            "amount": np.nan,
            "category": None,
            "order_id": None,
        }
    )
    return pd.concat([purchases, views, visits, links], ignore_index=True)


@pytest.fixture(scope="module")
def random_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Path]]:
    """The seeded population, scored once as of AS_OF, exported to CSV and Parquet."""
    root = tmp_path_factory.mktemp("activity_random")
    ws = Workspace.init(root / "ws")
    configure(ws, VIEWS)
    load(ws, population(seed=20240630))
    ws.score(as_of=AS_OF)
    ws.export_activity(root / "activity.csv")
    ws.export_relations(root / "relations.parquet")
    yield ws, root
    ws.close()


def test_random_population_matches_oracle(random_run: tuple[Workspace, Path]) -> None:
    ws, root = random_run
    events = population(seed=20240630)
    want = activity_oracle(events, AS_OF, VIEWS)
    # the population exercises what it should
    assert (events["ts"] >= datetime(2024, 1, 1)).any()
    assert want.activity["anonymous_id"].notna().any()
    assert "gifts" in want.pi and "gifts" not in want.r_ref
    assert want.n_active > 100 and len(want.pi) == len(CATEGORIES) + 1
    assert sum(len(v) for v in want.next_best.values()) > 100

    exported = pd.read_csv(root / "activity.csv", dtype={"customer_id": str, "anonymous_id": str})
    assert len(exported) == len(ws.activity())
    relations = pd.read_parquet(root / "relations.parquet")
    assert_matches_oracle(ws, want, activity=exported, relations=relations)
    assert_activity_matches(ws.activity(), want)


# -- edge cases ------------------------------------------------------------------------------

EDGE_T = datetime(2024, 7, 1)  # D + 1 day for D = 2024-06-30


def _edge(who: str | None, ts: datetime, type: str = "purchase", **more: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "customer_id": who,
        "anonymous_id": None,
        "type": type,
        "ts": ts,
        "amount": np.nan,
        "category": None,
        "order_id": None,
    }
    return {**row, **more}


def test_edge_cases_match_oracle(ws: Workspace) -> None:
    """The as-of boundary to the microsecond, orders straddling D, a category seen only after
    D, an anonymous buyer, a link imported after the visitor's events, lifts of null."""
    day = timedelta(days=1)
    purchases = [
        _edge("e1", EDGE_T, amount=10.0, category="x"),  # t itself: not as of D
        _edge("e1", EDGE_T - timedelta(microseconds=1), amount=10.0, category="x"),
        _edge("e1", EDGE_T - 3 * day, amount=10.0, category="x", order_id="o1"),
        _edge("e1", EDGE_T + day, amount=990.0, category="x", order_id="o1"),  # after D
        _edge("e1", EDGE_T + day, amount=5.0, category="later"),  # a category only after D
        _edge("e2", EDGE_T - 40 * day, amount=20.0, category="y", order_id="o1"),
        _edge("e2", EDGE_T - 40 * day, amount=-30.0, category="x", order_id="o1"),  # order < 0
        _edge("e2", EDGE_T - 2 * day - timedelta(microseconds=123_457), amount=7.25),
        _edge("e2", EDGE_T - 9 * day, amount=7.25, category="y"),
        _edge(None, EDGE_T - 5 * day, amount=12.0, category="y", anonymous_id="anon-buyer"),
        _edge(None, EDGE_T - 6 * day, amount=12.0, category="x", anonymous_id="anon-buyer"),
        _edge("e3", EDGE_T - 400 * day, amount=0.0, category="z"),
    ]
    first = [
        _edge(None, EDGE_T - 20 * day, "product_view", category="x", anonymous_id="w1"),
        _edge(None, EDGE_T - 21 * day, "product_view", category="z", anonymous_id="w1"),
        _edge(None, EDGE_T - 1 * day, "visit", anonymous_id="w2"),
    ]
    link = [_edge("e3", EDGE_T - 10 * day, "visit", anonymous_id="w1")]  # a later import
    configure(ws, VIEWS)
    load(ws, pd.DataFrame(purchases))
    load(ws, pd.DataFrame(first))
    load(ws, pd.DataFrame(link))
    ws.score(as_of=EDGE_T.date() - day)
    want = activity_oracle(pd.DataFrame(purchases + first + link), EDGE_T.date() - day, VIEWS)
    assert ("c:e3", "z") in want.activity.index and "later" not in want.pi
    assert want.relations["lift"].isna().any()
    assert_matches_oracle(ws, want)


def test_a_link_after_d_does_not_count_as_of_d(ws: Workspace) -> None:
    events = pd.DataFrame(
        [
            _edge(None, EDGE_T - 30 * timedelta(days=1), "visit", category="x", anonymous_id="w9"),
            _edge("k", EDGE_T + 9 * timedelta(days=1), "visit", category="x", anonymous_id="w9"),
        ]
    )
    load(ws, events)
    ws.score(as_of=EDGE_T.date() - timedelta(days=1))
    want = activity_oracle(events, EDGE_T.date() - timedelta(days=1))
    # as of D, w9 is an anonymous visitor and k has no event at all
    assert list(want.activity.index) == [("a:w9", "all"), ("a:w9", "x")]
    assert_activity_matches(ws.activity(), want)


# -- small random populations ----------------------------------------------------------------

SMALL_START = datetime(2024, 1, 1)


@st.composite
def small_population(draw: st.DrawFn) -> tuple[pd.DataFrame, date, ActivitySettings]:
    n_customers = draw(st.integers(1, 5))
    categories = ["a", "b", "c"]
    as_of_day = draw(st.integers(0, 320))
    event = st.fixed_dictionaries(
        {
            "who": st.integers(0, n_customers - 1),
            "anonymous": st.booleans(),
            "type": st.sampled_from(["purchase", "purchase", "product_view", "visit"]),
            # mostly in the last two months before D, some long before, some after; whole days
            # plus odd seconds, so that no age lands exactly on a threshold
            "day": st.one_of(
                st.integers(max(as_of_day - 60, 0), as_of_day + 5), st.integers(0, 330)
            ),
            "second": st.integers(1, 86_399),
            "amount": st.sampled_from([-20.0, 0.0, 5.0, 12.5, 40.0, 99.99]),
            "category": st.sampled_from([None, *categories]),
            "order": st.sampled_from([None, "o1", "o2", "o3"]),
            "repeat": st.integers(1, 3),  # copies a few hours apart: profiles get active
        }
    )
    raw = draw(st.lists(event, min_size=1, max_size=40))
    rows = []
    for e in cast(list[dict[str, Any]], raw):
        purchase = e["type"] == "purchase"
        anonymous = e["anonymous"] and not purchase
        for k in range(e["repeat"]):
            rows.append(
                {
                    "customer_id": None if anonymous else f"k{e['who']}",
                    "anonymous_id": f"anon{e['who']}" if anonymous else None,
                    "type": e["type"],
                    "ts": SMALL_START + timedelta(days=e["day"], seconds=e["second"], hours=5 * k),
                    "amount": e["amount"] if purchase else np.nan,
                    "category": e["category"],
                    "order_id": e["order"] if purchase else None,
                }
            )
    as_of = SMALL_START.date() + timedelta(days=as_of_day)
    s = ActivitySettings(
        half_life_short=draw(st.sampled_from([7.0, 30.0, 45.5])),
        half_life_long=draw(st.sampled_from([90.0, 180.0, 365.0])),
        weights={
            "purchase": 1.0,
            "product_view": draw(st.sampled_from([0.0, 0.2, 1.5])),
            "visit": draw(st.sampled_from([0.0, 0.5])),
        },
        rising_trend=draw(st.sampled_from([55.0, 60.0])),
        rising_min_long=draw(st.sampled_from([1.0, 3.0])),
    )
    return pd.DataFrame(rows), as_of, s


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(small_population())
def test_small_random_populations_match_oracle(
    case: tuple[pd.DataFrame, date, ActivitySettings],
) -> None:
    events, as_of, s = case
    want = activity_oracle(events, as_of, s)
    with tempfile.TemporaryDirectory() as tmp, Workspace.init(Path(tmp) / "ws") as ws:
        configure(ws, s)
        load(ws, events)
        ws.score(as_of=as_of)
        if want.activity.empty:
            assert ws.activity().empty
            return
        assert_matches_oracle(ws, want)


# -- The Complete Journey --------------------------------------------------------------------

CJ_AS_OF = date(2017, 12, 31)  # the data runs to 2018-01-01 04:01: that morning is excluded


@pytest.fixture(scope="module")
def complete_journey(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Workspace, Path, ActivityOracle]]:
    """Purchase lines with their product's department as the category, scored once."""
    transactions = pd.read_parquet(
        data_path("complete_journey", "transactions.parquet"),
        columns=["household_id", "basket_id", "product_id", "sales_value", "transaction_timestamp"],
    )
    products = pd.read_parquet(
        data_path("complete_journey", "products.parquet"), columns=["product_id", "department"]
    )
    lines = transactions.merge(products, on="product_id", how="left", validate="many_to_one")
    root = tmp_path_factory.mktemp("activity_cj")
    ws = Workspace.init(root / "ws")
    summary = ws.import_transactions(
        lines,
        customer="household_id",
        time="transaction_timestamp",
        amount="sales_value",
        category="department",
        order="basket_id",
    )
    assert summary.imported == len(lines)
    ws.score(as_of=CJ_AS_OF)
    ws.export_activity(root / "activity.parquet")
    ws.export_relations(root / "relations.csv")
    events = pd.DataFrame(
        {
            "customer_id": lines["household_id"].astype(str),
            "type": "purchase",
            "ts": lines["transaction_timestamp"],
            "amount": lines["sales_value"],
            "category": lines["department"],
            "order_id": lines["basket_id"].astype(str),
        }
    )
    yield ws, root, activity_oracle(events, CJ_AS_OF)
    ws.close()


@pytest.mark.slow
def test_complete_journey_matches_oracle(
    complete_journey: tuple[Workspace, Path, ActivityOracle],
) -> None:
    ws, root, want = complete_journey
    relations = pd.read_csv(root / "relations.csv", keep_default_na=False, na_values=[""])
    assert_matches_oracle(
        ws, want, activity=pd.read_parquet(root / "activity.parquet"), relations=relations
    )


def _relation(want: ActivityOracle, a: str, b: str) -> pd.Series:
    return want.relations.set_index(["a", "b"]).loc[(a, b)]


@pytest.mark.slow
@pytest.mark.parametrize(("a", "b"), [("MEAT", "MEAT-PCKGD"), ("SEAFOOD", "SEAFOOD-PCKGD")])
def test_complete_journey_related_departments_go_together(
    complete_journey: tuple[Workspace, Path, ActivityOracle], a: str, b: str
) -> None:
    ws, _, want = complete_journey
    got = ws.category_relations().set_index(["a", "b"])
    for x, y in ((a, b), (b, a)):
        assert got.loc[(x, y), "lift"] > 1, (x, y, got.loc[(x, y)].to_dict())
        assert got.loc[(x, y), "correlation"] > 0
        assert got.loc[(x, y), "lift"] == pytest.approx(_relation(want, x, y)["lift"], rel=1e-9)


@pytest.mark.slow
def test_complete_journey_grocery_has_the_most_active_customers(
    complete_journey: tuple[Workspace, Path, ActivityOracle],
) -> None:
    ws, _, _ = complete_journey
    relations = ws.category_relations()
    n_active = relations.loc[relations["a"] == relations["b"]].set_index("a")["n_a"]
    assert n_active.idxmax() == "GROCERY"
    # nearly every active household buys groceries, so lift(GROCERY, ·) stays close to 1
    assert n_active["GROCERY"] >= 0.95 * ws.calibration().activity.n_active


@pytest.mark.slow
def test_complete_journey_median_activity_of_the_active_is_50(
    complete_journey: tuple[Workspace, Path, ActivityOracle],
) -> None:
    ws, _, _ = complete_journey
    activity = ws.activity()
    active = activity.loc[activity["s_long"] >= 1]
    checked = 0
    for scope, group in active.groupby("scope"):
        values = np.sort(group["activity"].to_numpy())
        n = len(values)
        if n % 2:  # the median profile's S_hs is κ itself: A = 100·κ/(κ + κ)
            assert values[n // 2] == pytest.approx(50.0, rel=1e-9), scope
        else:  # κ lies between the two middle S_hs, so 50 between their A
            assert values[n // 2 - 1] <= 50.0 + 1e-9 and values[n // 2] >= 50.0 - 1e-9, scope
        checked += 1
    assert checked >= 20 and ALL in set(active["scope"])


def test_closeness_helper() -> None:
    assert _close_scalar(1.0, 1.0 + 5e-10) and not _close_scalar(1.0, 1.0 + 5e-9)
    assert _close_scalar(0.0, 1e-13) and not _close_scalar(0.0, 1e-11)
    assert _close_scalar(math.nan, math.nan) and not _close_scalar(math.nan, 0.0)
