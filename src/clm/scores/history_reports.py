"""Population reports across scoring runs: the R×F grid, segment migration, segment
sizes and category activity over time, rising customers, the highest lifetime values.

Every function aggregates in the engine and returns a small table (at most one row per
run × segment or run × category, or ``limit`` rows), so a page can show it at any
population size.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from clm.store.database import records

NEW = "(new profile)"


def runs(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every scoring run, oldest first: run_id, as_of, finished_at (ISO text)."""
    return records(
        con, "SELECT run_id, as_of, finished_at FROM scoring_runs ORDER BY as_of, run_id"
    )


def rf_matrix(con: duckdb.DuckDBPyConnection, run_id: int) -> pd.DataFrame:
    """Buyers and their revenue (monetary in W) per (R score, F score) of a run."""
    return con.execute(
        """
        SELECT r_score, f_score, count(*) AS customers, sum(monetary) AS revenue
        FROM scores WHERE run_id = ? AND r_score IS NOT NULL AND f_score IS NOT NULL
        GROUP BY r_score, f_score ORDER BY r_score, f_score
        """,
        [run_id],
    ).fetchdf()


def migration(con: duckdb.DuckDBPyConnection, run_id: int) -> pd.DataFrame:
    """Profiles per (segment in the run before, segment in ``run_id``).

    Read from the run's own history columns in one scan: a profile whose segment
    changed in this run (``segment_since`` = the run's date) came from
    ``previous_segment``, or is new (:data:`NEW`) when it has none; any other
    profile stayed. "The run before" is the latest run with an earlier date when
    ``run_id`` was scored (SPEC §3).
    """
    return con.execute(
        f"""
        SELECT CASE WHEN segment_since = as_of THEN coalesce(previous_segment, '{NEW}')
                    ELSE segment END AS from_segment,
               segment AS to_segment, count(*) AS customers
        FROM scores WHERE run_id = ?
        GROUP BY ALL ORDER BY from_segment, to_segment
        """,
        [run_id],
    ).fetchdf()


def segment_history(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Profiles and revenue per segment in every run: run_id, as_of, segment, customers,
    revenue (oldest run first)."""
    return con.execute(
        """
        SELECT s.run_id, r.as_of, s.segment, count(*) AS customers, sum(s.monetary) AS revenue
        FROM scores s JOIN scoring_runs r USING (run_id)
        GROUP BY s.run_id, r.as_of, s.segment ORDER BY r.as_of, s.run_id, s.segment
        """
    ).fetchdf()


def category_history(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per run and category: active profiles (S_long ≥ 1), their mean activity and mean
    trend, and the profiles with rising interest (SPEC §4)."""
    return con.execute(
        """
        SELECT a.run_id, r.as_of, a.scope AS category,
               count(*) FILTER (WHERE a.s_long >= 1) AS active_customers,
               avg(a.activity) FILTER (WHERE a.s_long >= 1) AS mean_activity,
               avg(a.trend) FILTER (WHERE a.s_long >= 1) AS mean_trend,
               count(*) FILTER (WHERE a.rising) AS rising_customers
        FROM activity a JOIN scoring_runs r USING (run_id)
        WHERE a.scope <> 'all'
        GROUP BY a.run_id, r.as_of, a.scope ORDER BY r.as_of, a.run_id, a.scope
        """
    ).fetchdf()


def rising_customers(
    con: duckdb.DuckDBPyConnection, run_id: int, category: str, limit: int = 20
) -> pd.DataFrame:
    """The profiles with rising interest in ``category``, strongest trend first."""
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
