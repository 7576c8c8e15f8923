"""The event stream's counters (:mod:`clm.ingest.stream`), shown by ``/v1/admin/status``
and the dashboard: no personal data, only numbers."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class StreamStats:
    """Counters of the stream since the server started (no personal data)."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    written: int = 0
    written_batches: int = 0
    write_errors: int = 0  # failed writes of a batch (retried; see the log)
    apply_errors: int = 0  # journaled records the live state could not take
    id_lookups: int = 0  # requests whose ids the database had to settle (repeats, "maybe")
    lookup_errors: int = 0  # of those, lookups that failed (the request got a 503)
    history_reads: int = 0  # ledgers built again from an id's every line
    quarantined: int = 0  # records the database refused, kept in the quarantine file
    last_write_seconds: float = 0.0
    recent: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=120))

    def rate(self, window: float = 10.0) -> float:
        """Accepted events per second over the last ``window`` seconds."""
        now = time.monotonic()
        total = sum(n for t, n in self.recent if now - t <= window)
        return total / window
