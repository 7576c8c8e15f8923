"""One side of the activity benchmark, run in a fresh process so that its peak memory is its own.

``python benchmarks/activity_sides.py clm CSV OUT_DIR --as-of D [--set KEY=VALUE]`` creates a
clm workspace in ``OUT_DIR/workspace``, imports the CSV and scores it (RFM + the activity
family), timing the phases of ``score`` through a progress object;
``python benchmarks/activity_sides.py pandas CSV OUT_DIR --as-of D`` reads the CSV with pandas
and computes the activity family with the vectorized pandas oracle of SPEC §4
(``tests/oracles/activity.py``).

Either side writes, untimed, its activity rows (``activity.parquet``), category relations
(``relations.parquet``) and next best categories (``next_best.parquet``) for the agreement
check, and ``OUT_DIR/report.json`` (the format of ``rfm_sides.py``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from rfm_sides import COLUMNS, REPO, Report, peak_rss_bytes, side_main

#: The phases of ``score`` that belong to the activity family (SPEC §4).
ACTIVITY_PHASES = ("activity per category", "category relations, next best")


class PhaseClock:
    """A ``clm.progress.Progress`` that records the wall time of each phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._current: str | None = None
        self._since = time.perf_counter()

    def phase(self, description: str) -> None:
        self.stop()
        self._current, self._since = description, time.perf_counter()

    def advance(self, fraction: float) -> None:
        return None

    def stop(self) -> None:
        if self._current is not None:
            now = time.perf_counter()
            self.seconds[self._current] = self.seconds.get(self._current, 0.0) + now - self._since
            self._current = None


def run_clm(report: Report, csv: Path, out: Path, as_of: str, settings: dict[str, str]) -> None:
    """clm: init a workspace with ``settings``, import the CSV, score with a phase clock."""
    from clm import Workspace

    root = out / "workspace"

    def init() -> Any:
        with Workspace.init(root) as ws:
            for key, value in settings.items():
                ws.config_set(key, value)
        return Workspace.open(root)

    ws = report.timed("init", init)
    summary = report.timed("import", lambda: ws.import_transactions(str(csv), **COLUMNS))
    clock = PhaseClock()
    run = report.timed("score", lambda: ws.score(as_of=as_of, progress=clock))
    clock.stop()
    report.peak_rss_bytes = peak_rss_bytes()
    report.profiles = run.n_profiles
    report.details = {"imported": summary.imported, "score_phases": clock.seconds}
    ws.export_activity(out / "activity.parquet")
    ws.export_relations(out / "relations.parquet")
    run_id = int(ws.con.execute("SELECT max(run_id) FROM scoring_runs").fetchall()[0][0])
    target = str(out / "next_best.parquet").replace("'", "''")
    ws.con.execute(
        "COPY (SELECT customer_id AS profile, rank, category, score FROM next_best "
        f"WHERE run_id = {run_id}) TO '{target}' (FORMAT PARQUET)"
    )
    ws.close()


def run_pandas(report: Report, csv: Path, out: Path, as_of: str, engine: str) -> None:
    """pandas: ``read_csv`` (dates parsed, ids as strings), then the oracle's activity family."""
    import pandas as pd

    sys.path.insert(0, str(REPO))
    from tests.oracles.activity import activity_oracle

    dtypes = {"customer_id": "str", "order_id": "str", "category": "str"}
    frame = report.timed(
        "read", lambda: pd.read_csv(csv, dtype=dtypes, parse_dates=["ts"], engine=engine)
    )
    frame["type"] = "purchase"  # every line is a purchase line (SPEC §1)
    result = report.timed("activity", lambda: activity_oracle(frame, as_of))
    report.peak_rss_bytes = peak_rss_bytes()
    report.profiles = int(result.activity.index.get_level_values("profile").nunique())
    report.details = {"read_csv_engine": engine, "rows": len(result.activity)}
    rows = result.activity.reset_index()
    rows["profile"] = rows["profile"].str.slice(2)  # "c:<customer_id>" → customer_id
    rows.to_parquet(out / "activity.parquet")
    result.relations.to_parquet(out / "relations.parquet")
    best = [
        (profile[2:], rank, category, score)
        for profile, ranked in result.next_best.items()
        for rank, (category, score) in enumerate(ranked, start=1)
    ]
    pd.DataFrame(best, columns=["profile", "rank", "category", "score"]).to_parquet(
        out / "next_best.parquet"
    )


def main(argv: list[str] | None = None) -> None:
    side_main(__doc__ or "", run_clm, run_pandas, argv)


if __name__ == "__main__":
    main()
