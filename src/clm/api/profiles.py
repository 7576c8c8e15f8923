"""Reading routes: the live single customer view, profiles by segment, segment counts;
and the admin calls the local ``clm`` commands make while the server holds the
workspace (a scoring run, the status, the latest run's segments)."""

from __future__ import annotations

import json
import threading
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from clm.api.deps import AdminKey, ReadKey, State
from clm.scores.segments import PHASE_OF, PROSPECT, SEGMENTS
from clm.store.database import plain

router = APIRouter(prefix="/v1", tags=["profiles"])
admin = APIRouter(prefix="/v1/admin", tags=["admin"])
_scoring = threading.Lock()

SegmentName = Literal[
    "Loyal Visitors",
    "Engaged Visitors",
    "Prospect",
    "First-time Customers",
    "Champions",
    "Loyal Customers",
    "Potential Loyalists",
    "Recent Customers",
    "Promising Customers",
    "Cannot-lose Customers",
    "At Risk Customers",
    "Falling Asleep Customers",
]
assert set(SegmentName.__args__) == {*SEGMENTS, PROSPECT}  # type: ignore[attr-defined]


@router.get("/profiles/{customer_id:path}", summary="The live single customer view")
def profile(customer_id: str, state: State, _key: ReadKey) -> dict[str, Any]:
    """Everything ``clm customer --json`` shows, with scores and segment as of now."""
    with state.ws.reader() as ws:
        return ws.live_customer(customer_id)


@router.get("/profiles", summary="Profiles, optionally of one segment")
def profiles(
    state: State,
    _key: ReadKey,
    segment: SegmentName | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Profiles with their live segment, ordered by id; page with ``offset``."""
    rows = state.ws.live_profiles(segment, limit, offset)
    return {"segment": segment, "limit": limit, "offset": offset, "profiles": rows}


@router.get("/segments", summary="Live segment counts")
def segments(state: State, _key: ReadKey) -> dict[str, Any]:
    """Profiles per segment (and phase) now."""
    counts = state.ws.live_segments()
    total = sum(counts.values())
    rows = [
        {
            "segment": s,
            "phase": PHASE_OF.get(s),
            "customers": counts.get(s, 0),
            "share": counts.get(s, 0) / total if total else 0.0,
        }
        for s in (*SEGMENTS, PROSPECT)
    ]
    live = state.ws.stream.live if state.ws.stream else None
    return {"as_of": live.as_of().isoformat() if live else None, "total": total, "segments": rows}


class ScoreRequest(BaseModel):
    as_of: date | None = Field(None, description="Default: the date of the latest event.")
    engine: Literal["duckdb", "spark"] | None = None


@admin.post("/score", summary="Run a scoring run and publish its calibration")
async def score(body: ScoreRequest, state: State, _key: AdminKey) -> dict[str, Any]:
    """``clm score`` through the server: every accepted event is stored first, and the
    live profiles use the new calibration as soon as the run ends."""

    def run() -> dict[str, Any]:
        with _scoring, state.ws.reader() as ws:
            result = ws.score(body.as_of, engine=body.engine)
        return {
            "run_id": result.run_id,
            "as_of": result.as_of.isoformat(),
            "window_days": result.window_days,
            "engine": result.engine,
            "n_profiles": result.n_profiles,
            "n_buyers": result.n_buyers,
            "seconds": result.seconds,
            "calibration": json.loads(result.calibration.to_json()),
        }

    return await run_in_threadpool(run)


@admin.get("/status", summary="What the workspace holds, and the server's counters")
def status(state: State, _key: AdminKey) -> dict[str, Any]:
    with state.ws.reader() as ws:
        info = ws.status()
        memory = ws.con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchall()
    info["server"] = server_stats(state)
    info["server"]["database_memory_bytes"] = int(memory[0][0] or 0)  # DuckDB's buffers
    return info


@admin.get("/segments", summary="The latest scoring run's segments (clm segments)")
def run_segments(state: State, _key: AdminKey) -> dict[str, Any]:
    with state.ws.reader() as ws:
        table = ws.segments()
        run_id, as_of = ws.latest_run()
    rows = [{k: plain(v) for k, v in r.items()} for r in table.to_dict("records")]
    return {"run_id": run_id, "as_of": as_of.isoformat(), "segments": rows}


def server_stats(state: State) -> dict[str, Any]:
    """Event API health: accepted events, their rate, repeats, writes, answers by status."""
    stream = state.ws.stream
    stats = stream.stats if stream else None
    return {
        "events_accepted": stats.accepted if stats else 0,
        "events_per_second": stats.rate() if stats else 0.0,
        "duplicates_ignored": stats.duplicates if stats else 0,
        "records_written": stats.written if stats else 0,
        "write_errors": stats.write_errors if stats else 0,
        "records_quarantined": stats.quarantined if stats else 0,  # .clm/journal/rejected.jsonl
        "live_apply_errors": stats.apply_errors if stats else 0,
        "id_lookups": stats.id_lookups if stats else 0,  # repeats settled by the database
        "id_lookup_errors": stats.lookup_errors if stats else 0,  # each answered 503
        "history_reads": stats.history_reads if stats else 0,  # ledgers built again
        # failed history reads: their ids are built again at their next line or read
        "history_errors": stream.profiles.state.history_errors if stream and stream.profiles else 0,
        "last_write_seconds": stats.last_write_seconds if stats else 0.0,
        "responses": {str(k): v for k, v in sorted(state.responses.items())},
        "automations": state.scheduler.stats() if state.scheduler is not None else None,
    }
