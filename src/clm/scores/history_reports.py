"""Population reports across scoring runs: the R×F grid, segment migration, segment
sizes and category activity over time, rising customers, the highest lifetime values.

Every function reads a small table (at most one row per run × segment or run ×
category, or ``limit`` rows) from the per-run summaries written with each scoring run
(:mod:`clm.store.summaries`), so a page can show it at any population size; a ranking
longer than the stored :data:`~clm.store.summaries.TOP` is aggregated from the run's rows.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from clm.store import summaries
from clm.store.database import records

NEW = summaries.NEW


def runs(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every scoring run, oldest first: run_id, as_of, finished_at (ISO text)."""
    return records(
        con, "SELECT run_id, as_of, finished_at FROM scoring_runs ORDER BY as_of, run_id"
    )


def rf_matrix(con: duckdb.DuckDBPyConnection, run_id: int) -> pd.DataFrame:
    """Buyers and their revenue (monetary in W) per (R score, F score) of a run."""
    return con.execute(
        """
        SELECT r_score, f_score, customers, revenue
        FROM summary_rf WHERE run_id = ? ORDER BY r_score, f_score
        """,
        [run_id],
    ).fetchdf()


def migration(con: duckdb.DuckDBPyConnection, run_id: int) -> pd.DataFrame:
    """Profiles per (segment in the run before, segment in ``run_id``).

    Aggregated from the run's own history columns when it was stored: a profile whose
    segment changed in this run (``segment_since`` = the run's date) came from
    ``previous_segment``, or is new (:data:`NEW`) when it has none; any other profile
    stayed. "The run before" is the latest run with an earlier date when ``run_id`` was
    scored (SPEC §3).
    """
    return con.execute(
        "SELECT from_segment, to_segment, customers FROM summary_migration WHERE run_id = ? "
        "ORDER BY from_segment, to_segment",
        [run_id],
    ).fetchdf()


def segment_history(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Profiles and revenue per segment in every run: run_id, as_of, segment, customers,
    revenue (oldest run first)."""
    return con.execute(
        """
        SELECT s.run_id, r.as_of, s.segment, s.customers, s.revenue
        FROM summary_segments s JOIN scoring_runs r USING (run_id)
        ORDER BY r.as_of, s.run_id, s.segment
        """
    ).fetchdf()


def category_history(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per run and category: active profiles (S_long ≥ 1), their mean activity and mean
    trend, and the profiles with rising interest (SPEC §4)."""
    return con.execute(
        """
        SELECT c.run_id, r.as_of, c.category, c.active_customers, c.mean_activity,
               c.mean_trend, c.rising_customers
        FROM summary_categories c JOIN scoring_runs r USING (run_id)
        ORDER BY r.as_of, c.run_id, c.category
        """
    ).fetchdf()


def rising_customers(
    con: duckdb.DuckDBPyConnection, run_id: int, category: str, limit: int = 20
) -> pd.DataFrame:
    """The profiles with rising interest in ``category``, strongest trend first."""
    if limit <= summaries.TOP:
        return con.execute(
            "SELECT profile_id, activity, trend, affinity, s_long FROM summary_rising "
            "WHERE run_id = ? AND category = ? AND rank <= ? ORDER BY rank",
            [run_id, category, limit],
        ).fetchdf()
    return con.execute(
        """
        SELECT coalesce(customer_id, anonymous_id) AS profile_id, activity, trend, affinity,
               s_long
        FROM activity WHERE run_id = ? AND scope = ? AND rising
        ORDER BY trend DESC, activity DESC, profile_id LIMIT ?
        """,
        [run_id, category, limit],
    ).fetchdf()


def top_lifetime_value(
    con: duckdb.DuckDBPyConnection, run_id: int, limit: int = 20
) -> pd.DataFrame:
    """The buyers with the highest CLV in a run, with their P(alive) and segment."""
    if limit <= summaries.TOP:
        return con.execute(
            "SELECT profile_id, clv, p_alive, expected_purchases, segment FROM summary_top_clv "
            "WHERE run_id = ? AND rank <= ? ORDER BY rank",
            [run_id, limit],
        ).fetchdf()
    return con.execute(
        """
        WITH top AS (
            SELECT customer_id, anonymous_id, clv, p_alive, expected_purchases FROM clv
            WHERE run_id = $1 AND clv IS NOT NULL ORDER BY clv DESC LIMIT $2
        )
        SELECT coalesce(t.customer_id, t.anonymous_id) AS profile_id, t.clv, t.p_alive,
               t.expected_purchases, s.segment
        FROM top t LEFT JOIN scores s ON s.run_id = $1
             AND s.customer_id IS NOT DISTINCT FROM t.customer_id
             AND s.anonymous_id IS NOT DISTINCT FROM t.anonymous_id
        ORDER BY t.clv DESC, profile_id
        """,
        [run_id, limit],
    ).fetchdf()
