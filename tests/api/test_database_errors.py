"""A database that fails a read on a request's path (issue 5): the answer is a 503 with
``Retry-After`` and a JSON reason without personal data or SQL, nothing of the request is
journaled, acknowledged or applied live, and the same request sent again once the database
is back ends in the state one successful request makes.

The server is the real application (:func:`clm.api.server.build`) under uvicorn on
127.0.0.1; the fault is injected behind one narrow seam per test (the stream's stored-id
lookup, the view's identity read) as a ``duckdb.IOException`` whose text quotes SQL and
a customer id, which must not reach the client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
import uvicorn

from clm import Workspace
from clm.api import server as api_server
from clm.api.keys import KeyStore
from clm.ingest import stream_reads
from clm.ingest.recent_ids import RecentIds
from clm.ingest.stream import EventStream
from clm.profiles import view
from tests.api.server import free_port
from tests.profiles.test_live import assert_same_as_batch

SECRET = "c-secret-7"  # a customer id: never in an answer
LEAK = f"SELECT event_id FROM events WHERE customer_id = '{SECRET}'"


def fail(*_args: Any, **_kwargs: Any) -> Any:
    raise duckdb.IOException(f"injected: could not read block 12 for {LEAK}")


class Served:
    def __init__(self, ws: Workspace, url: str, key: str) -> None:
        self.ws = ws
        self.url = url
        self.key = key

    @property
    def stream(self) -> EventStream:
        assert self.ws.stream is not None
        return self.ws.stream

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=30
        )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    ws = Workspace.init(tmp_path / "ws")
    ws.start_stream(flush_interval=60)  # written when the test flushes
    _state, app = api_server.build(ws)
    key = KeyStore(ws.root).create("admin")[1]
    port = free_port()
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host="127.0.0.1",
        port=port,
        log_level="critical",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    try:
        yield Served(ws, f"http://127.0.0.1:{port}", key)
    finally:
        server.should_exit = True
        thread.join(10)
        ws.stop_stream()
        ws.close()


def event(message_id: str, kind: str = "visit", **properties: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": SECRET,
        "event": kind,
        "messageId": message_id,
        "timestamp": "2026-10-30T10:00:00Z",
        "properties": properties,
    }


def assert_unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"].isdigit() and int(answer.headers["retry-after"]) >= 1
    body = answer.json()
    assert "retry later" in body["detail"]
    for leaked in (SECRET, "SELECT", "injected", "IOException"):
        assert leaked not in answer.text


def journal_bytes(ws: Workspace) -> int:
    return sum(p.stat().st_size for p in (ws.root / ".clm" / "journal").glob("*"))


def test_a_failed_stored_id_lookup_answers_503_and_takes_nothing(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream, ws = served.stream, served.ws
    first = [event("m-1"), event("m-2", "Order Completed", order_id="o-1", revenue=30)]
    with served.client() as client:
        assert client.post("/v1/batch", json={"batch": first}).status_code == 200
        stream.flush()
        stream._recent = RecentIds(8)  # m-1 is now asked of the database when repeated
        retry = {"batch": [event("m-1"), event("m-3", "Order Completed", revenue=12.5)]}
        with stream.lock:
            before = stream.live.live_view(("c", SECRET))
        accepted, journaled = stream.stats.accepted, journal_bytes(ws)
        with monkeypatch.context() as patch:
            patch.setattr(stream_reads, "stored_ids", fail)  # the database, under the stream
            assert_unavailable(client.post("/v1/batch", json=retry))
            assert_unavailable(client.post("/v1/track", json=event("m-1")))
        assert stream.stats.lookup_errors == 2
        assert stream.stats.accepted == accepted and journal_bytes(ws) == journaled
        assert not stream._pending and not stream._queue
        with stream.lock:
            assert stream.live.live_view(("c", SECRET)) == before  # nothing applied
        # the database is back: the same request is taken once, the repeat ignored
        assert client.post("/v1/batch", json=retry).status_code == 200
        assert client.post("/v1/batch", json=retry).status_code == 200
    assert stream.stats.accepted == 3
    ws.score()  # writes what is queued, then scores the stored events
    ids = ws.con.execute("SELECT event_id FROM events ORDER BY 1").fetchall()
    assert [i[0] for i in ids] == ["m-1", "m-2", "m-3"]
    assert_same_as_batch(ws, stream.live)
    with stream.lock:
        counts = stream.live.live_view(("c", SECRET))
    assert counts is not None and counts["events"] == {"visit": 1, "purchase": 2}


def test_a_failed_profile_read_answers_503(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    with served.client() as client:
        assert client.post("/v1/track", json=event("m-1")).status_code == 200
        assert client.get(f"/v1/profiles/{SECRET}").status_code == 200
        monkeypatch.setattr(view, "identity", fail)
        assert_unavailable(client.get(f"/v1/profiles/{SECRET}"))
        monkeypatch.undo()
        assert client.get(f"/v1/profiles/{SECRET}").json()["id"] == SECRET


def test_a_defect_in_a_query_answers_500_not_retry_later(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a failure of the database's operation (I/O, memory, a conflict) asks the
    client to retry; a query the database cannot bind is a defect: 500, nothing leaked."""

    def defect(*_args: Any, **_kwargs: Any) -> Any:
        raise duckdb.BinderException(f"injected: column not found near {LEAK}")

    with served.client() as client:
        assert client.post("/v1/track", json=event("m-1")).status_code == 200
        monkeypatch.setattr(view, "identity", defect)
        answer = client.get(f"/v1/profiles/{SECRET}")
        assert answer.status_code == 500 and "retry-after" not in answer.headers
        for leaked in (SECRET, "injected", "Binder"):
            assert leaked not in answer.text
