"""The event stream of ``clm serve``: durable on acceptance, live at once, stored in batches.

:meth:`EventStream.accept` takes the records of one request: it drops repeated event
ids, appends the rest to the journal (:mod:`clm.ingest.journal`; once that returns the
records survive a ``kill -9``), applies them to the live profiles and queues them for
the database. A background thread writes the queue to the workspace database every
``flush_interval`` seconds (:mod:`clm.ingest.live_writer`), with the journal position,
in one transaction; when writes take long (a write costs about the same for 300
records as for 3,000: it is mostly the duplicate check against the stored events), it
waits longer, so that writing takes at most :data:`WRITER_SHARE` of the time and the
batches grow with the load instead of the writer's share of the CPU. On start the
stream first writes what the journal holds beyond the database's position (what a crash
left unwritten), then builds the live state from the database. A record the database
refuses, there or in the writer thread, is kept with the reason in
``.clm/journal/rejected.jsonl`` (:mod:`clm.ingest.quarantine`) and counted in the stats; the
writer thread survives every error and retries what it could not write. A refused event
is not stored, so it is taken out of the live state too (its id's facts are built again
from what is stored and not written yet) and its id is no stored id: a later different
record with that id is taken, stored and applied once, while the same record sent again
(the same content, remembered by a hash, also across restarts) is a repeat.

Repeats and memory: the live state is bounded (:mod:`clm.profiles.live`), so the
stream checks event ids itself, exactly (:mod:`clm.ingest.repeats`: pending ids, recent
ids, a Bloom filter settled by the database). When a purchase line may belong to an order
its id's ledger folded, the state reads the id's every line (:meth:`EventStream._history`,
:mod:`clm.ingest.stream_reads`): the stored ones and those accepted but not written yet
(queued, being written, or earlier in the same request), each event id once, so a write
committing meanwhile neither drops nor doubles one. A read that fails, or holds fewer
lines than the ledger took, leaves the id unsettled and is done again (at its next line,
at the end of the request, before its profile is read), so no line is lost
(:mod:`clm.profiles.live_settle`). A database that cannot say which ids it holds makes
the request fail whole with :class:`~clm.errors.DatabaseUnavailable` (a 503), before
anything is journaled or applied.

Threads: whatever reads or changes the live state holds :attr:`EventStream.lock`; the
writer thread only touches the queue and the pending ids (under its own lock) and its
own database cursor; the history reader has a cursor of its own (used under the lock).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import orjson

from clm.config import Settings
from clm.errors import DatabaseUnavailable, InvalidMessage
from clm.ingest import journal, live_writer, quarantine, repeats, stream_reads
from clm.ingest.journal import Journal, Position, from_journal, to_journal
from clm.ingest.quarantine import QUARANTINE, RefusedEvents
from clm.ingest.recent_ids import RecentIds
from clm.ingest.stream_stats import StreamStats
from clm.ingest.tracking import EventRecord, Record, check_record
from clm.profiles import live_bulk
from clm.profiles.bloom import Bloom, hashes_of
from clm.profiles.live import HistoryRow, Key, owner
from clm.profiles.live_load import FOLD_LIMIT, HEADROOM, load_calibration, load_state
from clm.profiles.live_profiles import LiveProfiles
from clm.store import database

__all__ = ["QUARANTINE", "EventStream", "StreamStats"]  # imported from here too

log = logging.getLogger("clm.stream")
REPLAY_BATCH = 50_000
WRITER_SHARE = 0.1  # the writer thread waits at least 9 times as long as its last write


def _kind(exc: BaseException) -> str:
    """An error's kind for the log: its class only (messages may quote personal data)."""
    return type(exc).__name__


