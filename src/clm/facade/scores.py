"""Scoring (RFM, segments, activity, lifetime value) and reading the results."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import pyarrow as pa

from clm.errors import ScoringError
from clm.facade.base import WorkspaceBase
from clm.models.summary import TimeUnit
from clm.profiles.view import customer_view
from clm.progress import Progress
from clm.scores import category_reports, reports
from clm.scores.calibration import Calibration
from clm.store.status import status as workspace_status

if TYPE_CHECKING:
    from clm.scores.clv import ClvFit, ModelChoice
    from clm.scores.pipeline import ScoringRun

# The scoring pipeline and the lifetime-value models (SciPy: ~1 s to import) load when a
# method needs them, not with the facade: most commands only read results.


class Scores(WorkspaceBase):
    """Scoring and result methods of the facade."""

    def score(
        self,
        as_of: date | str | None = None,
        *,
        engine: Literal["duckdb", "spark"] | None = None,
        progress: Progress | None = None,
    ) -> ScoringRun:
        """Compute RFM scores, lifecycle segments, the activity family and lifetime value
        for every profile as of a date (default: the date of the latest event), and store
        them with the calibration."""
        from clm.scores import pipeline

        if self.stream is not None:
            with self.stream.paused():  # every accepted event is stored first
                day = self._as_of(as_of)
                with self._engine(engine) as runner:
                    run = pipeline.run(self.con, runner, day, self.settings, progress)
            self._publish()
            return run
        day = self._as_of(as_of)
        with self._engine(engine) as runner:
            return pipeline.run(self.con, runner, day, self.settings, progress)

    # -- lifetime value ----------------------------------------------------------------------

    def clv_fit(
        self,
        calibration_end: date | str | None = None,
        *,
        time_unit: TimeUnit | None = None,
        model: str | None = None,
    ) -> ClvFit:
        """Fit BG/NBD and/or Pareto/NBD (``model``: bgnbd, pareto_nbd (or pareto), both;
        default the clv.model setting) and Gamma-Gamma on the purchases up to the
        calibration end (default: the latest event's date) and store the fit."""
        from clm.scores import clv_jobs

        day = self._as_of(calibration_end, "calibration end")
        unit = time_unit or self.settings.clv.time_unit
        with self._engine() as runner:
            return clv_jobs.fit_and_store(self.con, runner, day, unit, self._model(model))

    def clv_validate(
        self,
        calibration_end: date | str,
        holdout_end: date | str,
        *,
        time_unit: TimeUnit | None = None,
        model: str | None = None,
    ) -> dict[str, Any]:
        """Fit on the calibration period and compare predicted with actual repeat purchases
        in the holdout: in total, by calibration frequency, per customer and per week."""
        from clm.scores import clv_jobs

        unit = time_unit or self.settings.clv.time_unit
        start = self._as_of(calibration_end, "calibration end")
        end = self._as_of(holdout_end, "holdout end")
        with self._engine() as runner:
            return clv_jobs.validate(runner, start, end, unit, self._model(model))

    def clv(self, customer_id: str | None = None) -> pd.DataFrame:
        """P(alive), expected purchases and spend, CLV and churn risk per buyer of the
        latest scoring run (or of one customer)."""
        from clm.scores import clv_jobs

        run_id, _ = reports.latest_run(self.con)
        return self.con.execute(*clv_jobs.clv_query(run_id, customer_id)).fetchdf()

    def _model(self, name: str | None) -> ModelChoice:
        from clm.scores.clv import model_choice as clv_model_choice

        return clv_model_choice(name or self.settings.clv.model)

    # -- results ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Profiles, events by type, imports and scoring runs, JSON-friendly."""
        result = workspace_status(self.con)
        result["workspace"] = {
            "path": str(self.root.resolve()),
            "name": self.settings.workspace.name,
        }
        return result

    def segments(self) -> pd.DataFrame:
        """Customers, share and revenue per lifecycle segment in the latest scoring run."""
        run_id, _ = reports.latest_run(self.con)
        return reports.segment_table(self.con, run_id)

    def phases(self) -> pd.DataFrame:
        """Customers, share and revenue per lifecycle phase (and CLM level)."""
        return reports.phase_table(self.segments())

    def customer(self, customer_id: str, events: str = "events") -> dict[str, Any]:
        """The single customer view of a customer (or an anonymous visitor's id); its
        events from ``events`` (a name from :meth:`customer_events`, else the table)."""
        return customer_view(self.con, customer_id, events)

    def scores(self, *, format: Literal["pandas", "arrow"] = "pandas") -> pd.DataFrame | pa.Table:
        """The latest scores, one row per profile."""
        run_id, _ = reports.latest_run(self.con)
        sql, params = reports.scores_query(run_id)
        cursor = self.con.execute(sql, params)
        return cursor.to_arrow_table() if format == "arrow" else cursor.fetchdf()

    def export_scores(self, path: str | Path) -> int:
        """Write the latest scores to CSV or Parquet (by extension); return the row count."""
        run_id, _ = reports.latest_run(self.con)
        return self._export(path, *reports.scores_query(run_id))

    def export_activity(self, path: str | Path) -> int:
        """Write the latest activity rows (profile × scope) to CSV or Parquet."""
        run_id, _ = reports.latest_run(self.con)
        return self._export(path, *category_reports.activity_query(run_id))

    def export_relations(self, path: str | Path) -> int:
        """Write the latest category relations (every ordered pair) to CSV or Parquet."""
        run_id, _ = reports.latest_run(self.con)
        return self._export(path, *category_reports.relations_query(run_id))

    def _export(self, path: str | Path, sql: str, params: list[Any]) -> int:
        target = Path(path)
        fmt = "PARQUET" if target.suffix.lower() in {".parquet", ".pq"} else "CSV, HEADER"
        quoted = "'" + str(target).replace("'", "''") + "'"
        written = self.con.execute(f"COPY ({sql}) TO {quoted} (FORMAT {fmt})", params)
        return int(written.fetchall()[0][0])  # COPY answers with the number of rows written

    # -- activity family -------------------------------------------------------------------

    def calibration(self) -> Calibration:
        """The calibration of the latest scoring run."""
        run_id, _ = reports.latest_run(self.con)
        row = self.con.execute(
            "SELECT payload FROM calibrations WHERE run_id = ?", [run_id]
        ).fetchall()
        return Calibration.from_json(row[0][0])

    def activity(self, customer_id: str | None = None, scope: str | None = None) -> pd.DataFrame:
        """Decayed sums, activity, trend, affinity and rising per profile and scope."""
        run_id, _ = reports.latest_run(self.con)
        sql, params = category_reports.activity_query(run_id, customer_id, scope)
        return self.con.execute(sql, params).fetchdf()

    def category_relations(self) -> pd.DataFrame:
        """Lift and correlation for every ordered pair of categories."""
        run_id, _ = reports.latest_run(self.con)
        return self.con.execute(*category_reports.relations_query(run_id)).fetchdf()

    def next_best_categories(self, customer_id: str) -> list[dict[str, Any]]:
        """The next best categories of a profile: rank, category, score."""
        run_id, _ = reports.latest_run(self.con)
        return category_reports.next_best(self.con, run_id, customer_id)

    def categories(self) -> dict[str, Any]:
        """Per-category summary, the lift and correlation matrices, the strongest relations."""
        run_id, as_of = reports.latest_run(self.con)
        relations = self.category_relations()
        activity_cal = self.calibration().activity
        if activity_cal is None:
            raise ScoringError("the latest run has no activity scores (activity.enabled is false)")
        pi = activity_cal.pi
        return {
            "as_of": as_of,
            "categories": category_reports.category_summary(self.con, run_id, pi),
            "lift": relations.pivot(index="a", columns="b", values="lift"),
            "correlation": relations.pivot(index="a", columns="b", values="correlation"),
            "strongest": category_reports.strongest_relations(relations),
        }
