"""One scoring run: RFM, segments, the activity family, relations, next best.

The population work runs on an engine (DuckDB or Spark) as Ibis expressions;
the engine returns aggregates (value counts, medians, sums, pair counts), Python
turns them into the calibration, and the scored tables come back to the
workspace database, where the segment history is joined in and everything is
written in one transaction. A run for an as-of date replaces an earlier run for
the same date, so the history holds one snapshot per date. The run's small summaries
(:mod:`clm.store.summaries`) are written in the same transaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import ibis.expr.types as ir

from clm.config import RfmSection, Settings
from clm.errors import ScoringError
from clm.progress import Progress
from clm.scores import activity, clv, relations, rfm, segments
from clm.scores.calibration import (
    ActivityCalibration,
    Calibration,
    RfmCalibration,
    percentile_disc,
)
from clm.store import summaries
from clm.store.database import transaction
from clm.store.engines import Engine

SCORED = "_clm_scored"
ACTIVITY = "_clm_activity"
NEXT_BEST = "_clm_next_best"
CLV = "_clm_clv"
# A run's rows are stored sorted by profile: DuckDB's per-row-group min/max then skip all
# but a row group or two when a page looks up one profile (12M activity rows: 152 ms -> 4 ms).
BY_PROFILE = "ORDER BY pkey, pkind"


@dataclass(frozen=True)
class ScoringRun:
    """What a scoring run did."""

    run_id: int
    as_of: date
    window_days: int
    engine: str
    n_profiles: int
    n_buyers: int
    seconds: float
    calibration: Calibration


def calibrate_rfm(inputs: ir.Table, as_of: date, settings: RfmSection) -> RfmCalibration:
    """Cut points from the buyers' value counts (SPEC §2)."""

    def cuts(column: str, sign: float = 1.0) -> tuple[float, ...]:
        counts = rfm.value_counts(inputs, column).to_pyarrow()
        values = [sign * float(v) for v in counts.column("value").to_pylist()]
        return percentile_disc(values, counts.column("n").to_pylist())

    n_buyers = int(rfm.buyers(inputs).count().to_pyarrow().as_py())
    if settings.frequency == "quantile":
        f_cuts = cuts("frequency")
    else:
        f_cuts = tuple(float(t) for t in settings.frequency_thresholds)
    return RfmCalibration(
        as_of=as_of,
        window_days=settings.window_days,
        n_buyers=n_buyers,
        r_cuts=cuts("recency_days", -1.0),
        f_mode=settings.frequency,
        f_cuts=f_cuts,
        m_cuts=cuts("monetary"),
    )


def mean_positive_order(inputs: ir.Table) -> float:
    """The mean amount of positive orders up to D, from the per-profile totals."""
    totals = (
        inputs.aggregate(value=inputs.order_value_life.sum(), orders=inputs.n_orders_life.sum())
        .to_pyarrow()
        .to_pylist()[0]
    )
    orders = int(totals["orders"] or 0)
    return float(totals["value"] or 0.0) / orders if orders else 0.0


def category_relations(
    wide: ir.Table,
    categories: list[str],
    inputs: ir.Table,
    cal: ActivityCalibration,
    n_buyers: int,
) -> list[relations.Relation]:
    """The lift and correlation matrices from the engine's pair counts and sums over
    :func:`relations.by_profile`."""
    if not categories:
        return []
    n = len(categories)
    counts = relations.active_pairs(wide, n).to_pyarrow().to_pylist()[0]
    sums = relations.spend_moments(wide, rfm.buyers(inputs), n).to_pyarrow().to_pylist()[0]
    pair_counts = {pair: int(v) for pair, v in relations.unfold(counts, "n", categories).items()}
    cross = relations.unfold(sums, "sxy", categories)
    n_active = {a: pair_counts[(a, a)] for a in categories}
    moments = {a: (float(sums[f"sx_{i}"] or 0.0), cross[(a, a)]) for i, a in enumerate(categories)}
    return relations.relations(
        categories, n_active, cal.n_active, pair_counts, n_buyers, moments, cross
    )


