"""What every part of the :class:`~clm.workspace.Workspace` facade shares: the
workspace's folder, settings and database connection, the live stream under
`clm serve`, and the helpers several parts use (the engine, the as-of date, the
latest run, the live stream)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import duckdb

from clm.config import Settings
from clm.errors import ScoringError, WorkspaceError
from clm.ingest.stream import EventStream
from clm.profiles.live_load import load_calibration
from clm.scores import reports
from clm.store import engines
from clm.store.engines import Engine

DEFINITIONS = "definitions"


class WorkspaceBase:
    """The state of an open workspace; the facade's parts are mixins over it."""

    def __init__(self, root: Path, settings: Settings, con: duckdb.DuckDBPyConnection) -> None:
        self.root = root
        self.settings = settings
        self.con = con
        self.stream: EventStream | None = None  # the live event stream, under `clm serve`

    def latest_run(self) -> tuple[int, date]:
        """``(run_id, as_of)`` of the latest scoring run."""
        return reports.latest_run(self.con)

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
