"""The event API of ``clm serve`` under load on loopback (issue 5's performance targets).

What it measures, against a served demo world (``--customers`` profiles):

1. ``/v1/batch`` throughput: wrk posting 100 unique purchase events a request for
   ``--duration`` seconds; events/s and request latency (p50, p99).
2. Single events: wrk posting one event a request to ``/v1/track``; requests/s, p50, p99.
3. Event-to-profile latency: send a purchase, then read the profile until the order shows;
   the time from sending to seeing it (p50, p99 of ``--probes`` probes).
4. A soak: ``--soak`` seconds at ``--soak-rate`` events/s through ``/v1/batch`` while the
   server's resident memory and DuckDB's buffer memory (``/v1/admin/status``) are sampled
   every 10 s (a table in RESULTS.md, every sample in ``event_api_soak.html`` beside it),
   with the slope of the second half (after the warm-up) per minute and per million
   events, and how often the database settled a repeat or a ledger was built again.

Each wrk run also reports the server process's CPU time per request (all its threads),
which the other programs on a shared machine disturb less than the rates, and the
1-minute load average before and after it.

The peer is the published default limit of a commercial CDP's event endpoint (Braze,
"Rate limits": ``/users/track`` takes 3,000 requests per 3 seconds, each with at most
75 events, purchases and attributes together), compared events to events: at most
75,000 events/s in full requests, 1,000 events/s sent one a request. wrk (Debian
package ``wrk``) is the load generator; the script installs it with apt-get when it is
missing. Results are appended to RESULTS.md with the command and the machine.

    .venv/bin/python benchmarks/event_api.py --customers 50000 --duration 30 --soak 600
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import machine  # noqa: E402
from tests.api import server  # noqa: E402

from clm.api.keys import KeyStore  # noqa: E402

BRAZE_REQUESTS_PER_SECOND = 1_000
BRAZE_EVENTS_PER_REQUEST = 75
SOAK_SAMPLE_SECONDS = 10
SCRIPT = ROOT / "benchmarks" / "wrk" / "events.lua"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    return shutil.which("wrk") or "wrk"


def world(workdir: Path, customers: int) -> Path:
    root = workdir / f"world-{customers}"
    if not (root / "clm.toml").exists():
        subprocess.run(
            [server.clm_executable(), "demo", str(root), "--customers", str(customers)], check=True
        )
    return root


def load() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def wrk(
    url: str, auth: str, mode: str, customers: int, seconds: int, connections: int, pid: int
) -> dict:
    """Run wrk; return requests/s, latency percentiles (ms), the server's CPU per request
    and the load average before and after."""
    server_process = psutil.Process(pid)
    load_before = load()
    cpu_before = sum(server_process.cpu_times()[:2])
    out = subprocess.run(
        [
            ensure_wrk(),
            "-t",
            "1",
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--latency",
            "-s",
            str(SCRIPT),
            url,
            "--",
            auth,
            mode,
            str(customers),
            f"{mode}{time.time_ns()}",  # unique ids in every run
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pct = {
        p: float(v) * UNITS[u]
        for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    }
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    cpu = sum(server_process.cpu_times()[:2]) - cpu_before
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return {
        "load_before": load_before,
        "load_after": load(),
        "server_cpu_us_per_request": cpu / max(total, 1) * 1e6,
        "requests_per_second": rate,
        "p50_ms": pct.get("50"),
        "p99_ms": pct.get("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def probe(url: str, ingest: str, admin: str, probes: int, customers: int) -> dict:
    """Send a purchase and read the profile until it shows; times in ms."""
    times = []
    with httpx.Client(base_url=url, timeout=10) as c:
        for i in range(probes):
            who = f"C{random.randrange(customers):08d}"
            order = f"probe-{time.time_ns()}-{i}"
            start = time.perf_counter()
            c.post(
                "/v1/track",
                auth=(ingest, ""),
                json={
                    "userId": who,
                    "event": "purchase",
                    "messageId": order,
                    "properties": {"revenue": 12.5, "order_id": order},
                },
            )
            while True:
                view = c.get(
                    f"/v1/profiles/{who}", headers={"Authorization": f"Bearer {admin}"}
                ).json()
                if any(p["order_id"] == order for p in view["latest_purchases"]):
                    break
            times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return {
        "p50_ms": statistics.median(times),
        "p99_ms": times[int(0.99 * (len(times) - 1))],
        "probes": probes,
    }


def _status(c: httpx.Client, admin: str) -> dict:
    headers = {"Authorization": f"Bearer {admin}"}
    return c.get("/v1/admin/status", headers=headers).json()["server"]


def slope(samples: list[tuple[float, float]], after: float) -> float:
    """The least-squares slope (MiB per second) of the samples from ``after`` seconds on."""
    points = [(t, m) for t, m in samples if t >= after]
    if len(points) < 2:
        return 0.0
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mm = sum(m for _, m in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (m - mm) for t, m in points) / var if var else 0.0


def soak(
    url: str, ingest: str, admin: str, pid: int, seconds: int, rate: int, customers: int
) -> dict:
    """Batches of 100 at ``rate`` events/s for ``seconds``; the server's RSS and DuckDB's
    buffer memory sampled every 10 s."""
    proc = psutil.Process(pid)
    load_before = load()
    samples: list[tuple[float, float]] = []
    database: list[tuple[float, float]] = []
    stop = threading.Event()
    counters: dict = {}

    def sample() -> None:
        start = time.monotonic()
        with httpx.Client(base_url=url, timeout=30) as c:
            counters["start"] = _status(c, admin)
            while not stop.is_set():
                t = time.monotonic() - start
                samples.append((t, proc.memory_info().rss / 2**20))
                database.append((t, _status(c, admin).get("database_memory_bytes", 0) / 2**20))
                stop.wait(SOAK_SAMPLE_SECONDS)

    threading.Thread(target=sample, daemon=True).start()
    sent, n = 0, 0
    start = time.monotonic()
    tag = time.time_ns()  # unique ids in every run (a second soak on one world repeated them)
    with httpx.Client(base_url=url, auth=(ingest, ""), timeout=30) as c:
        while time.monotonic() - start < seconds:
            batch = [
                {
                    "type": "track",
                    "event": "purchase",
                    "messageId": f"s{tag}-{n}-{j}",
                    "userId": f"C{random.randrange(customers):08d}",
                    "properties": {"revenue": 9.5, "order_id": f"so{tag}-{n}-{j}"},
                }
                for j in range(100)
            ]
            c.post("/v1/batch", json={"batch": batch})
            n, sent = n + 1, sent + 100
            ahead = sent / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    stop.set()
    samples.append((time.monotonic() - start, proc.memory_info().rss / 2**20))
    with httpx.Client(base_url=url, timeout=30) as c:
        end = _status(c, admin)
    first, last = samples[0][1], samples[-1][1]
    per_second = sent / seconds
    half = slope(samples, seconds / 2)
    return {
        "load_before": load_before,
        "load_after": load(),
        "seconds": seconds,
        "events": sent,
        "rss_start_mib": first,
        "rss_end_mib": last,
        "rss_max_mib": max(m for _, m in samples),
        "mib_per_million_events": (last - first) / sent * 1e6,
        "second_half_mib_per_minute": half * 60,
        "second_half_mib_per_million_events": half / per_second * 1e6,
        "database_start_mib": database[0][1] if database else None,
        "database_end_mib": database[-1][1] if database else None,
        "id_lookups": end.get("id_lookups", 0) - counters["start"].get("id_lookups", 0),
        "history_reads": end.get("history_reads", 0) - counters["start"].get("history_reads", 0),
        "samples": [(round(t), round(m, 1)) for t, m in samples],
        "database_samples": [(round(t), round(m, 1)) for t, m in database],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/clm-bench"))
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--probes", type=int, default=500)
    parser.add_argument("--soak", type=int, default=600)
    parser.add_argument("--soak-rate", type=int, default=5_000)
    parser.add_argument("--no-results", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    root = world(args.workdir, args.customers)
    keys = KeyStore(root)
    ingest, admin = keys.create("ingest", "bench")[1], keys.create("admin", "bench")[1]
    basic = "Basic " + base64.b64encode(f"{ingest}:".encode()).decode()
    port = server.free_port()
    server.STARTUP_SECONDS = 900.0  # a loaded shared machine builds the live state slowly
    started = time.perf_counter()
    process = server.start(root, port, args.workdir / "serve.log")
    startup = time.perf_counter() - started
    url = f"http://127.0.0.1:{port}"
    try:
        results = {
            "startup_seconds": startup,
            "batch": wrk(
                url, basic, "batch", args.customers, args.duration, args.connections, process.pid
            ),
            "single": wrk(
                url, basic, "single", args.customers, args.duration, args.connections, process.pid
            ),
            "visible": probe(url, ingest, admin, args.probes, args.customers),
        }
        if args.soak:
            results["soak"] = soak(
                url, ingest, admin, process.pid, args.soak, args.soak_rate, args.customers
            )
    finally:
        server.stop(process)
    results["batch"]["events_per_second"] = results["batch"]["requests_per_second"] * 100
    print(json.dumps(results, indent=2))
    if not args.no_results:
        publish(results, args)


def _loads(r: dict) -> str:
    return f"{r['load_before']:.1f} -> {r['load_after']:.1f}"


def publish(r: dict, args: argparse.Namespace) -> None:
    b, s, v = r["batch"], r["single"], r["visible"]
    braze_events = BRAZE_REQUESTS_PER_SECOND * BRAZE_EVENTS_PER_REQUEST
    lines = [
        "",
        f"### Event API run, {time.strftime('%Y-%m-%d %H:%M')} UTC",
        "",
        f"Command: `.venv/bin/python benchmarks/event_api.py {' '.join(sys.argv[1:])}`  ",
        f"Machine: {machine.summary()}; demo world of {args.customers:,} profiles; wrk with "
        f"1 thread and {args.connections} connections on loopback, server and load on the "
        "same machine (shared with other programs: see the load averages). Server start "
        f"(build the live state): {r['startup_seconds']:.1f} s.",
        "",
        "| measure | clm | target | vs. Braze's default limit (events/s) | server CPU "
        "per request | 1-min load before -> after |",
        "|---|---:|---:|---:|---:|---:|",
        f"| /v1/batch events/s (100 a request) | {b['events_per_second']:,.0f} | 20,000 | "
        f"{b['events_per_second'] / braze_events:.2f}x of {braze_events:,} | "
        f"{b['server_cpu_us_per_request']:,.0f} µs | {_loads(b)} |",
        f"| /v1/batch request p50 / p99 | {b['p50_ms']:.1f} / {b['p99_ms']:.1f} ms | | | | |",
        f"| /v1/track single requests/s (1 event each) | {s['requests_per_second']:,.0f} | "
        f"2,000 | {s['requests_per_second'] / BRAZE_REQUESTS_PER_SECOND:.2f}x of "
        f"{BRAZE_REQUESTS_PER_SECOND:,} | {s['server_cpu_us_per_request']:,.0f} µs | "
        f"{_loads(s)} |",
        f"| /v1/track p50 / p99 | {s['p50_ms']:.1f} / {s['p99_ms']:.1f} ms | p99 <= 25 ms | | | |",
        f"| event visible in the profile p50 / p99 | {v['p50_ms']:.1f} / {v['p99_ms']:.1f} ms "
        "| p99 <= 100 ms | | | |",
    ]
    if "soak" in r:
        k = r["soak"]
        lines.append(
            f"| soak: {k['seconds']} s at {args.soak_rate:,} events/s ({k['events']:,} events), "
            f"RSS start / end / max | {k['rss_start_mib']:.0f} / {k['rss_end_mib']:.0f} / "
            f"{k['rss_max_mib']:.0f} MiB | flat | {k['mib_per_million_events']:.0f} MiB per "
            f"million events | | {_loads(k)} |"
        )
        lines.append(
            f"| soak, second half: RSS slope | {k['second_half_mib_per_minute']:.1f} MiB per "
            f"minute | flat | {k['second_half_mib_per_million_events']:.0f} MiB per million "
            "events | | |"
        )
        if k.get("database_end_mib") is not None:
            lines.append(
                f"| soak: DuckDB's buffers start / end; repeats settled by the database; "
                f"ledgers rebuilt | {k['database_start_mib']:.0f} / {k['database_end_mib']:.0f} "
                f"MiB; {k['id_lookups']:,}; {k['history_reads']:,} | | | | |"
            )
        picked = k["samples"][:: max(1, len(k["samples"]) // 10)]  # about 10 columns
        lines += [
            "",
            "Resident memory of the server during the soak (every sample, one each "
            f"{SOAK_SAMPLE_SECONDS} s, in `event_api_soak.html`):",
            "",
            "| s | " + " | ".join(str(t) for t, _ in picked) + " |",
            "|---" * (len(picked) + 1) + "|",
            "| MiB | " + " | ".join(f"{m:.0f}" for _, m in picked) + " |",
        ]
        soak_chart(k, args.soak_rate)
    lines.append("")
    with open(ROOT / "benchmarks" / "RESULTS.md", "a", encoding="utf-8") as handle:
        handle.write("\n".join(lines))


def soak_chart(k: dict, rate: int) -> None:
    """Every RSS sample of the soak as a Plotly chart beside RESULTS.md."""
    import plotly.graph_objects as go

    seconds, mib = zip(*k["samples"], strict=True)
    figure = go.Figure(go.Scatter(x=seconds, y=mib, mode="lines+markers", name="RSS"))
    if k.get("database_samples"):
        at, db = zip(*k["database_samples"], strict=True)
        figure.add_trace(go.Scatter(x=at, y=db, mode="lines", name="DuckDB buffers"))
    figure.update_layout(
        title=f"clm serve: resident memory in a {k['seconds']} s soak at {rate:,} events/s "
        f"({time.strftime('%Y-%m-%d %H:%M')} UTC)",
        xaxis_title="seconds into the soak",
        yaxis_title="RSS (MiB)",
    )
    figure.write_html(ROOT / "benchmarks" / "event_api_soak.html", include_plotlyjs="cdn")


if __name__ == "__main__":
    main()
