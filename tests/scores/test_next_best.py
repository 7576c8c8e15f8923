"""The next best query on hand-made rows: candidates, ties by name, top-k within the row."""

from __future__ import annotations

import ibis
import pandas as pd

from clm.scores.relations import Relation, next_best

CATEGORIES = ["beauty", "books", "garden", "home"]


def wide(rows: dict[str, dict[str, tuple[float, float]]]) -> ibis.Table:
    """:func:`by_profile` rows: per profile, (activity, S_hl) of some categories."""
    columns: dict[str, list[object]] = {"pkey": [], "pkind": []}
    for i in range(len(CATEGORIES)):
        columns |= {f"a_{i}": [], f"s_{i}": [], f"v_{i}": []}
    for key, held in rows.items():
        columns["pkey"].append(key)
        columns["pkind"].append("c")
        for i, category in enumerate(CATEGORIES):
            activity, s_long = held.get(category, (0.0, 0.0))
            columns[f"a_{i}"].append(activity)
            columns[f"s_{i}"].append(s_long)
            columns[f"v_{i}"].append(0.0)
    return ibis.memtable(pd.DataFrame(columns))


def lifts(values: dict[tuple[str, str], float]) -> list[Relation]:
    """Every ordered pair with lift 1 (no gain) unless given."""
    return [
        Relation(a, b, 1, 1, 1, values.get((a, b), 1.0), None)
        for a in CATEGORIES
        for b in CATEGORIES
    ]


def best(
    rows: dict[str, dict[str, tuple[float, float]]], rels: list[Relation], top: int = 3
) -> dict[str, list[tuple[str, int, float]]]:
    con = ibis.duckdb.connect()
    result = con.to_pandas(next_best(wide(rows), CATEGORIES, rels, top))
    ranked = result.sort_values(["pkey", "rank"])
    return {
        key: [(r.category, r.rank, round(r.score, 12)) for r in group.itertuples()]
        for key, group in ranked.groupby("pkey")
    }


def test_score_is_the_activity_times_the_gain_and_held_categories_are_no_candidates() -> None:
    rels = lifts({("beauty", "books"): 1.5, ("beauty", "garden"): 3.0, ("home", "garden"): 2.0})
    rows = {
        "p1": {"beauty": (40.0, 2.0), "home": (10.0, 0.5)},
        "p2": {"beauty": (40.0, 2.0), "garden": (5.0, 1.0)},  # holds garden
        "p3": {"books": (30.0, 4.0)},  # no gain from books
    }
    got = best(rows, rels)
    assert got["p1"] == [("garden", 1, 90.0), ("books", 2, 20.0)]
    assert got["p2"] == [("books", 1, 20.0)]
    assert "p3" not in got


def test_equal_scores_tie_by_name_even_when_they_differ_in_the_last_bit() -> None:
    # home: 1.6 - 1 = 0.6000000000000001; garden: (1.2 - 1) + (1.4 - 1) = 0.5999999999999999
    rels = lifts({("beauty", "home"): 1.6, ("beauty", "garden"): 1.2, ("books", "garden"): 1.4})
    rows = {"p1": {"beauty": (1.0, 2.0), "books": (1.0, 2.0)}}
    got = best(rows, rels)
    assert [(c, r) for c, r, _ in got["p1"]] == [("garden", 1), ("home", 2)]
    rows = {"p1": {"beauty": (1e-12, 0.1), "books": (1e-12, 0.1)}}  # tiny scores still tie
    assert [(c, r) for c, r, _ in best(rows, rels)["p1"]] == [("garden", 1), ("home", 2)]


def test_top_k_keeps_the_first_k_and_a_single_candidate_is_enough() -> None:
    rels = lifts({(a, b): 2.0 + i for i, (a, b) in enumerate([("beauty", c) for c in CATEGORIES])})
    rows = {"p1": {"beauty": (10.0, 0.5)}, "p2": {"beauty": (10.0, 0.5), "home": (1.0, 1.0)}}
    got = best(rows, rels, top=2)
    assert got["p1"] == [("home", 1, 40.0), ("garden", 2, 30.0)]
    assert got["p2"] == [("garden", 1, 30.0), ("books", 2, 20.0)]
    only = lifts({("beauty", "home"): 2.0})
    assert best(rows, only, top=3) == {"p1": [("home", 1, 10.0)]}
