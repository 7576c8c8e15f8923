"""One scoring run: RFM inputs, calibration, scores, segments and their history.

The population work runs on an engine (DuckDB or Spark) as Ibis expressions;
the engine returns value counts for the cut points, Python computes the
calibration, and the scored table comes back to the workspace database, where
the segment history is joined in and everything is written in one transaction.
A run for an as-of date replaces an earlier run for the same date, so the
history holds one snapshot per date.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

import duckdb
import ibis.expr.types as ir

from clm.config import RfmSection
from clm.progress import Progress
from clm.scores import rfm, segments
from clm.scores.calibration import RfmCalibration, percentile_disc
from clm.store.database import transaction
from clm.store.engines import Engine

SCORED = "_clm_scored"


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
    calibration: RfmCalibration


def calibrate(inputs: ir.Table, as_of: date, settings: RfmSection, version: int) -> RfmCalibration:
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
        version=version,
    )


def run(
    con: duckdb.DuckDBPyConnection,
    engine: Engine,
    as_of: date,
    settings: RfmSection,
    progress: Progress | None = None,
) -> ScoringRun:
    """Score every profile as of ``as_of`` on ``engine`` and store the result."""
    started = datetime.now(UTC).replace(tzinfo=None)
    clock = time.perf_counter()
    run_id = int(
        con.execute("SELECT coalesce(max(run_id), 0) + 1 FROM scoring_runs").fetchall()[0][0]
    )
    step = progress.phase if progress else (lambda _d: None)
    step("computing RFM inputs")
    inputs = engine.cache(rfm.profile_inputs(engine.sources(), as_of, settings.window_days))
    step("calibrating cut points")
    cal = calibrate(inputs, as_of, settings, version=run_id)
    step("scoring and segmenting")
    engine.to_store(segments.assign(rfm.score(inputs, cal)), SCORED)
    step("writing scores and history")
    with transaction(con):
        _replace_run(con, run_id, as_of)
        n_profiles = int(con.execute(f"SELECT count(*) FROM {SCORED}").fetchall()[0][0])
        con.execute(
            "INSERT INTO calibrations VALUES (?, ?, ?, ?, ?, ?)",
            [run_id, run_id, as_of, settings.window_days, started, cal.to_json()],
        )
        con.execute(
            "INSERT INTO scoring_runs VALUES (?, ?, ?, ?, ?, now()::timestamp, ?, ?, ?)",
            [
                run_id,
                as_of,
                settings.window_days,
                engine.name,
                started,
                n_profiles,
                cal.n_buyers,
                run_id,
            ],
        )
    con.execute(f"DROP TABLE IF EXISTS {SCORED}")
    return ScoringRun(
        run_id,
        as_of,
        settings.window_days,
        engine.name,
        n_profiles,
        cal.n_buyers,
        time.perf_counter() - clock,
        cal,
    )


def _replace_run(con: duckdb.DuckDBPyConnection, run_id: int, as_of: date) -> None:
    """Drop an earlier run for the same date, then insert this one with its history."""
    for table in ("scores", "scoring_runs"):
        con.execute(f"DELETE FROM {table} WHERE as_of = ?", [as_of])
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
        """,
        [prev_id, run_id, as_of, as_of],
    )
