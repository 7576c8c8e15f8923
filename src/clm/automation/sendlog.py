"""Queued sends per customer and channel, for the frequency cap of one run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import duckdb


class SendLog:
    """Queued sends per (customer, channel), read once per customer, for the frequency cap."""

    def __init__(self, con: duckdb.DuckDBPyConnection, period: timedelta) -> None:
        self.con = con
        self.period = period
        self.times: dict[tuple[str, str], list[datetime]] = {}
        self.loaded: set[str] = set()

    def preload(self, customers: Sequence[str]) -> None:
        """Read the queued sends of customers not read yet, in one query."""
        todo = sorted({c for c in customers if c not in self.loaded})
        if not todo:
            return
        rows = self.con.execute(
            "SELECT customer_id, channel, not_before FROM decisions WHERE kind = 'sent' "
            "AND customer_id IN (SELECT unnest(?::VARCHAR[]))",
            [todo],
        ).fetchall()
        for cid, channel, at in rows:
            self.times.setdefault((str(cid), str(channel)), []).append(at)
        self.loaded.update(todo)

    def _load(self, customer_id: str, channel: str) -> list[datetime]:
        if customer_id not in self.loaded:  # preloaded in bulk as a rule: no set per call
            self.preload([customer_id])
        return self.times.setdefault((customer_id, channel), [])

    def count(self, customer_id: str, channel: str, t: datetime) -> int:
        """Sends within one period of ``t``, on both sides: sends moved by quiet hours can
        lie ahead, and counting both sides makes the cap hold for every window of that
        length (when a send is let through, fewer than the cap lie within a period of it)."""
        return sum(1 for s in self._load(customer_id, channel) if abs(s - t) < self.period)

    def add(self, customer_id: str, channel: str, t: datetime) -> None:
        self._load(customer_id, channel).append(t)
