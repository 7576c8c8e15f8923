"""The server's write-ahead journal: an accepted message is on disk before its 2xx.

Every request's records are appended to the current segment file with ``os.write``
on a descriptor opened with ``O_APPEND``, before the server answers. Once ``write``
returns, the bytes belong to the operating system: a ``kill -9`` of the server cannot
lose them (only a crash of the machine could, which ``fsync = true`` also covers, at
the cost of one ``fsync`` per request). A write that fails part way (a full disk) is
cut back to where it began before the error is raised, so the file never keeps half
a request that was not acknowledged.

A line is ``<crc32 of the JSON, 8 hex digits> <JSON>\\n``. Only the last line of the
last segment can be torn (a crash in the middle of a write, never acknowledged):
replay stops there, and opening the journal cuts the last segment back to the end of
its last valid line, so what is appended later never sits behind a torn line. A bad
line anywhere else (damage on disk) is reported by :func:`replay` (its record is
None) and skipped; the lines after it are replayed. Segments are files
``NNNNNNNNNN.jsonl`` in the journal folder; a position is ``(segment, byte offset)``.
The workspace database stores the position up to which records were written to it,
in the same transaction as the records (:mod:`clm.ingest.live_writer`), so replay
after a crash writes each record to the database exactly once.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from clm.ingest.tracking import EventRecord, LinkRecord, ProfileRecord, Record

SEGMENT_BYTES = 64 * 1024 * 1024
SUFFIX = ".jsonl"


class Position(NamedTuple):
    """A place in the journal: segment number and byte offset within it."""

    segment: int
    offset: int


START = Position(0, 0)


def encode(record: dict[str, Any]) -> bytes:
    """One journal line."""
    body = orjson.dumps(record)
    return b"%08x " % zlib.crc32(body) + body + b"\n"


class Journal:
    """Append-only segment files in ``folder``; one writer (the server process)."""

    def __init__(self, folder: Path, *, fsync: bool = False, segment_bytes: int = SEGMENT_BYTES):
        self.folder = folder
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        folder.mkdir(parents=True, exist_ok=True)
        existing = segments(folder)
        self.segment = existing[-1] if existing else 1
        path = self.folder / f"{self.segment:010d}{SUFFIX}"
        if path.exists():
            _cut_torn_tail(path)
        self._fd = self._open(self.segment)
        self.offset = os.fstat(self._fd).st_size

    def _open(self, segment: int) -> int:
        path = self.folder / f"{segment:010d}{SUFFIX}"
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def append(self, lines: list[bytes]) -> Position:
        """Write encoded lines (:func:`encode`) at once; return the position after them."""
        data = b"".join(lines)
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            if self.fsync:
                os.fsync(self._fd)
        except OSError:
            os.ftruncate(self._fd, self.offset)  # nothing of an unacknowledged request stays
            raise
        self.offset += len(data)
        position = Position(self.segment, self.offset)
        if self.offset >= self.segment_bytes:
            self._rotate()
        return position

    def _rotate(self) -> None:
        os.close(self._fd)
        self.segment += 1
        self._fd = self._open(self.segment)
        self.offset = 0

    def close(self) -> None:
        os.close(self._fd)

    def drop_before(self, position: Position) -> None:
        """Delete the segments wholly before ``position`` (their records are stored)."""
        for segment in segments(self.folder):
            if segment < position.segment and segment != self.segment:
                (self.folder / f"{segment:010d}{SUFFIX}").unlink(missing_ok=True)


def segments(folder: Path) -> list[int]:
    """The journal's segment numbers, in order."""
    return sorted(int(p.stem) for p in folder.glob(f"*{SUFFIX}") if p.stem.isdigit())


def replay(folder: Path, after: Position) -> Iterator[tuple[Position, dict[str, Any] | None]]:
    """Every record after ``after``, with the position just past it. A bad line is
    yielded with None (skipped: its record is lost, the caller reports it), except a
    torn last line of the last segment, where replay ends (it was never acknowledged)."""
    numbers = segments(folder)
    for segment in numbers:
        if segment < after.segment:
            continue
        start = after.offset if segment == after.segment else 0
        with open(folder / f"{segment:010d}{SUFFIX}", "rb") as handle:
            handle.seek(start)
            offset = start
            for line in handle:
                record = decode(line)
                offset += len(line)
                if record is None and segment == numbers[-1] and not handle.peek(1):
                    return  # torn: the last line of the journal
                yield Position(segment, offset), record


def _cut_torn_tail(path: Path) -> None:
    """Cut a segment back to the end of its last valid line (a torn tail goes)."""
    end = offset = 0
    with open(path, "rb") as handle:
        for line in handle:
            offset += len(line)
            if decode(line) is not None:
                end = offset
    if end < offset:
        os.truncate(path, end)


def decode(line: bytes) -> dict[str, Any] | None:
    """The record of a journal line, or None when the line is torn or corrupt."""
    if len(line) < 10 or not line.endswith(b"\n") or line[8:9] != b" ":
        return None
    body = line[9:-1]
    try:
        if int(line[:8], 16) != zlib.crc32(body):
            return None
        record: dict[str, Any] = orjson.loads(body)
    except ValueError:
        return None
    return record


# -- records in the journal ---------------------------------------------------------------


def to_journal(record: Record) -> dict[str, Any]:
    """A record as a JSON object for the journal (:mod:`clm.ingest.journal`)."""
    if isinstance(record, EventRecord):
        return {
            "k": "e",
            "id": record.event_id,
            "c": record.customer_id,
            "a": record.anonymous_id,
            "t": record.type,
            "ts": record.ts,
            "cat": record.category,
            "amt": record.amount,
            "o": record.order_id,
            "p": record.properties,
        }
    if isinstance(record, ProfileRecord):
        return {
            "k": "p",
            "id": record.message_id,
            "c": record.customer_id,
            "ts": record.ts,
            "tr": record.traits,
            "cs": record.consent,
            "at": record.attributes,
        }
    return {
        "k": "l",
        "id": record.message_id,
        "a": record.anonymous_id,
        "c": record.customer_id,
        "ts": record.ts,
    }


def from_journal(data: dict[str, Any]) -> Record:
    """The record of a journal object (:func:`to_journal`)."""
    kind = data["k"]
    if kind == "e":
        return EventRecord(
            data["id"],
            data["c"],
            data["a"],
            data["t"],
            data["ts"],
            data["cat"],
            data["amt"],
            data["o"],
            data["p"],
        )
    if kind == "p":
        return ProfileRecord(data["id"], data["c"], data["ts"], data["tr"], data["cs"], data["at"])
    return LinkRecord(data["id"], data["a"], data["c"], data["ts"])
