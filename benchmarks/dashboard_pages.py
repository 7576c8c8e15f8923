"""Server time of every dashboard page on a large workspace (issue 8: under 300 ms at 1M).

A demo world (``--base`` profiles, scored as of ``clm demo``'s history dates and its
as-of date, with the seed programmes run day by day over the demo's simulated weeks, as
``clm demo`` does) is copied ``--copies`` times inside DuckDB (every id gets a ``~k``
suffix, so each copy is a new set of profiles with the same history, enrolments,
decisions and messages); 500 copies of 2,000 profiles are 1M profiles with about 20M
events, four scoring runs and the automations' tables 500 times over. Every table is laid
out as clm writes it at that size (:func:`scale`): a run's scores sorted by profile, the
events in import order (time order) with each row's copies next to it, so a profile's
events are spread over the whole table as after a real import. The pages are then
requested through the dashboard router in process (Starlette's TestClient, admin Bearer
key) and the ``Server-Timing`` header read: the first request after start (cold: nothing
cached) and the median of ``--repeat`` more (warm: population pages come from the
per-run cache).

The base world (``WORKDIR/demo-BASE``) and the scaled one
(``WORKDIR/demo-BASExCOPIES-clm-layout``, marked done by a ``done`` file) are reused when
they exist; delete a folder to build it again. Worlds scaled before the layout fix
(``demo-BASExCOPIES``, each copy's rows packed together) are not used.

    .venv/bin/python benchmarks/dashboard_pages.py --copies 500          # 1M profiles
    .venv/bin/python benchmarks/dashboard_pages.py --copies 5 --no-append  # a quick check
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
from benchmarks import machine
from fastapi import FastAPI
from fastapi.testclient import TestClient

from clm import Workspace
from clm.ingest import demo
from clm.ingest.demo import story
from clm.store import summaries

KEY = "bench-key"
# Tables holding profile ids, and the id columns each copy suffixes.
COPIED = {
    "profiles": ("customer_id",),
    "consents": ("customer_id",),
    "identities": ("customer_id", "anonymous_id"),
    "events": ("event_id", "customer_id", "anonymous_id", "order_id"),
    "scores": ("customer_id", "anonymous_id"),
    "activity": ("customer_id", "anonymous_id"),
    "next_best": ("customer_id", "anonymous_id"),
    "clv": ("customer_id", "anonymous_id"),
    "identity_links": ("customer_id", "anonymous_id"),
    "enrolments": ("enrolment_id", "customer_id"),
    "decisions": ("decision_id", "enrolment_id", "customer_id", "message_id"),
    "outbox": ("message_id", "enrolment_id", "customer_id"),
    "banner_impressions": ("message_id", "customer_id"),
    "crossing_states": ("customer_id",),
}
# The order clm itself writes each table in, for a world of every copy at once: a run's
# score rows sorted by profile (``clm.scores.pipeline.BY_PROFILE``), every other table in
# the order its rows were appended (imports in file order, so the demo's time order, and the
# scheduler's rows tick by tick), each original row followed by its copies, as if the one
# import or tick had written all of them: a profile's events are spread over the table's
# whole time range, not packed into its copy's few row groups.
BY_PROFILE = "run_id, coalesce(customer_id, anonymous_id), customer_id IS NULL"
ORDER = {"scores": BY_PROFILE, "activity": BY_PROFILE, "next_best": BY_PROFILE, "clv": BY_PROFILE}
# An outcome event of copy k names copy k's message (its id suffixed like the outbox's).
MESSAGE_OF_COPY = """CASE WHEN k = 0 OR json_extract_string(properties, '$.message_id') IS NULL
    THEN properties ELSE json_merge_patch(properties, json_object('message_id',
    json_extract_string(properties, '$.message_id') || '~' || k)) END"""
LAYOUT = "clm-layout"  # the scaled world's folder suffix (older worlds were copied per copy)


def build_base(root: Path, n_profiles: int) -> str:
    """``clm demo``'s world: scored at its history dates, the seed programmes run."""
    with Workspace.init(root, name="bench") as ws:
        world = demo.build(ws, n_profiles, seed=5, history=story.HISTORY_DAYS)
        story.use_folder_channels(ws)
        story.run_programmes(ws, world.as_of)
        return world.seed_customer_id


