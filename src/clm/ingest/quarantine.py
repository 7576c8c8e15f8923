"""The records the database refused, kept in the journal folder (:mod:`clm.ingest.stream`).

:func:`keep` appends a refused record with the reason to :data:`QUARANTINE` (a JSON line
each, readable by the owner only: the records may hold personal data, so the log names
the error's kind only). :class:`RefusedEvents` remembers the refused events by id and
content: the event stream takes the same record sent again as a repeat (the time an SDK
stamps on each attempt, ``sentAt``, left out), while another record with that id (a
corrected resend) is a new event once the refused one's write has ended, since the id is
not stored. While the refused record still waits for its write, its id is pending and any
record with it is a repeat: the sender has to send the corrected one again later.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from clm.ingest.journal import to_journal
from clm.ingest.tracking import EventRecord

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


#: Unknown top-level fields an SDK sets anew at each attempt (Segment's common fields):
#: left out of a fingerprint, so that a retry of a refused message is the same record.
PER_ATTEMPT = frozenset({"sentAt", "receivedAt", "_metadata"})


def fingerprint(data: dict[str, Any]) -> bytes:
    """A journal record's content, hashed (the same record sent again hashes the same,
    whatever its :data:`PER_ATTEMPT` fields say)."""
    props = data.get("p")
    extra = props.get("_extra") if isinstance(props, dict) else None
    if isinstance(props, dict) and isinstance(extra, dict) and not PER_ATTEMPT.isdisjoint(extra):
        kept = {k: v for k, v in extra.items() if k not in PER_ATTEMPT}
        data = {**data, "p": {**props, "_extra": kept}}
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

    def is_repeat(self, record: EventRecord) -> bool:
        """Whether an event is a refused record sent again (its id and content)."""
        known = self._by_id.get(record.event_id)
        return known is not None and known == fingerprint(to_journal(record))
