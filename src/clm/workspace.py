"""The facade: one :class:`Workspace` behind the CLI, the HTTP API and Python users.

A workspace is a folder holding ``clm.toml`` (settings), ``clm.duckdb`` (all
data) and ``definitions/`` (automations and segments as files). Every face of
clm calls these methods; none of them talks to the database directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import pandas as pd
import pyarrow as pa

from clm import config
from clm.config import Settings
from clm.errors import (
    AutomationError,
    NotFound,
    ScoringError,
    ServedElsewhere,
    WorkspaceError,
    WorkspaceExists,
    WorkspaceNotFound,
)
from clm.ingest import tracking
from clm.ingest.customers import import_customers
from clm.ingest.events import import_events
from clm.ingest.mapping import CustomerMapping, EventMapping, SourceOptions
from clm.ingest.stream import EventStream
from clm.ingest.summary import ImportSummary
from clm.models.summary import TimeUnit
from clm.profiles import live_view
from clm.profiles import search as profile_search
from clm.profiles.live_load import load_calibration
from clm.profiles.view import customer_view
from clm.progress import Progress
from clm.scores import category_reports, clv_jobs, history_reports, pipeline, reports
from clm.scores.calibration import Calibration
from clm.scores.clv import ClvFit, ModelChoice
from clm.scores.clv import model_choice as clv_model_choice
from clm.scores.pipeline import ScoringRun
from clm.store import data_summary, database, engines, serving
from clm.store.engines import Engine
from clm.store.status import status as workspace_status

if TYPE_CHECKING:
    from clm.automation.outbox import DeliveryStats

DEFINITIONS = "definitions"
_CURSORS = database.CURSORS  # shared with the event stream's writer (clm.ingest.stream)
ENV_VAR = "CLM_WORKSPACE"


def default_path() -> Path:
    """``$CLM_WORKSPACE``, else the current folder."""
    return Path(os.environ.get(ENV_VAR) or ".")


def _options(
    where: str | None,
    delimiter: str | None,
    header: bool,
    columns: list[str] | tuple[str, ...] | None,
    timezone: str | None,
    quarantine: str | Path | None,
    encoding: str | None,
) -> SourceOptions:
    """The source options every import shares."""
    return SourceOptions(
        where=where,
        delimiter=delimiter,
        header=header,
        columns=tuple(columns or ()),
        timezone=timezone,
        quarantine=str(quarantine) if quarantine is not None else None,
        encoding=encoding,
    )


class Workspace:
    """A clm workspace: open it, import data, score, and read the results.

    Use :meth:`init` to create one and :meth:`open` to open one; close it with
    :meth:`close` or use it as a context manager.
    """

    def __init__(self, root: Path, settings: Settings, con: duckdb.DuckDBPyConnection) -> None:
        self.root = root
        self.settings = settings
        self.con = con
        self.stream: EventStream | None = None  # the live event stream, under `clm serve`

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def init(cls, path: str | Path, name: str | None = None) -> Workspace:
        """Create a workspace in ``path`` (created if missing) and open it."""
        root = Path(path)
        if (root / config.CONFIG_FILE).exists():
            raise WorkspaceExists(f"{root} already holds a clm workspace ({config.CONFIG_FILE})")
        root.mkdir(parents=True, exist_ok=True)
        for folder in ("automations", "segments", "templates"):
            (root / DEFINITIONS / folder).mkdir(parents=True, exist_ok=True)
        settings = Settings()
        settings.workspace.name = name or root.resolve().name
        config.save(root, settings)
        return cls.open(root)

    @classmethod
    def open(cls, path: str | Path | None = None) -> Workspace:
        """Open the workspace in ``path`` (default: ``$CLM_WORKSPACE`` or the current folder)."""
        root = Path(path) if path is not None else default_path()
        if not (root / config.CONFIG_FILE).exists():
            raise WorkspaceNotFound(
                f"{root} is not a clm workspace (no {config.CONFIG_FILE}); "
                f"create one with `clm init {root}`"
            )
        settings = config.load(root)
        try:
            con = database.connect(
                root / database.DB_FILE,
                memory_limit=settings.engine.memory_limit,
                threads=settings.engine.threads,
            )
        except WorkspaceError as exc:
            server = serving.served(root)
            if server is None:
                raise
            raise ServedElsewhere(
                f"the workspace {root} is served by `clm serve` (process {server.pid}) at "
                f"{server.url}; use its HTTP API, or stop it first",
                server.url,
            ) from exc
        database.migrate(con)
        return cls(root, settings, con)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- settings --------------------------------------------------------------------------

    def config_get(self, key: str) -> Any:
        """The value of a dotted setting such as ``rfm.window_days``."""
        return config.get_value(self.settings, key)

    def config_set(self, key: str, value: str) -> Any:
        """Set a dotted setting from its text form, validate, save; return the new value."""
        self.settings = config.set_value(self.settings, key, value)
        config.save(self.root, self.settings)
        return config.get_value(self.settings, key)

    def config_list(self) -> dict[str, Any]:
        return config.flatten(self.settings)

    # -- import ----------------------------------------------------------------------------

    def import_transactions(
        self,
        source: Any,
        *,
        customer: str | None = None,
        time: str | None = None,
        time_format: str | None = None,
        amount: str | None = None,
        category: str | None = None,
        order: str | None = None,
        event_id: str | None = None,
        anonymous: str | None = None,
        where: str | None = None,
        delimiter: str | None = None,
        header: bool = True,
        columns: list[str] | tuple[str, ...] | None = None,
        timezone: str | None = None,
        quarantine: str | Path | None = None,
        encoding: str | None = None,
        progress: Progress | None = None,
    ) -> ImportSummary:
        """Import purchase lines from a CSV/Parquet file or a pandas/polars/Arrow table.

        Column options name source columns; ``amount`` may be an expression over
        numeric columns (``"Quantity*UnitPrice"``); ``where`` filters rows
        (``"CustomerID IS NOT NULL"``). All or nothing unless ``quarantine``
        names a file for the bad rows.
        """
        mapping = EventMapping(
            customer=customer,
            anonymous=anonymous,
            time=time,
            time_format=time_format,
            type="purchase",
            amount=amount,
            category=category,
            order=order,
            event_id=event_id,
        )
        options = _options(where, delimiter, header, columns, timezone, quarantine, encoding)
        return self._import_events(source, mapping, "transactions", options, progress)

    def import_events(
        self,
        source: Any,
        *,
        type: str | None = None,
        type_column: str | None = None,
        customer: str | None = None,
        anonymous: str | None = None,
        time: str | None = None,
        time_format: str | None = None,
        amount: str | None = None,
        category: str | None = None,
        order: str | None = None,
        event_id: str | None = None,
        properties: list[str] | tuple[str, ...] = (),
        where: str | None = None,
        delimiter: str | None = None,
        header: bool = True,
        columns: list[str] | tuple[str, ...] | None = None,
        timezone: str | None = None,
        quarantine: str | Path | None = None,
        encoding: str | None = None,
        progress: Progress | None = None,
    ) -> ImportSummary:
        """Import events (visits, signups, any type): a constant ``type`` or a ``type_column``."""
        mapping = EventMapping(
            customer=customer,
            anonymous=anonymous,
            time=time,
            time_format=time_format,
            type=type,
            type_column=type_column,
            amount=amount,
            category=category,
            order=order,
            event_id=event_id,
            properties=tuple(properties),
        )
        options = _options(where, delimiter, header, columns, timezone, quarantine, encoding)
        return self._import_events(source, mapping, "events", options, progress)

    def import_customers(
        self,
        source: Any,
        *,
        customer: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        signup: str | None = None,
        time_format: str | None = None,
        timezone_column: str | None = None,
        anonymous: str | None = None,
        consent: dict[str, str] | None = None,
        consent_time: str | None = None,
        attributes: list[str] | tuple[str, ...] | None = None,
        where: str | None = None,
        delimiter: str | None = None,
        header: bool = True,
        columns: list[str] | tuple[str, ...] | None = None,
        timezone: str | None = None,
        quarantine: str | Path | None = None,
        encoding: str | None = None,
        progress: Progress | None = None,
    ) -> ImportSummary:
        """Import customer profiles: traits, consent per channel (``{"email": "col"}``),
        anonymous-id links and free attributes (every other column by default)."""
        mapping = CustomerMapping(
            customer=customer,
            email=email,
            phone=phone,
            signup=signup,
            time_format=time_format,
            timezone=timezone_column,
            anonymous=anonymous,
            consent=dict(consent or {}),
            consent_time=consent_time,
            attributes=tuple(attributes) if attributes is not None else None,
        )
        options = _options(where, delimiter, header, columns, timezone, quarantine, encoding)
        return import_customers(
            self.con,
            source,
            mapping,
            options,
            progress=progress,
            max_errors=self.settings.imports.max_reported_errors,
            default_timezone=self.settings.imports.timezone,
        )

    def _import_events(
        self,
        source: Any,
        mapping: EventMapping,
        kind: str,
        options: SourceOptions,
        progress: Progress | None,
    ) -> ImportSummary:
        return import_events(
            self.con,
            source,
            mapping,
            options,
            kind=kind,
            progress=progress,
            max_errors=self.settings.imports.max_reported_errors,
            default_timezone=self.settings.imports.timezone,
        )

    # -- scoring ---------------------------------------------------------------------------

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
        unit = time_unit or self.settings.clv.time_unit
        start = self._as_of(calibration_end, "calibration end")
        end = self._as_of(holdout_end, "holdout end")
        with self._engine() as runner:
            return clv_jobs.validate(runner, start, end, unit, self._model(model))

    def clv(self, customer_id: str | None = None) -> pd.DataFrame:
        """P(alive), expected purchases and spend, CLV and churn risk per buyer of the
        latest scoring run (or of one customer)."""
        run_id, _ = reports.latest_run(self.con)
        return self.con.execute(*clv_jobs.clv_query(run_id, customer_id)).fetchdf()

    def _model(self, name: str | None) -> ModelChoice:
        return clv_model_choice(name or self.settings.clv.model)

    @contextmanager
    def _engine(self, name: Literal["duckdb", "spark"] | None = None) -> Iterator[Engine]:
        """The configured engine (or ``name``), closed after use."""
        chosen = name or self.settings.engine.name
        runner = engines.make_engine(chosen, self.con, self.settings.engine.spark_master)
        try:
            yield runner
        finally:
            runner.close()

    def _as_of(self, as_of: date | str | None, what: str = "as-of date") -> date:
        if isinstance(as_of, date):
            return as_of
        if isinstance(as_of, str):
            try:
                return date.fromisoformat(as_of)
            except ValueError as exc:
                raise ScoringError(f"{what} {as_of!r} is not a date (YYYY-MM-DD)") from exc
        last = self.con.execute("SELECT max(ts) FROM events").fetchall()[0][0]
        return last.date() if last is not None else datetime.now(UTC).date()

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

    def latest_run(self) -> tuple[int, date]:
        """``(run_id, as_of)`` of the latest scoring run."""
        return reports.latest_run(self.con)

    def customer(self, customer_id: str) -> dict[str, Any]:
        """The single customer view of a customer (or an anonymous visitor's id)."""
        return customer_view(self.con, customer_id)

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

    # -- real time (clm serve) ---------------------------------------------------------------

    def start_stream(
        self,
        *,
        flush_interval: float = 0.1,
        fsync: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> EventStream:
        """Start the live event stream: events sent with :meth:`track` are journaled, move
        the live profiles at once and are stored in batches (:mod:`clm.ingest.stream`)."""
        self.stream = EventStream(
            self.con, self.root, self.settings, flush_interval=flush_interval, fsync=fsync
        )
        self.stream.start(progress)
        return self.stream

    def stop_stream(self) -> None:
        if self.stream is not None:
            self.stream.stop()
            self.stream = None

    def reader(self) -> Workspace:
        """The same workspace for another thread: its own database cursor, the same live
        stream. Close it after use."""
        with _CURSORS:  # a connection is not safe to use from two threads at once
            cursor = self.con.cursor()
        other = Workspace(self.root, self.settings, cursor)
        other.stream = self.stream
        return other

    def track(self, kind: str, body: Any, received: datetime | None = None) -> int:
        """Accept one tracking call (``kind``: track, identify, page, screen, alias, group,
        or batch) in the Segment spec's shape; return the number of new events. Raises
        :class:`~clm.errors.InvalidMessage` naming the field when the body is invalid."""
        stream = self._live()
        now = received or datetime.now(UTC)
        if kind == "batch":
            parsed = tracking.parse_batch(body, now)
        else:
            parsed = tracking.parse_message(body, kind, now)
        return stream.accept(parsed)

    def live_customer(self, profile_id: str) -> dict[str, Any]:
        """The live single customer view (``customer()``'s content, always current)."""
        stream = self._live()
        with stream.lock:
            snap = live_view.snapshot(stream.live, profile_id)
        return live_view.complete(self.con, snap)

    def live_segments(self) -> dict[str, int]:
        """Profiles per segment now."""
        stream = self._live()
        stream.live.rescore_all(stream.lock)  # a new day: re-score without stalling events
        with stream.lock:
            return stream.live.segment_counts()

    def live_profiles(
        self, segment: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Profiles (of a segment, or all) with their live segment, ordered by id."""
        stream = self._live()
        stream.live.rescore_all(stream.lock)
        with stream.lock:
            members = stream.live.members(segment, limit, offset)
        return [
            {"id": pid, "kind": "customer" if kind == "c" else "visitor", "segment": seg}
            for (kind, pid), seg in members
        ]

    def _live(self) -> EventStream:
        if self.stream is None or self.stream.profiles is None:
            raise WorkspaceError("the live event stream is not running (it runs in `clm serve`)")
        return self.stream

    def _publish(self) -> None:
        """Hand the latest scoring run's calibration to the live profiles."""
        stream = self._live()
        calibration = load_calibration(self.con, self.settings)
        if calibration is not None:
            with stream.lock:
                stream.live.publish(calibration)

    # -- experiments -----------------------------------------------------------------------

    def _measurements(self) -> dict[str, Any]:
        from clm.experiments.measurement import load_measurements

        folder = self.root / DEFINITIONS / "automations"
        return load_measurements(folder, self.settings.clv.margin)

    def report_automation(self, name: str) -> dict[str, Any]:
        """Funnel per arm and variant, effects against control, campaign worth, the
        sample-ratio check and the cumulative daily series of automation ``name``."""
        from clm.automation.measure import units_query
        from clm.experiments import report as experiment_report
        from clm.experiments.measurement import Measurement

        default = Measurement(self.settings.clv.margin)
        settings = self._measurements().get(name, default)
        sql, params = units_query(name)
        report = experiment_report.automation_report(self.con, sql, params, name, settings)
        if not report["arms"]:
            raise NotFound(f"automation {name!r} has no enrolments yet (or does not exist)")
        return report

    def report_automations(self) -> dict[str, Any]:
        """Every automation ranked by incremental profit, and the programme's worth against
        the global control group."""
        from clm.automation.measure import units_query
        from clm.experiments import report as experiment_report
        from clm.experiments.measurement import Measurement

        sql, params = units_query(None)
        default = Measurement(self.settings.clv.margin)
        return experiment_report.automations_report(
            self.con, sql, params, self._measurements(), default
        )

    def automation_reports(self) -> dict[str, Any]:
        """:meth:`report_automations` and, under ``reports``, :meth:`report_automation` of
        every automation with enrolments, aggregated in one pass (the dashboard's pages)."""
        from clm.automation.measure import units_query
        from clm.experiments import report as experiment_report
        from clm.experiments.measurement import Measurement

        sql, params = units_query(None)
        default = Measurement(self.settings.clv.margin)
        return experiment_report.all_reports(self.con, sql, params, self._measurements(), default)

    # -- outbox and channels ---------------------------------------------------------------

    def outbox(
        self,
        *,
        status: str | None = None,
        automation: str | None = None,
        customer_id: str | None = None,
        channel: str | None = None,
        limit: int = 100,
        with_content: bool = False,
    ) -> list[dict[str, Any]]:
        """Messages in the outbox, newest first, with their status and last error."""
        from clm.automation import outbox

        return outbox.messages(
            self.con,
            status=status,
            automation=automation,
            customer_id=customer_id,
            channel=channel,
            limit=limit,
            with_content=with_content,
        )

    def deliver(self, now: datetime | None = None, *, limit: int | None = None) -> DeliveryStats:
        """Send every message due at ``now`` (default: the current time, UTC) on the
        channels configured in ``clm.toml``; messages of an unconfigured channel wait."""
        from clm.automation import outbox
        from clm.automation.channels import make_channels, missing_settings
        from clm.automation.channels.base import close

        section = self.settings.channels
        channels = make_channels(section, self.root)
        try:
            return outbox.deliver(
                self.con,
                channels,
                now or datetime.now(UTC).replace(tzinfo=None),
                limit=limit,
                batch_size=section.outbox.batch_size,
                unconfigured=missing_settings(section),
            )
        finally:
            for channel in channels.values():
                close(channel)

    def outbox_requeue(self, message_ids: list[str]) -> int:
        """Queue unknown or failed messages again; return how many were requeued."""
        from clm.automation import outbox

        return outbox.requeue(self.con, message_ids)

    def banner(
        self, customer_id: str, placement: str, now: datetime | None = None
    ) -> dict[str, Any] | None:
        """The live banner of a customer for a placement (records an impression), or None."""
        from clm.automation.outbox import banner_for

        return banner_for(
            self.con, customer_id, placement, now or datetime.now(UTC).replace(tzinfo=None)
        )

    def tracking_secret(self) -> bytes:
        """The key that signs click-tracking links (``.clm/tracking.key``)."""
        from clm.automation.tracking import workspace_secret

        return workspace_secret(self.root)

    def record_open(self, message_id: str, ts: datetime | None = None) -> bool:
        """Record an open of a message (once); False when it was already recorded. Under
        `clm serve` the event goes through the live stream (triggers and profiles see it)."""
        from clm.automation.tracking import record_open

        when = ts or datetime.now(UTC).replace(tzinfo=None)
        if self.stream is not None:
            return self._live_outcome(
                message_id, "message_opened", f"msg:{message_id}:opened", when, {}
            )
        return record_open(self.con, message_id, when)

    def record_click(
        self, message_id: str, url: str, signature: str, ts: datetime | None = None
    ) -> str:
        """Check a click link's signature, record the click (once per link), return the
        target. A link we did not sign raises :class:`NotFound` (no open redirect)."""
        from clm.automation import tracking

        if not tracking.verify_click(self.tracking_secret(), message_id, url, signature):
            raise NotFound(f"no such tracked link in message {message_id!r}")
        when = ts or datetime.now(UTC).replace(tzinfo=None)
        if self.stream is not None:
            event_id = tracking.click_event_id(message_id, url)
            self._live_outcome(message_id, "message_clicked", event_id, when, {"url": url})
            return url
        return tracking.record_click(self.con, message_id, url, when)

    def _live_outcome(
        self, message_id: str, kind: str, event_id: str, when: datetime, extra: dict[str, str]
    ) -> bool:
        from clm.automation.tracking import outcome

        customer_id, props = outcome(self.con, message_id, extra)
        record = tracking.EventRecord(
            event_id, customer_id, None, kind, tracking.micros(when), properties=props
        )
        return self._live().accept([record]) > 0

    # -- automations -------------------------------------------------------------------------

    def automations_validate(self) -> list[dict[str, Any]]:
        """Check every automation file; raise DefinitionError naming file and line of each
        problem, else describe the valid automations."""
        from clm.automation import definitions

        return [_describe(a) for a in definitions.validate(self.root)]

    def automations_schema(self) -> dict[str, Any]:
        """The published JSON Schema of an automation file."""
        from clm.automation import definitions

        return definitions.schema()

    def automations(self) -> dict[str, Any]:
        """Every automation: status, current version, counts; and the files with problems."""
        from clm.automation import listing

        return listing.overview(self.con, self.root)

    def automation_definitions(self) -> dict[str, dict[str, Any]]:
        """The definition of every automation by name: its valid file, else (a file that
        stopped validating or was removed) the latest stored version, which stays in use."""
        from clm.automation import definitions, versions

        valid, _ = definitions.load(self.root)
        found = {a.name: a.spec for a in valid}
        stored = self.con.execute("SELECT DISTINCT automation FROM automation_versions").fetchall()
        for (name,) in stored:
            if name not in found:
                latest = versions.latest_version(self.con, str(name))
                if latest is not None:
                    found[latest.name] = latest.spec
        return found

    def customer_enrolments(self, customer_id: str) -> list[dict[str, Any]]:
        """A customer's enrolments, newest first, with arm, variant and state."""
        from clm.automation import listing

        return listing.customer_enrolments(self.con, customer_id)

    def automation_pause(self, name: str) -> None:
        """Pause an automation: no new enrolments, no steps, until resumed."""
        from clm.automation import listing

        listing.set_status(self.con, self.root, name, "paused")

    def automation_resume(self, name: str) -> None:
        """Resume a paused automation; steps that fell due meanwhile go on at the next run."""
        from clm.automation import listing

        listing.set_status(self.con, self.root, name, "active")

    def run(
        self,
        until: datetime | str | None = None,
        *,
        since: datetime | str | None = None,
        dry_run: bool = False,
    ) -> Any:
        """Process every automation up to ``until`` (default now, UTC; a later time
        simulates ahead), enqueue and deliver messages. ``dry_run`` with ``since``
        backtests from a blank state and writes nothing. Returns RunStats."""
        from clm.automation import runner

        return runner.run(
            self.con,
            self.root,
            self.settings,
            until=_instant(until, "--until"),
            since=_instant(since, "--since"),
            dry_run=dry_run,
            channels=self._channels(),
        )

    def why(self, customer_id: str, automation: str | None = None) -> list[dict[str, Any]]:
        """Every automation decision about a customer, oldest first, with a sentence each."""
        from clm.automation.why import why

        return why(self.con, customer_id, automation)

    def _channels(self) -> dict[str, Any]:
        """The configured channels."""
        from clm.automation.channels import make_channels

        return dict(make_channels(self.settings.channels, self.root))

    # -- history and search (the dashboard's aggregates) ------------------------------------

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

    def customer_timeline(self, customer_id: str, limit: int = 500) -> list[dict[str, Any]]:
        """The latest events of a profile (anonymous history included), newest first."""
        return profile_search.timeline(self.con, customer_id, limit)

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


def _describe(automation: Any) -> dict[str, Any]:
    return {
        "name": automation.name,
        "path": automation.path,
        "trigger": automation.trigger_kind,
        "steps": len(automation.order),
        "hash": automation.content_hash[:12],
    }


def _instant(value: datetime | str | None, what: str) -> datetime | None:
    """A naive UTC datetime from a datetime or ISO text (a date means its midnight)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise AutomationError(f"{what} {value!r} is not a date or time (ISO 8601)") from exc
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value