def lifetime_value(
    con: duckdb.DuckDBPyConnection, events: ir.Table, as_of: date, settings: Settings
) -> dict[str, Any]:
    """Fit the CLV models on the purchases up to D and store every buyer's values in the
    temporary table ``CLV``; the fits (or why one was skipped) go into the calibration."""
    con.execute(f"DROP TABLE IF EXISTS {CLV}")
    data = clv.summaries(events, as_of)
    cfg = settings.clv
    fitted, patterns, inverse = clv.fit(data, as_of, cfg.time_unit, cfg.model)
    summary = fitted.to_dict() | {"settings": cfg.model_dump()}
    if fitted.purchase_fit(cfg.model) is None:
        return summary
    try:
        table = clv.scored(data, fitted, patterns, inverse, cfg)
    except ScoringError as exc:
        summary.setdefault("skipped", {})["scores"] = str(exc)
        return summary
    con.register("_clm_clv_arrow", table)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {CLV} AS SELECT * FROM _clm_clv_arrow")
    finally:
        con.unregister("_clm_clv_arrow")
    return summary


def run(
    con: duckdb.DuckDBPyConnection,
    engine: Engine,
    as_of: date,
    settings: Settings,
    progress: Progress | None = None,
) -> ScoringRun:
    """Score every profile as of ``as_of`` on ``engine`` and store the result."""
    started = datetime.now(UTC).replace(tzinfo=None)
    clock = time.perf_counter()
    next_id = con.execute("SELECT coalesce(max(run_id), 0) + 1 FROM scoring_runs").fetchall()
    run_id = int(next_id[0][0])
    step = progress.phase if progress else (lambda _d: None)
    src = engine.sources()
    events = rfm.resolved_events(src, as_of)  # a view: each consumer scans the events once

    step("RFM inputs and cut points")
    inputs = engine.cache(rfm.profile_inputs(src, events, as_of, settings.rfm.window_days))
    rfm_cal = calibrate_rfm(inputs, as_of, settings.rfm)
    engine.to_store(segments.assign(rfm.score(inputs, rfm_cal)), SCORED)

    act_cal: ActivityCalibration | None = None
    rels: list[relations.Relation] = []
    if settings.activity.enabled:
        step("activity per category")
        sums = engine.cache(activity.decayed_sums(events, as_of, settings.activity))
        act_cal = activity.calibrate(sums, mean_positive_order(inputs), settings.activity)
        consts = engine.upload(f"_clm_constants_{run_id}", activity.constants(act_cal))
        engine.to_store(activity.scored(sums, act_cal, consts), ACTIVITY)

        step("category relations, next best")
        categories = sorted(act_cal.pi)
        wide = engine.cache(relations.by_profile(sums, categories, act_cal))
        rels = category_relations(wide, categories, inputs, act_cal, rfm_cal.n_buyers)
        top = settings.activity.next_best
        engine.to_store(relations.next_best(wide, categories, rels, top), NEXT_BEST)
    clv_fit = None
    if settings.clv.enabled:
        step("lifetime value")
        clv_fit = lifetime_value(con, events, as_of, settings)
    calibration = Calibration(run_id, rfm_cal, act_cal, clv_fit)

    step("writing scores and history")
    with transaction(con):
        n_profiles = _write(
            con, run_id, as_of, settings.rfm.window_days, engine.name, started, calibration, rels
        )
    for table in (SCORED, ACTIVITY, NEXT_BEST, CLV):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return ScoringRun(
        run_id,
        as_of,
        settings.rfm.window_days,
        engine.name,
        n_profiles,
        rfm_cal.n_buyers,
        time.perf_counter() - clock,
        calibration,
    )