class EventStream:
    """See the module docstring."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        root: Path,
        settings: Settings,
        *,
        flush_interval: float = 0.1,
        fsync: bool = False,
    ) -> None:
        self.con = con
        self.settings = settings
        self.folder = root / ".clm" / "journal"
        self.flush_interval = flush_interval
        self.fsync = fsync
        self.stats = StreamStats()
        # Called with each batch once it is stored (the automation scheduler listens).
        self.listeners: list[Callable[[list[Record]], None]] = []
        self.profiles: LiveProfiles | None = None
        self._journal: Journal | None = None
        self._queue: list[Record] = []
        self._queue_end = journal.START
        self._inflight: list[Record] = []  # the batch being written
        self._pending: set[str] = set()  # ids accepted and not written yet
        self._recent = RecentIds()  # the latest ids written
        self._applying: list[EventRecord] = []  # the current request's events applied so far
        self._ids = Bloom(0)  # every other event id seen (from start)
        self._refused = RefusedEvents()  # events the database refused (by id and content)
        self._untaken: set[Key] = set()  # ids whose refused events are still in the live state
        self._refused_ts: int | None = None  # the latest refused event's time, until taken back
        self._reader: duckdb.DuckDBPyConnection | None = None
        self.lock = threading.RLock()  # the live state: held to change or read it
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def live(self) -> LiveProfiles:
        """The live profiles (once started)."""
        if self.profiles is None:
            raise RuntimeError("the event stream is not started")
        return self.profiles

    # -- start and stop ----------------------------------------------------------------------

    def start(self, progress: Callable[[str], None] | None = None) -> LiveProfiles:
        """Write what the journal holds beyond the database, build the live state, start
        the writer thread; return the live profiles."""
        say = progress or (lambda _m: None)
        self._refused = RefusedEvents.load(self.folder / QUARANTINE)
        cursor = database.cursor(self.con)
        replayed = self._replay(cursor, say)
        if replayed:
            say(f"wrote {replayed:,} journaled records the last run had not stored")
        say("building the live profiles from the stored events")
        state = load_state(cursor, self.settings, fold_limit=FOLD_LIMIT)
        self._ids = live_bulk.event_id_filter(cursor, HEADROOM)
        self._reader = database.cursor(self.con)
        state.history = self._history
        calibration = load_calibration(cursor, self.settings)
        self.profiles = LiveProfiles(state, calibration, self.settings.rfm.window_days)
        self.profiles.refresh()
        self._journal = Journal(self.folder, fsync=self.fsync)
        self._thread = threading.Thread(
            target=self._run, args=(cursor,), name="clm-writer", daemon=True
        )
        self._thread.start()
        return self.profiles

    def _replay(self, cursor: duckdb.DuckDBPyConnection, say: Callable[[str], None]) -> int:
        if not self.folder.exists():
            return 0
        done = 0
        batch: list[Record] = []
        end = live_writer.checkpoint(cursor)
        rejected = self.stats.quarantined
        for position, data in journal.replay(self.folder, end):
            end = position
            if data is None:
                self._reject(
                    {"journal_line_ending_at": list(position)},
                    ValueError("a damaged journal line (checksum mismatch); its record is lost"),
                )
                continue
            try:
                batch.append(from_journal(data))
            except live_writer.RECORD_ERRORS as exc:
                self._reject(data, exc)
                continue
            if len(batch) >= REPLAY_BATCH:
                done += self._store(cursor, batch, end)
                batch = []
        if batch or end != live_writer.checkpoint(cursor):
            done += self._store(cursor, batch, end)
        if (n := self.stats.quarantined - rejected) > 0:
            say(
                f"{n:,} journaled record{'s' if n > 1 else ''} could not be stored; kept, "
                f"with the reason, in {self.folder / QUARANTINE}"
            )
        return done

    def _store(
        self,
        cursor: duckdb.DuckDBPyConnection,
        batch: list[Record],
        end: Position,
        reject: Callable[[Record, BaseException], None] | None = None,
    ) -> int:
        """Write a batch; if it fails, record by record, quarantining the records the
        database refuses (errors of the database itself propagate)."""
        try:
            live_writer.write(cursor, batch, end)
            return len(batch)
        except Exception as exc:  # retried record by record below
            log.warning("writing a batch failed (%s); writing it record by record", _kind(exc))
        return live_writer.write_each(cursor, batch, end, reject or self._reject)

    def _reject(self, record: Record | dict[str, Any], exc: BaseException) -> None:
        """Keep a record the database cannot take in the quarantine file, with the reason;
        the log names the error's kind only (the file may hold personal data)."""
        data = record if isinstance(record, dict) else to_journal(record)
        quarantine.keep(self.folder, data, exc)
        self._refused.remember(data)
        self.stats.quarantined += 1
        log.error("a record could not be stored (%s); kept in %s", _kind(exc), QUARANTINE)

    def stop(self) -> None:
        """Write what is queued and stop the writer thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._journal is not None:
            self._journal.close()
        if self._reader is not None:
            self._reader.close()

    # -- accepting ---------------------------------------------------------------------------

    def accept(self, records: list[Record]) -> int:
        """Take one request's records: journal, apply, queue. Returns how many events were
        new; raises ``OSError`` when the journal cannot be written and
        :class:`~clm.errors.DatabaseUnavailable` when the database cannot say which ids it
        holds (either way nothing is journaled or applied)."""
        assert self.profiles is not None and self._journal is not None
        with self.lock:
            return self._accept(records)

    def _accept(self, records: list[Record]) -> int:
        assert self.profiles is not None and self._journal is not None
        state = self.profiles.state
        fresh = self._fresh(records)
        if not fresh:
            return 0
        lines = []
        for record in fresh:  # everything is checked and encoded before anything is kept
            check_record(record)
            try:
                lines.append(journal.encode(to_journal(record)))
            except orjson.JSONEncodeError as exc:
                raise InvalidMessage("properties", f"cannot be stored: {exc}") from None
        end = self._journal.append(lines)
        ids = [r.event_id for r in fresh if isinstance(r, EventRecord)]
        self._ids.add_many(hashes_of(ids))
        with self._lock:
            self._pending.update(ids)
        self._applying = []
        state.writes = self.stats.written_batches
        try:
            for record in fresh:
                try:
                    state.apply(record, new=True)
                except Exception as exc:  # journaled: the database still gets it
                    self.stats.apply_errors += 1
                    log.error("applying a record to the live state failed (%s)", _kind(exc))
                    continue
                if isinstance(record, EventRecord):
                    self._applying.append(record)
        finally:
            self._applying = []
        with self._lock:
            self._queue.extend(fresh)
            self._queue_end = end
        if state.unsettled:  # a history read failed: the lines are queued now, read again
            state.settle()
        self.stats.accepted += len(ids)
        self.stats.recent.append((time.monotonic(), len(ids)))
        return len(ids)

    def _fresh(self, records: list[Record]) -> list[Record]:
        """The records but repeated events (:func:`clm.ingest.repeats.fresh`)."""
        fresh, duplicates = repeats.fresh(
            records,
            pending=self._pending,
            recent=self._recent,
            seen=self._ids,
            refused=self._refused,
            stored=self._stored,
        )
        self.stats.duplicates += duplicates
        return fresh

    def _stored(self, ids: list[str]) -> set[str]:
        """Which of these ids the database holds. Raises :class:`DatabaseUnavailable` when
        the database cannot say for now (the request is then refused whole: nothing
        journaled); any other database error propagates (a defect, not a condition)."""
        assert self._reader is not None
        self.stats.id_lookups += 1
        try:
            return stream_reads.stored_ids(self._reader, ids)
        except database.TRANSIENT as exc:
            self.stats.lookup_errors += 1
            log.error("checking stored event ids failed (%s); request refused", _kind(exc))
            raise DatabaseUnavailable("the stored event ids") from None

    def _unwritten(self) -> list[EventRecord]:
        """The events accepted and not written yet: being written, queued, and applied
        earlier in the current request."""
        with self._lock:
            unwritten = [r for r in (*self._inflight, *self._queue) if isinstance(r, EventRecord)]
        return unwritten + self._applying

    def _history(
        self, kind: str, rid: str, key: str | None
    ) -> tuple[list[HistoryRow], list[tuple[str, str]]]:
        """Every purchase line of an id (:data:`clm.profiles.live.History`): stored, being
        written, queued, or applied earlier in this request; and the other ids with lines
        of the order ``key`` (:func:`clm.ingest.stream_reads.history`)."""
        assert self._reader is not None
        self.stats.history_reads += 1
        return stream_reads.history(self._reader, self._unwritten(), kind, rid, key)

    # -- writing -----------------------------------------------------------------------------

    def _pause(self) -> float:
        """Seconds until the next write (see the module docstring)."""
        return max(self.flush_interval, self.stats.last_write_seconds * (1 / WRITER_SHARE - 1))

    def _run(self, cursor: duckdb.DuckDBPyConnection) -> None:
        while not self._stop.wait(self._pause()):
            self._write_queued(cursor)
        self._write_queued(cursor)
        cursor.close()

    def _write_queued(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """Write what is queued, then take refused events back from the live state (also
        when nothing was queued: a take-back that failed is retried on an idle server)."""
        self._write_batch(cursor)
        if self._untaken or self._refused_ts is not None:  # the live state's lock is taken
            self._take_back()  # after the write lock (see paused)

    def _write_batch(self, cursor: duckdb.DuckDBPyConnection) -> None:
        with self._write_lock:
            with self._lock:
                batch, end = self._queue, self._queue_end
                self._queue = []
                self._inflight = batch
            if not batch:
                return
            clock = time.perf_counter()
            refused: list[EventRecord] = []

            def reject(record: Record, exc: BaseException) -> None:
                if isinstance(record, EventRecord):
                    refused.append(record)
                self._reject(record, exc)

            try:
                self._store(cursor, batch, end, reject)
            except Exception as exc:  # the writer keeps running and retries
                self.stats.write_errors += 1
                log.error("writing %d records to the database failed (%s)", len(batch), _kind(exc))
                with self._lock:
                    self._queue = batch + self._queue
                    self._inflight = []
                    if self._queue_end < end:
                        self._queue_end = end
                return
            bad = {r.event_id for r in refused}
            with self._lock:  # written: the recent ids, the filter and the database have them
                written = [r.event_id for r in batch if isinstance(r, EventRecord)]
                self._recent.add_many(e for e in written if e not in bad)  # refused: not stored
                self._pending.difference_update(written)
                self._inflight = []
                self._untaken.update(owner(r) for r in refused)
                if refused:
                    latest = max(r.ts for r in refused)
                    self._refused_ts = max(latest, self._refused_ts or latest)
            self.stats.written += len(batch)
            self.stats.written_batches += 1
            for listener in self.listeners:
                listener(
                    [r for r in batch if not isinstance(r, EventRecord) or r.event_id not in bad]
                )
            self.stats.last_write_seconds = time.perf_counter() - clock
            if self._journal is not None:
                self._journal.drop_before(Position(end.segment, 0))

    def _take_back(self) -> None:
        """Take the refused events out of the live state: the latest event time is read
        again if a refused event was the latest (first: the ledgers built next keep their
        window from it), then the refused events' ids' facts are built again from what is
        stored and not written yet (the refused records are in neither), all ids in one
        read. What fails stays to do at the next turn of the writer; no error stops it."""
        if self.profiles is None or self._reader is None:
            return
        with self.lock:
            state = self.profiles.state
            with self._lock:
                todo = sorted(self._untaken)
                latest = self._refused_ts
            try:
                unwritten = self._unwritten()  # before the database (see stream_reads)
                if latest is not None and state.latest_ts is not None and latest >= state.latest_ts:
                    state.latest_ts = stream_reads.latest_ts(self._reader, unwritten)
                with self._lock:
                    if self._refused_ts == latest:  # else a newer refusal came meanwhile
                        self._refused_ts = None
                if todo:
                    events = stream_reads.events_of(self._reader, unwritten, todo)
                    for who in todo:
                        state.replace_facts(who, events[who])
                        with self._lock:
                            self._untaken.discard(who)
            except Exception as exc:  # the writer thread survives every error
                log.error("taking back refused events failed (%s); retried", _kind(exc))

    def flush(self) -> None:
        """Write everything accepted so far to the database now (before a scoring run)."""
        cursor = database.cursor(self.con)
        try:
            self._write_queued(cursor)
        finally:
            cursor.close()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Everything accepted is written, and the writer waits until the block ends (a
        scoring run reads a database that does not change under it)."""
        self.flush()
        with self._write_lock:
            yield
