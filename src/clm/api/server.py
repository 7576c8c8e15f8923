"""Running ``clm serve``: one process that holds the workspace and answers on HTTP
(see :mod:`clm.store.serving` for how other ``clm`` commands find it)."""

from __future__ import annotations

import gc
import json
import logging
import os
import secrets
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import uvicorn

from clm.api.app import create_app
from clm.api.deps import ServerState
from clm.api.keys import KeyStore, state_dir, write_private
from clm.api.limits import RateLimiter
from clm.automation.scheduler import Scheduler
from clm.store.serving import SERVE_FILE, local_url
from clm.workspace import Workspace

SWITCH_INTERVAL = 0.001  # seconds a thread holds the GIL before another may take it
GC_THRESHOLDS = (20_000, 20, 50)  # allocations before a young pass; passes before older ones
# DuckDB's memory limit while serving when ``engine.memory_limit`` is not set: a quarter of
# the RAM, at least 1 GiB (the share PostgreSQL's manual suggests for ``shared_buffers``
# on a dedicated server). DuckDB's own default, 80% of the RAM, lets its cache of the
# growing events table take memory for as long as the server runs; a fixed 256 MB, tried
# first, made the scheduler's heavy tick at 1,000,000 profiles fail with
# OutOfMemoryException (benchmarks/RESULTS.md, event API). Set once the live state is
# built (the start's aggregates over every stored event may use more).
SERVE_MEMORY_SHARE = 0.25
SERVE_MEMORY_FLOOR = 2**30  # bytes


def build(ws: Workspace, scheduler: Scheduler | None = None) -> tuple[ServerState, object]:
    """The server state and the application over an opened workspace with its stream."""
    settings = ws.settings.server
    state = ServerState(
        ws=ws,
        keys=KeyStore(ws.root),
        settings=settings,
        local_token=secrets.token_urlsafe(32),
        limiter=RateLimiter(settings.rate_limits.burst_seconds),
        scheduler=scheduler,
    )
    return state, create_app(state)


# where a container's memory limit is (cgroup v2, then v1); "max" or a huge number: none
CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)


def machine_memory(limits: tuple[Path, ...] = CGROUP_LIMITS) -> int:
    """The bytes of memory this process may use: the RAM, or a container's (cgroup)
    limit when smaller (found in review: the RAM alone is the host's in a container)."""
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    found = [ram]
    for path in limits:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            found.append(int(text))
    return min(found)


def serve_memory_limit(memory: int | None = None) -> int:
    """The bytes DuckDB may use while serving by default (see :data:`SERVE_MEMORY_SHARE`)."""
    total = machine_memory() if memory is None else memory
    return max(SERVE_MEMORY_FLOOR, int(total * SERVE_MEMORY_SHARE))


def limit_memory(ws: Workspace) -> None:
    """DuckDB's memory limit for serving: :func:`serve_memory_limit` unless the workspace
    sets ``engine.memory_limit`` (applied when it was opened)."""
    if not ws.settings.engine.memory_limit:
        ws.con.execute(f"SET memory_limit = '{serve_memory_limit() // 2**20}MiB'")


def serve(
    root: Path,
    host: str | None = None,
    port: int | None = None,
    say: Callable[[str], None] = print,
    *,
    access_log: bool = False,
) -> None:
    """Open the workspace, start the live stream and answer HTTP until stopped; with
    ``access_log``, log one line per request (its route template, never ids)."""
    _log_to_stderr(access_log)
    ws = Workspace.open(root)
    try:
        settings = ws.settings.server
        host = host or settings.host
        port = port or settings.port
        ws.start_stream(
            flush_interval=settings.flush_interval_ms / 1000, fsync=settings.fsync, progress=say
        )
        limit_memory(ws)
        scheduler = Scheduler(ws, ws.settings.automation.serve_tick_seconds)
        assert ws.stream is not None
        ws.stream.listeners.append(scheduler.stored)
        scheduler.start()
        state, app = build(ws, scheduler)
        url = local_url(host, port)  # a wildcard address is reached on loopback
        path = state_dir(root) / SERVE_FILE
        write_private(
            path, json.dumps({"pid": os.getpid(), "url": url, "token": state.local_token})
        )
        say(f"clm serve: workspace {ws.settings.workspace.name} at {url} (API docs: {url}/docs)")
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again
        # with the handler it found: make that handler unwind (stop the stream, remove the
        # serve file) instead of ending the process on the spot.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _exit)
        # The writer thread's Python work (building a batch's Arrow table) holds the GIL
        # for tens of milliseconds; the event loop waits for it at every switch, 5 ms by
        # default. 1 ms lets requests through between the writer's slices.
        sys.setswitchinterval(SWITCH_INTERVAL)
        # The cycle collector: the live state built at start (half a million objects at
        # 50,000 profiles) is frozen, left out of every pass; and a request's objects
        # (a batch allocates thousands, freed by reference counting when it ends) no
        # longer start a pass every 700 allocations. Under /v1/batch load the passes
        # took 0.15-0.5 ms a request, full ones 50-130 ms several times a minute; with
        # these thresholds ~0.06 ms. Cyclic garbage is still collected, less often.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        try:
            uvicorn.run(
                app,  # type: ignore[arg-type]
                host=host,
                port=port,
                access_log=False,
                log_level="warning",
                http="httptools",
                loop="uvloop" if sys.platform != "win32" else "asyncio",
                timeout_graceful_shutdown=5,
            )
        finally:
            path.unlink(missing_ok=True)
            scheduler.stop()
    finally:
        ws.stop_stream()
        ws.close()


def _exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _log_to_stderr(access_log: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    for name, level in (
        ("clm.http", logging.INFO if access_log else logging.WARNING),
        ("clm.stream", logging.INFO),
    ):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.addHandler(handler)
