"""Reports over stored scores: the lifecycle summary and the score table."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

from clm.errors import ScoringError
from clm.scores.segments import CLM_LEVELS, PHASE_OF, PHASES, PROSPECT, SEGMENTS

SCORE_COLUMNS = (
    "customer_id, anonymous_id, recency_days, frequency, monetary, n_orders_life, "
    "r_score, f_score, m_score, segment, phase, previous_segment, segment_since, as_of"
)
# SPEC §5 outputs, null for profiles without a purchase (or a run without CLV).
CLV_COLUMNS = "p_alive, expected_purchases, expected_spend, clv, churn_risk"


def latest_run(con: duckdb.DuckDBPyConnection) -> tuple[int, date]:
    """The run with the latest as-of date."""
    rows = con.execute(
        "SELECT run_id, as_of FROM scoring_runs ORDER BY as_of DESC, run_id DESC LIMIT 1"
    ).fetchall()
    if not rows:
        raise ScoringError("no scores yet: run `clm score` first")
    return int(rows[0][0]), rows[0][1]


def segment_table(con: duckdb.DuckDBPyConnection, run_id: int) -> pd.DataFrame:
    """Customers, share of profiles and revenue per segment, every segment listed."""
    counts = con.execute(
        "SELECT segment, customers, revenue FROM summary_segments WHERE run_id = ?",
        [run_id],
    ).fetchdf()
    order = [*SEGMENTS, PROSPECT]
    frame = pd.DataFrame({"segment": order})
    frame = frame.merge(counts, on="segment", how="left")
    frame["phase"] = pd.Series([PHASE_OF[s] for s in order], dtype=object)
    frame["customers"] = frame["customers"].fillna(0).astype("int64")
    frame["revenue"] = frame["revenue"].fillna(0.0).astype("float64")
    total = int(frame["customers"].sum())
    frame["share"] = frame["customers"] / total if total else 0.0
    return frame[["phase", "segment", "customers", "share", "revenue"]]


def phase_table(segments: pd.DataFrame) -> pd.DataFrame:
    """The segment table summed per phase, with the CLM level of each phase."""
    level_of = {phase: level for level, phases in CLM_LEVELS.items() for phase in phases}
    rows = []
    for phase in PHASES:
        part = segments[segments["phase"] == phase]
        rows.append(
            {
                "level": level_of[phase],
                "phase": phase,
                "customers": int(part["customers"].sum()),
                "share": float(part["share"].sum()),
                "revenue": float(part["revenue"].sum()),
            }
        )
    return pd.DataFrame(rows)


def scores_query(run_id: int) -> tuple[str, list[object]]:
    """SQL (and parameters) of the score table of a run, one row per profile."""
    columns = ", ".join(f"s.{c.strip()}" for c in SCORE_COLUMNS.split(","))
    values = ", ".join(f"v.{c.strip()}" for c in CLV_COLUMNS.split(","))
    return (
        f"SELECT {columns}, {values} FROM scores s LEFT JOIN clv v ON v.run_id = s.run_id "
        "AND v.customer_id IS NOT DISTINCT FROM s.customer_id "
        "AND v.anonymous_id IS NOT DISTINCT FROM s.anonymous_id "
        "WHERE s.run_id = ? ORDER BY s.customer_id NULLS LAST, s.anonymous_id",
        [run_id],
    )
