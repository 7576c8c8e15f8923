"""The dashboard's aggregates: run history, search and a customer's story."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pandas as pd

from clm.facade.base import DEFINITIONS, WorkspaceBase
from clm.profiles import clustered
from clm.profiles import search as profile_search
from clm.scores import history_reports
from clm.store import data_summary


class Dashboard(WorkspaceBase):
    """History and search methods of the facade (the dashboard's reads)."""

    def runs(self) -> list[dict[str, Any]]:
        """Every scoring run, oldest first: run_id, as_of, finished_at."""
        return history_reports.runs(self.con)

    def rf_matrix(self, run_id: int | None = None) -> pd.DataFrame:
        """Buyers and revenue per (R score, F score) of a run (default: the latest)."""
        return history_reports.rf_matrix(self.con, run_id or self.latest_run()[0])

    def segment_migration(self, run_id: int | None = None) -> pd.DataFrame:
        """Profiles per (segment in the run before, segment in this run; default latest)."""
        return history_reports.migration(self.con, run_id or self.latest_run()[0])

    def segment_history(self) -> pd.DataFrame:
        """Profiles and revenue per segment in every scoring run."""
        return history_reports.segment_history(self.con)

    def category_history(self) -> pd.DataFrame:
        """Active profiles, mean activity and trend, rising interest per category and run."""
        return history_reports.category_history(self.con)

    def rising_customers(self, category: str, limit: int = 20) -> pd.DataFrame:
        """Profiles with rising interest in a category (latest run), strongest trend first."""
        return history_reports.rising_customers(self.con, self.latest_run()[0], category, limit)

    def top_lifetime_value(self, limit: int = 20) -> pd.DataFrame:
        """The buyers with the highest CLV in the latest run."""
        return history_reports.top_lifetime_value(self.con, self.latest_run()[0], limit)

    def find_profiles(self, text: str, limit: int = 20) -> list[dict[str, Any]]:
        """Customers whose id or email starts with ``text``, exact matches first."""
        latest = self.runs()
        run_id = int(latest[-1]["run_id"]) if latest else None
        return profile_search.find_profiles(self.con, text, run_id, limit)

    def customer_timeline(
        self, customer_id: str, limit: int = 500, events: str = "events"
    ) -> list[dict[str, Any]]:
        """The latest events of a profile (anonymous history included), newest first
        (from ``events``: a name from :meth:`customer_events`, else the table)."""
        return profile_search.timeline(self.con, customer_id, limit, events)

    def cluster_events(self) -> bool:
        """Append the events stored since to the copy clustered by profile (automation runs
        and the dashboard's start do it, imports do not; False when it could not write)."""
        return clustered.advance(self.con)

    @contextlib.contextmanager
    def customer_events(self, customer_id: str) -> Iterator[str]:
        """The profile's own events read once (one scan of the events instead of one per
        method) and named for :meth:`customer`, :meth:`customer_timeline` and ``why``
        while the block runs: each gives what it gives over the table."""
        name = f"_clm_own_events_{uuid.uuid4().hex}"
        self.con.register(name, profile_search.own_events(self.con, customer_id))
        try:
            yield name
        finally:
            self.con.unregister(name)

    def customer_segment_history(self, customer_id: str) -> list[dict[str, Any]]:
        """A profile's segment and RFM scores in every scoring run, oldest first."""
        return profile_search.segment_history(self.con, customer_id)

    def data_summary(self) -> dict[str, Any]:
        """Events by type, imports, scoring runs and the latest run's profile counts: the
        content of :meth:`status` without its scan of every event's profile."""
        return {
            "workspace": {"path": str(self.root.resolve()), "name": self.settings.workspace.name},
            "profiles": data_summary.scored_profiles(self.con),
            "events": data_summary.events_by_type(self.con),
            **data_summary.imports_and_runs(self.con),
        }

    def data_signature(self) -> tuple[Any, ...]:
        """Changes whenever events, imports or scoring runs are added (cheap to compute)."""
        runs = tuple((r["run_id"], r["finished_at"]) for r in self.runs())
        return (*data_summary.events_signature(self.con), runs)

    def automations_signature(self) -> tuple[Any, ...]:
        """Changes whenever an automation file, enrolment, decision, outcome event, version
        or status changes (cheap to compute): the automation pages' cache key."""
        folder = self.root / DEFINITIONS / "automations"
        files = (
            tuple(
                (p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.glob("*"))
            )
            if folder.is_dir()
            else ()
        )
        return (*data_summary.automations_signature(self.con), files)
