"""The records the database refused, kept in the journal folder (:mod:`clm.ingest.stream`).

:func:`keep` appends a refused record with the reason to :data:`QUARANTINE` (a JSON line
each, readable by the owner only: the records may hold personal data, so the log names
the error's kind only). :class:`RefusedEvents` remembers the refused events by id and
content: the event stream takes the same record sent again as a repeat, while another
record with that id (a corrected resend) is a new event, since the id is not stored.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from clm.ingest.journal import to_journal
from clm.ingest.tracking import EventRecord, Record

QUARANTINE = "rejected.jsonl"  # in the journal folder: records the database refused
REFUSED_IDS = 100_000  # refused events remembered (by id and content) to ignore their resends


def reason(exc: BaseException) -> str:
    """An error's class and message (kept in the file, never logged)."""
    return f"{type(exc).__name__}: {exc}"


def keep(folder: Path, data: dict[str, Any], exc: BaseException) -> None:
    """Append a refused record (as a journal object) with the reason to the file."""
    folder.mkdir(parents=True, exist_ok=True)
    line = orjson.dumps(
        {"rejected_at": datetime.now(UTC).isoformat(), "reason": reason(exc), "record": data},
        default=str,
    )
    fd = os.open(folder / QUARANTINE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line + b"\n")
    finally:
        os.close(fd)


def fingerprint(data: dict[str, Any]) -> bytes:
    """A journal record's content, hashed (the same record sent again hashes the same)."""
    text = orjson.dumps(data, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.blake2b(text, digest_size=16).digest()


class RefusedEvents:
    """The latest ``capacity`` refused events: id → fingerprint of the refused record.
    Written by the writer thread, read by requests (each operation a single dict one)."""

    def __init__(self, capacity: int = REFUSED_IDS) -> None:
        self.capacity = capacity
        self._by_id: dict[str, bytes] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    @classmethod
    def load(cls, path: Path, capacity: int = REFUSED_IDS) -> RefusedEvents:
        """The refused events of a quarantine file (the latest kept beyond the capacity)."""
        refused = cls(capacity)
        if not path.exists():
            return refused
        with path.open("rb") as lines:
            for line in lines:
                try:
                    data = orjson.loads(line)["record"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    continue  # a line cut short by a crash: its record is in the journal still
                if isinstance(data, dict):
                    refused.remember(data)
        return refused

    def remember(self, data: dict[str, Any]) -> None:
        """Remember a refused record if it is an event, forgetting the oldest beyond the
        capacity."""
        event_id = data.get("id")
        if data.get("k") != "e" or not isinstance(event_id, str):
            return
        self._by_id.pop(event_id, None)
        self._by_id[event_id] = fingerprint(data)
        while len(self._by_id) > self.capacity:
            del self._by_id[next(iter(self._by_id))]

    def repeats(self, records: Iterable[Record]) -> set[str]:
        """The ids of the events that are a refused record sent again, byte for byte."""
        if not self._by_id:
            return set()
        return {
            r.event_id
            for r in records
            if isinstance(r, EventRecord)
            and (known := self._by_id.get(r.event_id)) is not None
            and known == fingerprint(to_journal(r))
        }