def scale(root: Path, copies: int) -> None:
    """Make every profile table ``copies`` times as large (copy 0 keeps the original ids,
    copy k suffixes every id with ``~k``), each rewritten in the order clm writes it
    (:data:`ORDER`): the table is recreated from its own ``CREATE`` statement and its
    indexes, so constraints and indexes stay as the migrations made them; the per-run
    summaries, the kept measurement units and the events clustered by profile are brought
    up to every copy, as scoring, the imports and the last automation run would have."""
    from clm.automation import kept_units  # here: the script also times older clm code
    from clm.profiles import clustered

    with Workspace.open(root) as ws:
        con = ws.con
        for table, columns in COPIED.items():
            create = con.execute(
                "SELECT sql FROM duckdb_tables() WHERE table_name = ?", [table]
            ).fetchall()[0][0]
            indexes = con.execute(
                "SELECT index_name, sql FROM duckdb_indexes() WHERE table_name = ?", [table]
            ).fetchall()
            names = [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
            select = ", ".join(
                f"CASE WHEN k = 0 THEN {c} ELSE {c} || '~' || k END AS {c}"
                if c in columns
                else f"{MESSAGE_OF_COPY} AS {c}"
                if (table, c) == ("events", "properties")
                else c
                for c in names
            )
            order = f"{ORDER[table]}, _r, k" if table in ORDER else "_r, k"
            for name, _ in indexes:
                con.execute(f"DROP INDEX {name}")
            con.execute(f"ALTER TABLE {table} RENAME TO _bench_original")
            con.execute(create)
            con.execute(
                f"INSERT INTO {table} SELECT * EXCLUDE (_r, k) FROM (SELECT {select}, _r, k "
                f"FROM (SELECT *, rowid AS _r FROM _bench_original), range({copies}) r(k)) "
                f"ORDER BY {order}"
            )
            con.execute("DROP TABLE _bench_original")
            for _, index in indexes:
                con.execute(index)
            con.execute("CHECKPOINT")
        con.execute(
            "UPDATE scoring_runs SET n_profiles = n_profiles * ?, n_buyers = n_buyers * ?",
            [copies, copies],
        )
        for (run_id,) in con.execute("SELECT run_id FROM scoring_runs").fetchall():
            summaries.write(con, run_id)  # as the run would have: over every copy
        kept_units.refresh(con)  # as the last `clm run` would have: over every copy
        clustered.advance(con)  # as the imports and runs would have
        con.execute("CHECKPOINT")


def busiest_customer(base: Path, seed: str) -> str:
    """The base world's customer with the most events after the seed customer: a regular
    customer's page (the demo imports the seed customer's rows first, so the seed's
    events sit together at the start of each import, while everyone else's are spread
    over the whole table)."""
    with duckdb.connect(str(base / "clm.duckdb"), read_only=True) as con:
        row = con.execute(
            "SELECT customer_id FROM events WHERE customer_id <> ? "
            "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
            [seed],
        ).fetchall()
    return str(row[0][0])


@contextlib.contextmanager
def client(root: Path) -> Iterator[TestClient]:
    from clm.web import create_router, router

    warm_up = getattr(router, "WARM_UP", None)  # older clm: no start-up thread to join

    ws = Workspace.open(root)

    @contextlib.contextmanager
    def open_workspace() -> Iterator[Workspace]:
        cursor = ws.con.cursor()
        try:
            yield Workspace(ws.root, ws.settings, cursor)
        finally:
            cursor.close()

    app = FastAPI()
    app.include_router(create_router(open_workspace, lambda k: k == KEY))
    try:
        with TestClient(app, headers={"Authorization": f"Bearer {KEY}"}) as test_client:
            yield test_client
    finally:
        for thread in threading.enumerate():  # the dashboard's start-up work
            if thread.name == warm_up:
                thread.join(60)
        ws.close()


def server_ms(response: Any) -> float:
    match = re.search(r"dur=([\d.]+)", response.headers.get("server-timing", ""))
    if response.status_code != 200 or match is None:
        raise RuntimeError(f"{response.request.url}: {response.status_code}")
    return float(match.group(1))


def measure(root: Path, pages: list[str], repeat: int) -> list[tuple[str, float, float]]:
    rows = []
    with client(root) as http:
        for path in pages:
            cold = server_ms(http.get(path))
            warm = statistics.median(server_ms(http.get(path)) for _ in range(repeat))
            rows.append((path, cold, warm))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=int, default=2_000, help="profiles of the demo world")
    parser.add_argument("--copies", type=int, default=500, help="copies of the world")
    parser.add_argument("--repeat", type=int, default=5, help="warm requests per page")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/clm-bench-dashboard"))
    parser.add_argument("--no-append", action="store_true", help="print only")
    parser.add_argument("--results", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    parser.add_argument(
        "--label", default="", help='added to the block\'s heading as is, e.g. " (after, X)"'
    )
    args = parser.parse_args()

    base = args.workdir / f"demo-{args.base}"
    seed_file = base / "seed.txt"
    if not seed_file.exists():
        shutil.rmtree(base, ignore_errors=True)
        seed_file.parent.mkdir(parents=True, exist_ok=True)
        seed_file.write_text(build_base(base, args.base))
    seed = seed_file.read_text().strip()
    scaled = args.workdir / f"demo-{args.base}x{args.copies}-{LAYOUT}"
    if not (scaled / "done").exists():
        shutil.rmtree(scaled, ignore_errors=True)
        shutil.copytree(base, scaled)
        started = time.perf_counter()
        scale(scaled, args.copies)
        (scaled / "done").write_text(f"{time.perf_counter() - started:.1f} s\n")
    with Workspace.open(scaled) as ws:
        status = ws.status()
    pages = [
        "/",
        "/categories",
        "/categories?category=beauty",
        "/customers",
        f"/customers?q={seed[:6]}",
        f"/customers/{seed}",
        f"/customers/{seed}~{args.copies - 1}",
        f"/customers/{busiest_customer(base, seed)}~{args.copies // 2}",
        "/automations",
        "/experiments",
        "/data",
    ]
    load_before = os.getloadavg()[0]
    rows = measure(scaled, pages, args.repeat)
    load_after = os.getloadavg()[0]
    profiles = status["profiles"]["total"]
    lines = [
        f"### Dashboard pages: server time at {profiles:,} profiles{args.label}",
        "",
        f"`benchmarks/dashboard_pages.py --base {args.base} --copies {args.copies} "
        f"--repeat {args.repeat}`: {profiles:,} profiles, {status['events']['total']:,} events, "
        f"{len(status['scoring_runs'])} scoring runs; in-process requests with the admin key, "
        "time from the `Server-Timing` header (building the page's data and rendering it); "
        f"1-minute load average {load_before:.1f} before, {load_after:.1f} after (2 CPUs "
        "shared with other sessions).",
        "",
        "| page | first request (ms) | median of the next (ms) |",
        "|---|--:|--:|",
        *[f"| `{p}` | {c:,.0f} | {w:,.0f} |" for p, c, w in rows],
        "",
        machine.summary(),
        "",
    ]
    machine.publish("\n".join(lines), args.results, not args.no_append)


if __name__ == "__main__":
    main()