def _write(
    con: duckdb.DuckDBPyConnection,
    run_id: int,
    as_of: date,
    window_days: int,
    engine: str,
    started: datetime,
    calibration: Calibration,
    rels: list[relations.Relation],
) -> int:
    """Insert everything of the run (inside the caller's transaction)."""
    _replace_run(con, run_id, as_of)
    n_profiles = int(con.execute(f"SELECT count(*) FROM {SCORED}").fetchall()[0][0])
    con.execute(
        "INSERT INTO calibrations VALUES (?, ?, ?, ?, ?, ?)",
        [run_id, run_id, as_of, window_days, started, calibration.to_json()],
    )
    con.execute(
        "INSERT INTO scoring_runs VALUES (?, ?, ?, ?, ?, now()::timestamp, ?, ?, ?)",
        [run_id, as_of, window_days, engine, started, n_profiles, calibration.rfm.n_buyers, run_id],
    )
    ids = "CASE WHEN pkind = 'c' THEN pkey END, CASE WHEN pkind = 'a' THEN pkey END"
    if _exists(con, CLV):
        con.execute(
            f"INSERT INTO clv SELECT {run_id}, {ids}, x, t_x_days, t_days, mean_spend, p_alive, "
            f"expected_purchases, expected_spend, clv, churn_risk FROM {CLV} {BY_PROFILE}"
        )
    if calibration.activity is not None:
        con.execute(
            f"INSERT INTO activity SELECT {run_id}, {ids}, scope, s_short, s_long, v_short, "
            f"v_long, activity, trend, affinity, rising FROM {ACTIVITY} {BY_PROFILE}"
        )
        con.execute(
            f"INSERT INTO next_best SELECT {run_id}, {ids}, rank, category, score "
            f"FROM {NEXT_BEST} {BY_PROFILE}"
        )
    if rels:
        con.executemany(
            "INSERT INTO category_relations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [[run_id, r.a, r.b, r.n_a, r.n_b, r.n_ab, r.lift, r.correlation] for r in rels],
        )
    summaries.write(con, run_id)
    return n_profiles


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]
    ).fetchall()
    return bool(rows[0][0])


def _replace_run(con: duckdb.DuckDBPyConnection, run_id: int, as_of: date) -> None:
    """Drop an earlier run for the same date, then insert this one with its history."""
    old = [
        r[0]
        for r in con.execute("SELECT run_id FROM scoring_runs WHERE as_of = ?", [as_of]).fetchall()
    ]
    tables = ("scores", "scoring_runs", "activity", "next_best", "category_relations", "clv")
    for old_id in old:
        for table in tables:
            con.execute(f"DELETE FROM {table} WHERE run_id = ?", [old_id])
        summaries.delete(con, old_id)
    previous = con.execute(
        "SELECT run_id FROM scoring_runs WHERE as_of < ? ORDER BY as_of DESC, run_id DESC LIMIT 1",
        [as_of],
    ).fetchall()
    prev_id = previous[0][0] if previous else -1
    con.execute(
        f"""
        INSERT INTO scores
        WITH prev AS (
            SELECT coalesce(customer_id, anonymous_id) AS pkey,
                   CASE WHEN customer_id IS NULL THEN 'a' ELSE 'c' END AS pkind,
                   segment, previous_segment, segment_since
            FROM scores WHERE run_id = ?
        )
        SELECT ?, ?::DATE,
               CASE WHEN s.pkind = 'c' THEN s.pkey END,
               CASE WHEN s.pkind = 'a' THEN s.pkey END,
               s.recency_days, s.frequency, s.monetary, s.n_orders_life,
               s.r_score, s.f_score, s.m_score, s.has_email, s.visited, s.segment, s.phase,
               CASE WHEN p.segment IS NULL THEN NULL
                    WHEN p.segment = s.segment THEN p.previous_segment
                    ELSE p.segment END,
               CASE WHEN p.segment = s.segment THEN p.segment_since ELSE ?::DATE END
        FROM {SCORED} s LEFT JOIN prev p ON p.pkey = s.pkey AND p.pkind = s.pkind
        ORDER BY s.pkey, s.pkind
        """,
        [prev_id, run_id, as_of, as_of],
    )
