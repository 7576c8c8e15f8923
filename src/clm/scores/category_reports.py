"""Reports over the activity family: per-category summary, relations, exports."""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

ACTIVITY_COLUMNS = (
    "customer_id, anonymous_id, scope, s_short, s_long, v_short, v_long, activity, trend, "
    "affinity, rising"
)
RELATION_COLUMNS = "a, b, n_a, n_b, n_ab, lift, correlation"


def activity_query(
    run_id: int, customer_id: str | None = None, scope: str | None = None
) -> tuple[str, list[Any]]:
    """SQL of the activity rows of a run, optionally of one profile and/or scope."""
    where: list[str] = ["run_id = ?"]
    params: list[Any] = [run_id]
    if customer_id is not None:
        where.append("(customer_id = ? OR (customer_id IS NULL AND anonymous_id = ?))")
        params += [customer_id, customer_id]
    if scope is not None:
        where.append("scope = ?")
        params.append(scope)
    return (
        f"SELECT {ACTIVITY_COLUMNS} FROM activity WHERE {' AND '.join(where)} "
        "ORDER BY customer_id NULLS LAST, anonymous_id, scope = 'all' DESC, scope",
        params,
    )


def relations_query(run_id: int) -> tuple[str, list[Any]]:
    return (
        f"SELECT {RELATION_COLUMNS} FROM category_relations WHERE run_id = ? ORDER BY a, b",
        [run_id],
    )


def next_best(con: duckdb.DuckDBPyConnection, run_id: int, pid: str) -> list[dict[str, Any]]:
    """The stored next best categories of one profile, best first."""
    rows = con.execute(
        "SELECT rank, category, score FROM next_best WHERE run_id = ? AND "
        "(customer_id = ? OR (customer_id IS NULL AND anonymous_id = ?)) ORDER BY rank",
        [run_id, pid, pid],
    ).fetchall()
    return [{"rank": int(r), "category": c, "score": float(s)} for r, c, s in rows]


def category_summary(
    con: duckdb.DuckDBPyConnection, run_id: int, pi: dict[str, float]
) -> pd.DataFrame:
    """Per category: active customers (S_hl ≥ 1), spend share, median activity of the
    active, customers with rising interest (from the run's stored summary)."""
    frame = con.execute(
        """
        SELECT category, active_customers, median_activity, rising_customers,
               customers_with_events
        FROM summary_categories WHERE run_id = ?
        """,
        [run_id],
    ).fetchdf()
    frame["spend_share"] = frame["category"].map(pi).fillna(0.0).astype("float64")
    columns = [
        "category",
        "active_customers",
        "spend_share",
        "median_activity",
        "rising_customers",
        "customers_with_events",
    ]
    return frame[columns].sort_values("spend_share", ascending=False).reset_index(drop=True)


def strongest_relations(
    relations: pd.DataFrame, limit: int = 5, min_pairs: int = 30
) -> list[dict[str, Any]]:
    """The highest lifts between distinct categories with enough shared customers, in words."""
    pairs = relations[(relations["a"] < relations["b"]) & (relations["n_ab"] >= min_pairs)]
    pairs = pairs.dropna(subset=["lift"]).sort_values("lift", ascending=False).head(limit)
    return [
        {
            "a": r.a,
            "b": r.b,
            "lift": float(r.lift),
            "shared_customers": int(r.n_ab),
            "text": f"customers active in {r.a} are {r.lift:.1f}× as likely to be active in {r.b}",
        }
        for r in pairs.itertuples()
    ]
