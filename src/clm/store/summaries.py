"""Small per-run summary tables: what the dashboard's population pages show, aggregated
once when a scoring run is stored instead of from a million rows per request.

A scoring run's rows never change once stored (a run for the same date replaces the
whole run), so each summary is written with its run (:func:`write`, inside the
scoring transaction) and deleted with it (:func:`delete`). Migration 8
(:data:`MIGRATION`) creates the tables and fills them for the runs stored before it,
with the same statements.

=====================  ==============================================================
table                  one row per
=====================  ==============================================================
``summary_segments``   run × segment: profiles, known customers, revenue (monetary)
``summary_rf``         run × (R score, F score): buyers and their revenue
``summary_migration``  run × (segment in the run before, segment in this run): profiles
``summary_categories`` run × category: active profiles (S_long ≥ 1), their mean and
                       median activity and mean trend, rising profiles, profiles with
                       any activity in the category
``summary_rising``     run × category × rank (the first :data:`TOP` by trend)
``summary_top_clv``    run × rank: the :data:`TOP` highest lifetime values
``summary_clv``        run: profiles valued, mean P(alive), total CLV
=====================  ==============================================================
"""

from __future__ import annotations

import duckdb

#: The ``from_segment`` of a profile that the run before did not score.
NEW = "(new profile)"
#: Rows kept per ranked summary (rising per category, highest lifetime values).
TOP = 100

TABLES = {
    "summary_segments": (
        "run_id INTEGER NOT NULL, segment VARCHAR NOT NULL, customers BIGINT NOT NULL, "
        "known BIGINT NOT NULL, revenue DOUBLE NOT NULL",
        """
        SELECT run_id, segment, count(*), count(customer_id), coalesce(sum(monetary), 0)
        FROM scores WHERE {runs} GROUP BY run_id, segment
        """,
    ),
    "summary_rf": (
        "run_id INTEGER NOT NULL, r_score TINYINT NOT NULL, f_score TINYINT NOT NULL, "
        "customers BIGINT NOT NULL, revenue DOUBLE NOT NULL",
        """
        SELECT run_id, r_score, f_score, count(*), coalesce(sum(monetary), 0)
        FROM scores WHERE {runs} AND r_score IS NOT NULL AND f_score IS NOT NULL
        GROUP BY run_id, r_score, f_score
        """,
    ),
    "summary_migration": (
        "run_id INTEGER NOT NULL, from_segment VARCHAR NOT NULL, to_segment VARCHAR NOT NULL, "
        "customers BIGINT NOT NULL",
        f"""
        SELECT run_id,
               CASE WHEN segment_since = as_of THEN coalesce(previous_segment, '{NEW}')
                    ELSE segment END,
               segment, count(*)
        FROM scores WHERE {{runs}} GROUP BY ALL
        """,
    ),
    "summary_categories": (
        "run_id INTEGER NOT NULL, category VARCHAR NOT NULL, active_customers BIGINT NOT NULL, "
        "mean_activity DOUBLE, median_activity DOUBLE, mean_trend DOUBLE, "
        "rising_customers BIGINT NOT NULL, customers_with_events BIGINT NOT NULL",
        """
        SELECT run_id, scope,
               count(*) FILTER (WHERE s_long >= 1),
               avg(activity) FILTER (WHERE s_long >= 1),
               median(activity) FILTER (WHERE s_long >= 1),
               avg(trend) FILTER (WHERE s_long >= 1),
               count(*) FILTER (WHERE rising),
               count(*)
        FROM activity WHERE {runs} AND scope <> 'all' GROUP BY run_id, scope
        """,
    ),
    "summary_rising": (
        "run_id INTEGER NOT NULL, category VARCHAR NOT NULL, rank INTEGER NOT NULL, "
        "profile_id VARCHAR NOT NULL, activity DOUBLE NOT NULL, trend DOUBLE NOT NULL, "
        "affinity DOUBLE, s_long DOUBLE NOT NULL",
        f"""
        SELECT * FROM (
            SELECT run_id, scope,
                   row_number() OVER (PARTITION BY run_id, scope
                       ORDER BY trend DESC, activity DESC, coalesce(customer_id, anonymous_id))
                   AS rank,
                   coalesce(customer_id, anonymous_id), activity, trend, affinity, s_long
            FROM activity WHERE {{runs}} AND rising AND scope <> 'all'
        ) WHERE rank <= {TOP}
        """,
    ),
    "summary_top_clv": (
        "run_id INTEGER NOT NULL, rank INTEGER NOT NULL, profile_id VARCHAR NOT NULL, "
        "clv DOUBLE NOT NULL, p_alive DOUBLE NOT NULL, expected_purchases DOUBLE NOT NULL, "
        "segment VARCHAR",
        f"""
        WITH top AS (
            SELECT * FROM (
                SELECT run_id, customer_id, anonymous_id, clv, p_alive, expected_purchases,
                       row_number() OVER (PARTITION BY run_id
                           ORDER BY clv DESC, coalesce(customer_id, anonymous_id)) AS rank
                FROM clv WHERE {{runs}} AND clv IS NOT NULL
            ) WHERE rank <= {TOP}
        )
        SELECT t.run_id, t.rank, coalesce(t.customer_id, t.anonymous_id), t.clv, t.p_alive,
               t.expected_purchases, s.segment
        FROM top t LEFT JOIN scores s ON s.run_id = t.run_id
             AND s.customer_id IS NOT DISTINCT FROM t.customer_id
             AND s.anonymous_id IS NOT DISTINCT FROM t.anonymous_id
        """,
    ),
    "summary_clv": (
        "run_id INTEGER NOT NULL, valued BIGINT NOT NULL, mean_p_alive DOUBLE, total_clv DOUBLE",
        "SELECT run_id, count(*), avg(p_alive), sum(clv) FROM clv WHERE {runs} GROUP BY run_id",
    ),
}


def _fill(table: str, runs: str) -> str:
    return f"INSERT INTO {table} {TABLES[table][1].format(runs=runs)};"


#: Migration 8: the tables, filled for every stored run.
MIGRATION = "\n".join(
    [f"CREATE TABLE {name} ({columns});" for name, (columns, _) in TABLES.items()]
    + [_fill(name, "TRUE") for name in TABLES]
)


def delete(con: duckdb.DuckDBPyConnection, run_id: int) -> None:
    """Remove the summaries of run ``run_id``."""
    for table in TABLES:
        con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])


def write(con: duckdb.DuckDBPyConnection, run_id: int) -> None:
    """(Re)write the summaries of run ``run_id`` from its stored rows (call it inside
    the transaction that stores the run)."""
    delete(con, run_id)
    for table in TABLES:
        con.execute(_fill(table, f"run_id = {int(run_id)}"))
