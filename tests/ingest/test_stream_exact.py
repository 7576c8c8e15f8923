"""The server's bounded live state is exact on its rare paths (issue 5: the live view equals
``clm score`` on the same events).

A demo world goes through a real event stream on a DuckDB workspace, shuffled, with
repeats (within a request, of events being written, and of events long gone from the
recent ids), while the writer thread writes every millisecond. The bounds are shrunk so
that the rare paths run all the time: 2 orders kept per id (most lines fold an order,
late lines of folded orders are common), Bloom filters of 64 bits (nearly every id and
order key is a false "maybe", settled by the database or by rebuilding the id's ledger
from its every line: stored, being written, queued, earlier in the request) and 8 recent
ids. Some history reads fail (an I/O error) or miss the lines queued last: no line may
be lost. Every profile is then compared with the batch scoring of the stored events.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from clm import Workspace
from clm.ingest import demo
from clm.ingest import stream as stream_module
from clm.ingest.recent_ids import RecentIds
from clm.ingest.stream import EventStream
from clm.ingest.tracking import EventRecord, Record
from clm.profiles import live_bulk, live_load
from clm.profiles.live import HistoryRow
from tests.profiles.test_live import assert_same_as_batch
from tests.profiles.test_live import stream as records_of

FAIL_EVERY = 5  # every fifth history read fails


@pytest.fixture
def small_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_module, "FOLD_LIMIT", 2)
    # 64-bit filters, "maybe" nearly always: the event ids' (the stream's) and the order
    # keys' (the live state's, sized where it is loaded)
    monkeypatch.setattr(stream_module, "HEADROOM", 0)
    monkeypatch.setattr(live_load, "HEADROOM", 0)
    monkeypatch.setattr(live_bulk, "GROW", False)  # full from the start, and staying small


def faulty_history(stream: EventStream, fault: str) -> list[int]:
    """Make every :data:`FAIL_EVERY`-th history read of the stream fail: raise a database
    error (``fault`` "error"), or miss two of the id's lines not written yet (``fault``
    "short", a read that missed lines on their way to the database). Returns the counters
    of reads and of faults."""
    state = stream.live.state
    read = state.history
    assert read is not None
    calls = [0, 0]

    def history(
        kind: str, rid: str, key: str | None
    ) -> tuple[list[HistoryRow], list[tuple[str, str]]]:
        calls[0] += 1
        rows, others = read(kind, rid, key)
        if calls[0] % FAIL_EVERY:
            return rows, others
        if fault == "error":
            calls[1] += 1
            raise duckdb.IOException("injected: the database could not be read")
        pending = [*stream._inflight, *stream._queue, *stream._applying]
        unwritten = {r.event_id for r in pending if isinstance(r, EventRecord)}
        missed = [r[0] for r in rows if r[0] in unwritten][-2:]
        calls[1] += bool(missed)
        return [r for r in rows if r[0] not in missed], others

    state.history = history
    return calls


def requests(world: demo.DemoWorld, seed: int) -> Iterator[list[Record]]:
    """The world's records in requests of 40, shuffled, each with a repeat of its own, of
    the request before (pending or being written) and of an early one (long written)."""
    records = records_of(world)
    rng = random.Random(seed)
    rng.shuffle(records)
    sent: list[Record] = []
    for i in range(0, len(records), 40):
        batch = records[i : i + 40]
        extra = [batch[0]]
        if sent:
            extra += [sent[-1], sent[rng.randrange(len(sent))]]
        sent += batch
        yield batch + extra


@pytest.mark.parametrize(("seed", "fault"), [(1, "error"), (2, "short")])
def test_the_rare_paths_keep_every_profile_equal_to_the_batch(
    tmp_path: Path, small_bounds: None, seed: int, fault: str
) -> None:
    world = demo.generate(250, seed=20 + seed)
    ws = Workspace.init(tmp_path / "ws")
    try:
        stream = ws.start_stream(flush_interval=0.001)
        stream._recent = RecentIds(8)
        calls = faulty_history(stream, fault)
        rng = random.Random(seed)
        for request in requests(world, seed):
            stream.accept(request)
            if rng.random() < 0.05:
                stream.flush()
        ws.score()  # writes what is queued first, then scores the stored events
        assert calls[1] > 3 and stream.stats.id_lookups > 10  # the rare paths ran
        assert stream.live.state.fold_limit == 2
        order_keys = stream.live.state.order_keys
        assert order_keys is not None and order_keys.bits == 64 and stream._ids.bits == 64
        events = len(world.transactions) + len(world.events)
        assert stream.stats.accepted == events
        assert_same_as_batch(ws, stream.live)
        for facts in stream.live.state.customers.values():
            if facts.purchases is not None:
                assert len(facts.purchases) <= 2  # the bound held
    finally:
        ws.stop_stream()
        ws.close()
