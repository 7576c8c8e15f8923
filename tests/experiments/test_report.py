"""Automation reports over a units table with exactly the contract's columns.

The oracle is pandas on the same rows (funnel counts, means, per-customer sums) with scipy's
Welch test on the raw per-unit values and scipy's χ² test for the sample ratio.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clm.experiments import report as rp
from clm.experiments import worth as wt
from clm.experiments.measurement import Measurement

UNITS_DDL = """
CREATE TABLE units (
    automation VARCHAR, version INTEGER, enrolment_id VARCHAR, customer_id VARCHAR,
    arm VARCHAR, variant VARCHAR, enrolled_at TIMESTAMP, sent BOOLEAN, delivered BOOLEAN,
    opened BOOLEAN, clicked BOOLEAN, converted BOOLEAN, converted_at TIMESTAMP,
    revenue DOUBLE, cost DOUBLE, incentive_cost DOUBLE
)
"""
WINBACK = Measurement(margin=0.3, holdout_share=0.2)
WELCOME = Measurement(margin=0.5, holdout_share=0.1)


def make_units(seed: int = 3, n: int = 4000) -> pd.DataFrame:
    """Two automations over 1,500 customers; every 20th customer is in the global control."""
    rng = np.random.default_rng(seed)
    customer = rng.integers(0, 1500, n)
    automation = np.where(rng.random(n) < 0.6, "winback", "welcome")
    holdout = np.where(automation == "winback", 0.2, 0.1)
    arm = np.where(rng.random(n) < holdout, "control", "treatment")
    arm = np.where(customer % 20 == 0, "global_control", arm)
    treated = arm == "treatment"
    variant = np.where(
        treated & (automation == "winback"), np.where(rng.random(n) < 0.5, "A", "B"), None
    )
    sent = treated & (rng.random(n) < 0.97)
    delivered = sent & (rng.random(n) < 0.95)
    opened = delivered & (rng.random(n) < 0.4)
    clicked = opened & (rng.random(n) < 0.3)
    converted = rng.random(n) < np.where(treated, 0.14, 0.10)
    revenue = np.where(converted, rng.gamma(3.0, 25.0, n), 0.0)
    start = datetime(2026, 3, 1)
    enrolled = [
        start + timedelta(days=int(d), hours=int(h))
        for d, h in zip(rng.integers(0, 10, n), rng.integers(0, 24, n), strict=True)
    ]
    return pd.DataFrame(
        {
            "automation": automation,
            "version": 1,
            "enrolment_id": [f"e{i}" for i in range(n)],
            "customer_id": [f"c{c}" for c in customer],
            "arm": arm,
            "variant": variant,
            "enrolled_at": enrolled,
            "sent": sent,
            "delivered": delivered,
            "opened": opened,
            "clicked": clicked,
            "converted": converted,
            "converted_at": [
                e + timedelta(days=2) if c else None
                for e, c in zip(enrolled, converted, strict=True)
            ],
            "revenue": revenue,
            "cost": np.where(sent, 0.05, 0.0),
            "incentive_cost": np.where(converted & treated, 4.0, 0.0),
        }
    )


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_units()


@pytest.fixture
def con(frame: pd.DataFrame) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    connection.execute(UNITS_DDL)
    connection.register("frame", frame)
    connection.execute("INSERT INTO units SELECT * FROM frame")
    connection.unregister("frame")
    yield connection
    connection.close()


ONE = "SELECT * FROM units WHERE automation = ?"


def profit(df: pd.DataFrame, margin: float) -> pd.Series:
    return df.revenue * margin - df.incentive_cost - df.cost


def test_funnel_per_arm_and_variant(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> None:
    report = rp.automation_report(con, ONE, ["winback"], "winback", WINBACK)
    df = frame[frame.automation == "winback"]
    keys = [(a["arm"], a["variant"]) for a in report["arms"]]
    assert keys == [
        ("control", None),
        ("treatment", "A"),
        ("treatment", "B"),
        ("global_control", None),
    ]
    for block in report["arms"]:
        rows = df[(df.arm == block["arm"])]
        rows = (
            rows[rows.variant.isna()]
            if block["variant"] is None
            else rows[rows.variant == block["variant"]]
        )
        assert block["enrolled"] == block["n"] == len(rows)
        for step in ("sent", "delivered", "opened", "clicked", "converted"):
            assert block[step] == int(rows[step].sum()), step
        assert block["revenue"] == pytest.approx(rows.revenue.sum())
        assert block["cost"] == pytest.approx((rows.cost + rows.incentive_cost).sum())
        assert block["metrics"]["converted"]["mean"] == pytest.approx(rows.converted.mean())
        assert block["metrics"]["profit"]["sum"] == pytest.approx(profit(rows, 0.3).sum())
    assert sum(a["sent"] for a in report["arms"] if a["arm"] != "treatment") == 0


def test_effects_match_scipy_welch(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> None:
    report = rp.automation_report(con, ONE, ["winback"], "winback", WINBACK)
    df = frame[frame.automation == "winback"]
    control = df[df.arm == "control"]
    found = {(e["variant"], e["metric"]): e for e in report["effects"]}
    # variants A and B, and the pooled treatment arm (variant None)
    assert set(found) == {(v, m) for v in ("A", "B", None) for m in ("converted", "revenue")}
    for variant in ("A", "B", None):
        t = df[df.arm == "treatment"]
        t = t if variant is None else t[t.variant == variant]
        ref = stats.ttest_ind(t.revenue, control.revenue, equal_var=False)
        e = found[(variant, "revenue")]
        assert e["arm"] == "treatment"
        assert e["absolute"]["estimate"] == pytest.approx(t.revenue.mean() - control.revenue.mean())
        assert e["absolute"]["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
        ci = ref.confidence_interval(0.95)
        assert e["absolute"]["ci"] == pytest.approx([ci.low, ci.high], rel=1e-9)
        p1, p0 = t.converted.mean(), control.converted.mean()
        conv = stats.ttest_ind_from_stats(
            p1,
            np.sqrt(p1 * (1 - p1)),
            len(t),
            p0,
            np.sqrt(p0 * (1 - p0)),
            len(control),
            equal_var=False,
        )
        assert found[(variant, "converted")]["absolute"]["p_value"] == pytest.approx(
            conv.pvalue, rel=1e-9
        )


def test_worth_is_the_difference_scaled_to_the_treated(
    con: duckdb.DuckDBPyConnection, frame: pd.DataFrame
) -> None:
    report = rp.automation_report(con, ONE, ["winback"], "winback", WINBACK)
    df = frame[frame.automation == "winback"]
    t, c = df[df.arm == "treatment"], df[df.arm == "control"]
    w = report["worth"]
    assert (w["treated"], w["control"], w["population"]) == (len(t), len(c), len(t))
    assert w["cost"] == pytest.approx((t.cost + t.incentive_cost).sum())
    for quantity, column in (("revenue", "revenue"), ("profit", None)):
        y1 = t.revenue if column else profit(t, 0.3)
        y0 = c.revenue if column else profit(c, 0.3)
        ref = stats.ttest_ind(y1, y0, equal_var=False)
        ci = ref.confidence_interval(0.95)
        assert w[quantity]["estimate"] == pytest.approx(len(t) * (y1.mean() - y0.mean()))
        assert w[quantity]["ci"] == pytest.approx([len(t) * ci.low, len(t) * ci.high], rel=1e-9)
        assert w[quantity]["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
    conv = w["conversions"]
    assert conv["estimate"] == pytest.approx(len(t) * (t.converted.mean() - c.converted.mean()))
    by_variant = {b["variant"]: b for b in report["worth_by_variant"]}
    assert set(by_variant) == {"A", "B"}
    assert by_variant["A"]["treated"] == int((t.variant == "A").sum())


def test_srm_against_the_configured_holdout(
    con: duckdb.DuckDBPyConnection, frame: pd.DataFrame
) -> None:
    df = frame[frame.automation == "winback"]
    n_c, n_t = int((df.arm == "control").sum()), int((df.arm == "treatment").sum())
    ref = stats.chisquare([n_c, n_t], [0.2 * (n_c + n_t), 0.8 * (n_c + n_t)])
    report = rp.automation_report(con, ONE, ["winback"], "winback", WINBACK)
    assert report["srm"]["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert report["srm"]["flag"] is False
    # the same arms against a 50/50 split that was never configured: a clear mismatch
    wrong = rp.automation_report(con, ONE, ["winback"], "winback", Measurement(0.3, 0.5))
    assert wrong["srm"]["flag"] is True
    unknown = rp.automation_report(con, ONE, ["winback"], "winback", Measurement(0.3))
    assert unknown["srm"] == {
        "p_value": None,
        "flag": None,
        "reason": "no holdout share is configured",
    }


def test_daily_series_is_cumulative(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> None:
    report = rp.automation_report(con, ONE, ["welcome"], "welcome", WELCOME)
    df = frame[frame.automation == "welcome"]
    days = sorted(df.enrolled_at.dt.date.unique())
    assert [p["day"] for p in report["daily"]] == [d.isoformat() for d in days]
    for point, day in zip(report["daily"], days, strict=True):
        upto = df[df.enrolled_at.dt.date <= day]
        t, c = upto[upto.arm == "treatment"], upto[upto.arm == "control"]
        assert (point["treated"], point["control"]) == (len(t), len(c))
        ref = stats.ttest_ind(t.revenue, c.revenue, equal_var=False).confidence_interval(0.95)
        assert point["effects"]["revenue"]["ci"] == pytest.approx([ref.low, ref.high], rel=1e-9)
        diff = t.converted.mean() - c.converted.mean()
        assert point["effects"]["converted"]["estimate"] == pytest.approx(diff)
    last = report["daily"][-1]["worth"]["profit"]
    assert last["estimate"] == pytest.approx(report["worth"]["profit"]["estimate"])
    assert last["ci"] == pytest.approx(report["worth"]["profit"]["ci"])


def test_an_automation_without_control_says_why(con: duckdb.DuckDBPyConnection) -> None:
    sql = "SELECT * FROM units WHERE automation = ? AND arm = 'treatment'"
    report = rp.automation_report(con, sql, ["welcome"], "welcome", WELCOME)
    for quantity in ("conversions", "revenue", "profit"):
        assert report["worth"][quantity]["reason"] == "no control units"
        assert report["worth"][quantity]["estimate"] is None
    assert report["srm"]["flag"] is True  # every unit treated against a configured 10% holdout


def test_automations_ranked_by_incremental_profit(
    con: duckdb.DuckDBPyConnection, frame: pd.DataFrame
) -> None:
    measurements = {"winback": WINBACK, "welcome": WELCOME}
    result = rp.automations_report(con, "SELECT * FROM units", [], measurements)
    rows = result["automations"]
    assert [r["rank"] for r in rows] == [1, 2]
    profits = [r["worth"]["profit"]["estimate"] for r in rows]
    assert profits == sorted(profits, reverse=True)
    for r in rows:
        alone = rp.automation_report(
            con, ONE, [r["automation"]], r["automation"], measurements[r["automation"]]
        )
        assert r["worth"] == alone["worth"]
        assert r["enrolled"] == int((frame.automation == r["automation"]).sum())


def test_programme_worth_against_the_global_control(
    con: duckdb.DuckDBPyConnection, frame: pd.DataFrame
) -> None:
    margins = {"winback": 0.3, "welcome": 0.5}
    result = rp.automations_report(
        con, "SELECT * FROM units", [], {k: Measurement(m, None) for k, m in margins.items()}
    )
    df = frame.assign(
        profit=frame.revenue * frame.automation.map(margins) - frame.incentive_cost - frame.cost
    )
    per = df.groupby("customer_id").agg(
        gc=("arm", lambda a: (a == "global_control").any()),
        treated=("arm", lambda a: (a == "treatment").any()),
        converted=("converted", "max"),
        revenue=("revenue", "sum"),
        profit=("profit", "sum"),
    )
    held, treated = per[per.gc], per[~per.gc & per.treated]
    programme = result["programme"]
    assert programme["global_control_customers"] == len(held) > 0
    assert programme["treated_customers"] == len(treated)
    w = programme["worth"]
    for quantity in ("revenue", "profit"):
        ref = stats.ttest_ind(treated[quantity], held[quantity], equal_var=False)
        ci = ref.confidence_interval(0.95)
        assert w[quantity]["ci"] == pytest.approx(
            [len(treated) * ci.low, len(treated) * ci.high], rel=1e-9
        )
    diff = treated.converted.mean() - held.converted.mean()
    assert w["conversions"]["estimate"] == pytest.approx(len(treated) * diff)


def test_sql_aggregation_equals_the_reference_aggregation(
    con: duckdb.DuckDBPyConnection, frame: pd.DataFrame
) -> None:
    cells = rp.cells(con, "SELECT * FROM units", [], {"winback": 0.3, "welcome": 0.5})
    for name, margin in (("winback", 0.3), ("welcome", 0.5)):
        df = frame[(frame.automation == name) & (frame.arm == "treatment")]
        reference = wt.outcomes(df.converted, df.revenue, df.incentive_cost, df.cost, margin)
        summed = sum(
            (c.outcomes for c in cells if c.automation == name and c.arm == "treatment"),
            wt.Outcomes(),
        )
        assert summed.n == reference.n
        for q in wt.QUANTITIES:
            a, b = summed.of(q), reference.of(q)
            assert (a.sum, a.sum_sq) == pytest.approx((b.sum, b.sum_sq), rel=1e-12)
        assert summed.cost == pytest.approx(reference.cost)


def test_missing_values_count_as_nothing(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "INSERT INTO units VALUES ('odd', 1, 'x1', 'c9', 'treatment', NULL, "
        "TIMESTAMP '2026-03-01 10:00', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
    )
    report = rp.automation_report(con, ONE, ["odd"], "odd", WELCOME)
    (arm,) = report["arms"]
    assert (arm["enrolled"], arm["sent"], arm["converted"]) == (1, 0, 0)
    assert (arm["revenue"], arm["cost"], arm["profit"]) == (0.0, 0.0, 0.0)
    assert report["worth"]["profit"]["reason"] == "no control units"


def test_no_units_at_all(con: duckdb.DuckDBPyConnection) -> None:
    empty = "SELECT * FROM units WHERE false"
    report = rp.automation_report(con, empty, [], "winback", WINBACK)
    assert report["arms"] == [] and report["effects"] == [] and report["daily"] == []
    assert report["worth"]["revenue"]["reason"] == "no treated units"
    both = rp.automations_report(con, empty, [], {})
    assert both["automations"] == []
    assert both["programme"]["worth"]["profit"]["reason"] == "no treated units"
