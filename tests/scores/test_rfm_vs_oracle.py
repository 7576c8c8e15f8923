"""clm's RFM scores and lifecycle segments against the independent pandas oracle (SPEC §1–3).

Every profile must agree on recency, frequency, lifetime orders, the three scores, the segment
and the phase exactly, and on monetary within 1e-6; the stored calibration must equal the
oracle's cut points. Data: CDNOW master, a generated Online-Retail-style invoice file, The
Complete Journey, and small random populations (hypothesis).
"""

from __future__ import annotations

import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clm import ScoringRun, Workspace
from tests.conftest import data_path
from tests.oracles import test_rfm_oracle as hand
from tests.oracles.rfm import OracleResult, rfm_oracle

EXACT = [
    "recency_days",
    "frequency",
    "n_orders_life",
    "r_score",
    "f_score",
    "m_score",
    "segment",
    "phase",
]


def _normalized(column: pd.Series) -> pd.Series:
    """Values as comparable text, nulls (None, NaN, NA) as ``"<null>"``."""
    values = column.astype(object).where(column.notna(), None)
    return values.map(lambda v: "<null>" if v is None else str(int(v)) if _integral(v) else str(v))


def _integral(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and float(value).is_integer()


def assert_matches_oracle(ws: Workspace, run: ScoringRun, expected: OracleResult) -> None:
    """Assert that clm's latest scores and calibration equal the oracle's, profile by profile."""
    got = ws.scores()
    assert isinstance(got, pd.DataFrame)
    assert got["customer_id"].notna().all(), "unexpected anonymous profiles"
    got = got.set_index("customer_id").sort_index()
    want = expected.scores
    assert got.index.is_unique
    missing = want.index.difference(got.index)
    extra = got.index.difference(want.index)
    assert missing.empty and extra.empty, (
        f"profiles only in the oracle: {list(missing[:10])}; only in clm: {list(extra[:10])}"
    )
    got = got.loc[want.index]

    problems = []
    for col in EXACT:
        a, b = _normalized(got[col]), _normalized(want[col])
        bad = a.index[(a != b).to_numpy()]
        if len(bad):
            sample = {cid: (a[cid], b[cid]) for cid in bad[:5]}
            problems.append(f"{col}: {len(bad)} profiles differ (clm, oracle): {sample}")
    diff = (got["monetary"].astype(float) - want["monetary"]).abs()
    bad = diff.index[~(diff <= 1e-6).to_numpy()]
    if len(bad):
        sample = {cid: (got.loc[cid, "monetary"], want.loc[cid, "monetary"]) for cid in bad[:5]}
        problems.append(f"monetary: {len(bad)} profiles differ (clm, oracle): {sample}")
    assert not problems, "\n".join(problems)

    cal = run.calibration.rfm  # the RFM part of the stored calibration
    n_buyers = int((want["n_orders_life"] >= 1).sum())
    assert cal.n_buyers == n_buyers
    if n_buyers:
        assert tuple(cal.r_cuts) == expected.r_cuts
        assert tuple(cal.f_cuts) == expected.f_cuts
        assert np.allclose(cal.m_cuts, expected.m_cuts, rtol=0, atol=1e-6)


def import_population(
    ws: Workspace,
    purchases: pd.DataFrame,
    visits: pd.DataFrame | None = None,
    emails: list[str] | tuple[str, ...] = (),
) -> None:
    """Import oracle-shaped frames into clm (purchase lines, visit events, customers' emails)."""
    ws.import_transactions(
        purchases, customer="customer_id", time="ts", amount="amount", order="order_id"
    )
    if visits is not None and len(visits):
        ws.import_events(visits, type="visit", customer="customer_id", time="ts")
    if emails:
        people = pd.DataFrame(
            {"customer_id": list(emails), "email": [f"{c}@example.com" for c in emails]}
        )
        ws.import_customers(people, customer="customer_id", email="email")


# -- The hand-made populations of the oracle's own tests -----------------------------------------


def _segments() -> tuple[pd.DataFrame, pd.DataFrame | None, list[str], str, int, str]:
    purchases, seen, emails = hand.segment_population()
    return purchases, seen, emails, "2020-12-31", 365, "fixed"


def _segments_quantile() -> tuple[pd.DataFrame, pd.DataFrame | None, list[str], str, int, str]:
    return (*_segments()[:5], "quantile")


HAND_MADE = {
    "refunds": lambda: (hand.lines(hand.REFUND_ROWS), None, [], "2020-06-30", 365, "fixed"),
    "orders": lambda: (hand.lines(hand.ORDER_ROWS), None, [], "2020-06-30", 365, "fixed"),
    "boundaries": lambda: (
        hand.lines(hand.BOUNDARY_ROWS),
        hand.visits(hand.BOUNDARY_VISITS),
        [],
        "2020-06-30",
        30,
        "fixed",
    ),
    "default-window": lambda: (
        hand.lines(hand.DEFAULT_WINDOW_ROWS),
        None,
        [],
        "2020-06-30",
        365,
        "fixed",
    ),
    "segments": _segments,
    "segments-quantile-f": _segments_quantile,
}


@pytest.mark.parametrize("case", list(HAND_MADE))
def test_hand_made_populations(ws: Workspace, case: str) -> None:
    purchases, seen, emails, as_of, window, frequency = HAND_MADE[case]()
    import_population(ws, purchases, seen, emails)
    ws.config_set("rfm.window_days", str(window))
    ws.config_set("rfm.frequency", frequency)
    run = ws.score(as_of=as_of)
    expected = rfm_oracle(
        purchases,
        as_of,
        window_days=window,
        visits=seen,
        emails=emails,
        frequency=frequency,  # type: ignore[arg-type]
    )
    assert_matches_oracle(ws, run, expected)


# -- CDNOW master --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cdnow_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """CDNOW master as a CSV (ids kept as text, e.g. ``00001``) and its lines for the oracle."""
    raw = pd.read_csv(data_path("cdnow", "CDNOW_master.txt"), sep=r"\s+", dtype=str)
    path = tmp_path_factory.mktemp("cdnow") / "cdnow.csv"
    raw.to_csv(path, index=False)
    lines = pd.DataFrame(
        {
            "customer_id": raw["customer_id"],
            "ts": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "amount": raw["dollar_value"].astype(float),
        }
    )
    return path, lines


@pytest.mark.slow
@pytest.mark.parametrize(
    ("as_of", "window", "frequency"),
    [("1998-06-30", 365, "fixed"), ("1997-12-31", 180, "fixed"), ("1998-06-30", 365, "quantile")],
)
def test_cdnow_master(
    ws: Workspace, cdnow_csv: tuple[Path, pd.DataFrame], as_of: str, window: int, frequency: str
) -> None:
    path, lines = cdnow_csv
    summary = ws.import_transactions(
        path, customer="customer_id", time="date", time_format="%Y%m%d", amount="dollar_value"
    )
    assert summary.imported == len(lines) == 69_659
    ws.config_set("rfm.window_days", str(window))
    ws.config_set("rfm.frequency", frequency)
    run = ws.score(as_of=as_of)
    expected = rfm_oracle(lines, as_of, window_days=window, frequency=frequency)  # type: ignore[arg-type]
    assert len(expected.scores) == 23_570
    assert_matches_oracle(ws, run, expected)


# -- A generated Online-Retail-style invoice file -------------------------------------------------

DESCRIPTIONS = [
    "WHITE HANGING HEART T-LIGHT HOLDER",
    "REGENCY CAKESTAND 3 TIER",
    "SET OF 3 CAKE TINS, PANTRY DESIGN",
    "JUMBO BAG RED RETROSPOT",
    "PARTY BUNTING",
    "LUNCH BAG, BLACK SKULL",
    "ASSORTED COLOUR BIRD ORNAMENT",
    "POSTAGE",
]
PRICES = np.array(
    [0.0, 0.29, 0.42, 0.55, 0.65, 0.85, 1.25, 1.65, 2.1, 2.55, 2.95, 3.75, 4.95, 7.95, 12.75, 18.0]
)
PRICE_P = np.array([0.5, 6, 8, 10, 10, 12, 12, 10, 8, 8, 6, 4, 3, 1.5, 0.7, 0.3])


def write_online_retail(path: Path, seed: int = 20101201, n_customers: int = 3000) -> int:
    """Write an Online-Retail-style CSV; return its number of data lines.

    Invoices of 1-20 lines with one timestamp each ("12/1/2010 8:26", 2010-12-01 to 2011-12-09);
    about 8% of invoices are cancelled in part by a "C"-invoice with negative quantities up to
    30 days later; ten more customers only have a cancellation (of a purchase before the file);
    about 2% of invoices carry no CustomerID (their cancellations may); about 1% of lines
    appear twice (exact duplicates, which are two lines); a few prices are zero.
    """
    rng = np.random.default_rng(seed)
    first, span = datetime(2010, 12, 1, 8, 0), 373 * 24 * 60  # minutes to 2011-12-09 08:00
    n_inv_per_customer = 1 + rng.negative_binomial(1, 0.2, size=n_customers)
    inv_customer = np.repeat(np.arange(12346, 12346 + n_customers), n_inv_per_customer)
    n_inv = len(inv_customer)
    inv_minute = np.sort(rng.integers(0, span, size=n_inv))
    rng.shuffle(inv_customer)
    n_lines = 1 + rng.poisson(5, size=n_inv).clip(max=19)
    inv = np.repeat(np.arange(n_inv), n_lines)
    stock = rng.integers(0, 400, size=len(inv))
    price_of_stock = rng.choice(PRICES, size=400, p=PRICE_P / PRICE_P.sum())
    frame = pd.DataFrame(
        {
            "inv": inv,
            "StockCode": (84000 + stock).astype(str),
            "Description": np.array(DESCRIPTIONS)[stock % len(DESCRIPTIONS)],
            "Quantity": rng.choice([1, 2, 3, 4, 6, 12, 24], size=len(inv)),
            "UnitPrice": price_of_stock[stock],
            "minute": inv_minute[inv],
            "CustomerID": inv_customer[inv].astype(str),
            "Country": rng.choice(["United Kingdom", "France", "EIRE", "Germany"], len(inv)),
        }
    )
    frame["InvoiceNo"] = (536365 + frame["inv"]).astype(str)
    # Partial cancellations: some lines of ~8% of the invoices, later, with negative quantity.
    cancelled = rng.random(n_inv) < 0.08
    cancel = frame[cancelled[frame["inv"]] & (rng.random(len(frame)) < 0.6)].copy()
    cancel["InvoiceNo"] = "C" + cancel["InvoiceNo"]
    cancel["Quantity"] = -cancel["Quantity"]
    cancel["minute"] = (cancel["minute"] + rng.integers(60, 30 * 24 * 60, len(cancel))).clip(
        upper=span
    )
    # Cancellations of purchases made before the file starts: customers with only refunds.
    orphans = frame.sample(n=10, random_state=seed).copy()
    orphans["inv"] = n_inv + np.arange(10)
    orphans["InvoiceNo"] = "C" + (536365 + orphans["inv"]).astype(str)
    orphans["CustomerID"] = (12346 + n_customers + np.arange(10)).astype(str)
    orphans["Quantity"] = -orphans["Quantity"]
    frame = pd.concat([frame, cancel, orphans], ignore_index=True)
    # ~2% of invoices (with their lines) have no CustomerID.
    anonymous = rng.random(n_inv + 10) < 0.02
    frame.loc[anonymous[frame["inv"]] & ~frame["InvoiceNo"].str.startswith("C"), "CustomerID"] = ""
    # ~1% exact duplicate lines.
    frame = pd.concat([frame, frame[rng.random(len(frame)) < 0.01]], ignore_index=True)
    frame = frame.sort_values(["minute", "InvoiceNo"], kind="stable")
    stamp = pd.Timestamp(first) + pd.to_timedelta(frame["minute"], unit="min")
    frame["InvoiceDate"] = [f"{t.month}/{t.day}/{t.year} {t.hour}:{t.minute:02d}" for t in stamp]
    columns = [
        "InvoiceNo",
        "StockCode",
        "Description",
        "Quantity",
        "UnitPrice",
        "InvoiceDate",
        "CustomerID",
        "Country",
    ]
    frame[columns].to_csv(path, index=False)
    return len(frame)


def read_online_retail(path: Path) -> pd.DataFrame:
    """The purchase lines of the file as the oracle sees them (rows with a CustomerID)."""
    raw = pd.read_csv(path, dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": str})
    raw = raw[raw["CustomerID"].notna()]
    return pd.DataFrame(
        {
            "customer_id": raw["CustomerID"],
            "ts": pd.to_datetime(raw["InvoiceDate"], format="%m/%d/%Y %H:%M"),
            "amount": raw["Quantity"] * raw["UnitPrice"],
            "order_id": raw["InvoiceNo"],
        }
    )


@pytest.mark.parametrize(("as_of", "window"), [("2011-12-09", 365), ("2011-06-30", 90)])
def test_online_retail_style(ws: Workspace, tmp_path: Path, as_of: str, window: int) -> None:
    path = tmp_path / "online_retail.csv"
    n_rows = write_online_retail(path)
    lines = read_online_retail(path)
    assert lines["order_id"].str.startswith("C").any()
    summary = ws.import_transactions(
        path,
        customer="CustomerID",
        time="InvoiceDate",
        time_format="%m/%d/%Y %H:%M",
        amount="Quantity*UnitPrice",
        order="InvoiceNo",
        where="CustomerID IS NOT NULL",
    )
    assert summary.rows_read == n_rows
    assert summary.imported == len(lines)  # exact duplicate lines are kept
    assert summary.duplicates == 0
    ws.config_set("rfm.window_days", str(window))
    run = ws.score(as_of=as_of)
    expected = rfm_oracle(lines, as_of, window_days=window)
    assert (expected.scores["segment"] == "Prospect").any()  # refund-only customers
    assert_matches_oracle(ws, run, expected)
    # Re-importing the same file adds nothing.
    again = ws.import_transactions(
        path,
        customer="CustomerID",
        time="InvoiceDate",
        time_format="%m/%d/%Y %H:%M",
        amount="Quantity*UnitPrice",
        order="InvoiceNo",
        where="CustomerID IS NOT NULL",
    )
    assert again.imported == 0


# -- The Complete Journey -------------------------------------------------------------------------


@pytest.mark.slow
def test_complete_journey(ws: Workspace) -> None:
    path = data_path("complete_journey", "transactions.parquet")
    raw = pd.read_parquet(
        path, columns=["household_id", "basket_id", "sales_value", "transaction_timestamp"]
    )
    lines = pd.DataFrame(
        {
            "customer_id": raw["household_id"].astype(str),
            "ts": raw["transaction_timestamp"],
            "amount": raw["sales_value"],
            "order_id": raw["basket_id"],
        }
    )
    summary = ws.import_transactions(
        path,
        customer="household_id",
        time="transaction_timestamp",
        amount="sales_value",
        order="basket_id",
    )
    assert summary.imported == len(lines)
    # Mid-year with a short window first (``ws.scores()`` shows the run with the latest as-of
    # date, so the earlier date goes first), then the last date with the default window.
    ws.config_set("rfm.window_days", "90")
    run = ws.score(as_of="2017-09-30")
    assert_matches_oracle(ws, run, rfm_oracle(lines, "2017-09-30", window_days=90))
    ws.config_set("rfm.window_days", "365")
    last = lines["ts"].max().date()
    assert last == date(2018, 1, 1)
    run = ws.score(as_of=last)
    assert_matches_oracle(ws, run, rfm_oracle(lines, last))


# -- Small random populations ---------------------------------------------------------------------

AS_OF = date(2021, 3, 31)
END = datetime(2021, 4, 1)  # D + 1 day
IDS = [f"c{i}" for i in range(8)]


@st.composite
def populations(draw: st.DrawFn) -> dict[str, Any]:
    """Purchase lines (refunds, zero amounts, multi-line orders), visits, emails, W, F mode.

    Lines come in groups sharing a customer, an order id (or none: each line its own order)
    and a first time; the group's other lines follow seconds to days later, or a day earlier,
    so an order's earliest line is not always its first row. Order ids repeat across groups
    and customers. Times cluster on the edges that matter: the window start, D + 1 day and D
    itself (± 1 s), besides uniform times over ~14 months.
    """
    window = draw(st.sampled_from([365, 90, 30, 7]))
    start = END - timedelta(days=window)
    anchor = st.sampled_from([start, END, END - timedelta(days=1)])
    edge = st.builds(lambda a, s: a + timedelta(seconds=s), anchor, st.sampled_from([-1, 0, 1]))
    uniform = st.integers(-420 * 86400, 2 * 86400).map(lambda s: END + timedelta(seconds=s))
    when = st.one_of(edge, uniform, uniform)
    cents = st.one_of(
        st.integers(1, 100_000), st.integers(1, 100_000), st.integers(-20_000, -1), st.just(0)
    )
    later = st.sampled_from([0, 0, 1, 3600, 86400, 10 * 86400, -86400]).map(
        lambda s: timedelta(seconds=s)
    )
    order = st.one_of(st.none(), st.sampled_from(["o1", "o2", "o3"]))
    customer = st.sampled_from(IDS)
    groups = draw(
        st.lists(
            st.tuples(
                customer, order, when, st.lists(st.tuples(later, cents), min_size=1, max_size=4)
            ),
            min_size=1,
            max_size=15,
        )
    )
    rows = [(c, t + dt, amount, o) for c, o, t, group in groups for dt, amount in group]
    # Identical lines: repeat some rows as they are.
    rows += draw(st.lists(st.sampled_from(rows), max_size=3))
    purchases = pd.DataFrame(rows, columns=["customer_id", "ts", "cents", "order_id"])
    purchases["amount"] = purchases.pop("cents") / 100
    purchases["ts"] = purchases["ts"].astype("datetime64[us]")
    visits = pd.DataFrame(
        draw(st.lists(st.tuples(customer, when), max_size=10)), columns=["customer_id", "ts"]
    )
    visits["ts"] = visits["ts"].astype("datetime64[us]")
    emails = sorted(draw(st.sets(customer, max_size=4)))
    frequency = draw(st.sampled_from(["fixed", "quantile"]))
    return {
        "purchases": purchases,
        "visits": visits,
        "emails": emails,
        "window": window,
        "frequency": frequency,
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(populations())
def test_random_populations(population: dict[str, Any]) -> None:
    purchases: pd.DataFrame = population["purchases"]
    visits: pd.DataFrame = population["visits"]
    emails: list[str] = population["emails"]
    with tempfile.TemporaryDirectory() as folder:
        ws = Workspace.init(Path(folder) / "ws")
        try:
            import_population(ws, purchases, visits, emails)
            ws.config_set("rfm.window_days", str(population["window"]))
            ws.config_set("rfm.frequency", population["frequency"])
            run = ws.score(as_of=AS_OF)
            expected = rfm_oracle(
                purchases,
                AS_OF,
                window_days=population["window"],
                visits=visits,
                emails=emails,
                frequency=population["frequency"],
            )
            assert_matches_oracle(ws, run, expected)
        finally:
            ws.close()
