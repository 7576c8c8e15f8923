"""The outbox's in-flight log: what a delivery run handed to a provider, before the database knows.

A DuckDB commit costs 6–9 ms on a workspace file; a line appended with ``os.write``
costs microseconds. So :func:`clm.automation.outbox.deliver` writes two lines per
message here and the outcomes to the database in batches:

- a **mark** (``{"m": message_id, "a": attempt}``) at the channel's point of no return
  (for SMTP right before the final ``.`` line), and
- an **outcome** (the same plus ``"s"`` status, ``"d"`` detail, ``"p"`` provider id,
  ``"t"`` the run's time) as soon as the provider answers.

Like the event journal (:mod:`clm.ingest.journal`), the file is opened with
``O_APPEND`` and each line is one ``os.write``: once it returns, the bytes belong to
the operating system, so a ``kill -9`` cannot lose them; a machine crash can, unless
``channels.outbox.fsync`` is on (one ``fsync`` per line). Lines are short, so a write
is not torn in practice; a line that does not parse (a torn last line) is skipped,
which is safe: a torn mark means the final dot was never sent.

After a crash, :func:`read` gives, per message, its last mark and outcome; the outbox
replays the outcomes the database lacks and treats a mark without an outcome as
interrupted mid-send (email: ``unknown``, never re-sent by itself). Once the database
holds everything (at the end of a run, or after the replay), the log is emptied
(:meth:`InflightLog.clear`). The file is ``.clm/outbox-inflight.log`` beside the
workspace database; an in-memory database needs no log (a crash loses it anyway).

Weighed and not taken: marking a small batch ``sending`` in one DuckDB commit before
sending it on one connection. It costs one commit per batch too, but a crash then makes
the whole batch ``unknown`` (most of it delivered, all of it for an operator to check),
where the log keeps that to the emails between mark and answer: one per SMTP connection.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson

NAME = "outbox-inflight.log"


@dataclass(frozen=True)
class Outcome:
    """A provider's answer as the log holds it."""

    status: str
    detail: str
    provider_id: str | None
    at: str  # the run's time (ISO), for ``sent_at``


@dataclass
class Entry:
    """What the log says about one message: the last attempt marked and its outcome."""

    attempt: int
    outcome: Outcome | None = None


def path_for(con: duckdb.DuckDBPyConnection) -> Path | None:
    """``.clm/outbox-inflight.log`` beside the connection's database file (None in memory)."""
    rows = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    if not rows or not rows[0][0]:
        return None
    return Path(rows[0][0]).resolve().parent / ".clm" / NAME


class InflightLog:
    """The append-only log of one workspace (one writer: the delivering process)."""

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path, self.fsync = path, fsync
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if created:  # the new file's name must survive a power cut too
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        self._lock = threading.Lock()  # fsync and truncation against concurrent appends

    def _append(self, record: dict[str, Any], *, durable: bool = False) -> None:
        data = orjson.dumps(record) + b"\n"
        with self._lock:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        if self.fsync or durable:
            # Outside the lock: the other sending threads keep appending meanwhile, and one
            # fsync covers every line written before it (a group commit).
            os.fsync(self._fd)

    def mark(self, message_id: str, attempt: int, *, durable: bool = False) -> None:
        """The message is about to pass its point of no return; ``durable`` forces the
        mark to disk first (email: a mark lost in a power cut would send it again)."""
        self._append({"m": message_id, "a": attempt}, durable=durable)

    def outcome(self, message_id: str, attempt: int, outcome: Outcome) -> None:
        """The provider answered."""
        self._append(
            {
                "m": message_id,
                "a": attempt,
                "s": outcome.status,
                "d": outcome.detail,
                "p": outcome.provider_id,
                "t": outcome.at,
            }
        )

    def clear(self) -> None:
        """Empty the log (the database holds everything it said)."""
        with self._lock:
            os.ftruncate(self._fd, 0)
            if self.fsync:
                os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def read(path: Path) -> dict[str, Entry]:
    """Per message id, the last attempt marked and its outcome (if the log has one)."""
    if not path.exists():
        return {}
    entries: dict[str, Entry] = {}
    for line in path.read_bytes().split(b"\n"):
        try:
            record = orjson.loads(line)
            message_id, attempt = str(record["m"]), int(record["a"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # the empty tail, or a torn last line: never past its point of no return
        entry = entries.get(message_id)
        if entry is None or attempt > entry.attempt:
            entry = entries[message_id] = Entry(attempt)
        elif attempt < entry.attempt:
            continue
        if "s" not in record:
            # A new mark of the same attempt (a requeue starts the attempts again): the
            # send it announces has no answer yet, whatever an earlier send got.
            entry.outcome = None
        else:
            entry.outcome = Outcome(
                str(record["s"]), str(record.get("d") or ""), record.get("p"), str(record["t"])
            )
    return entries
