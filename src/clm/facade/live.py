"""The live event stream of `clm serve`: tracking calls and the live profiles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Self

from clm.facade.base import WorkspaceBase
from clm.ingest import tracking_fast
from clm.ingest.stream import EventStream
from clm.profiles import live_view
from clm.store import database

_CURSORS = database.CURSORS  # shared with the event stream's writer (clm.ingest.stream)


class Live(WorkspaceBase):
    """Real-time methods of the facade."""

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

    def reader(self) -> Self:
        """The same workspace for another thread: its own database cursor, the same live
        stream. Close it after use."""
        with _CURSORS:  # a connection is not safe to use from two threads at once
            cursor = self.con.cursor()
        other = type(self)(self.root, self.settings, cursor)
        other.stream = self.stream
        return other

    def track(self, kind: str, body: Any, received: datetime | None = None) -> int:
        """Accept one tracking call (``kind``: track, identify, page, screen, alias, group,
        or batch) in the Segment spec's shape; return the number of new events. Raises
        :class:`~clm.errors.InvalidMessage` naming the field when the body is invalid."""
        stream = self._live()
        now = received or datetime.now(UTC)
        if kind == "batch":  # the common calls without pydantic, the others validated
            parsed = tracking_fast.parse_batch(body, now)
        else:
            parsed = tracking_fast.parse_message(body, kind, now)
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
