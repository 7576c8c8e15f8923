"""One scheduler tick over N profiles and 20 automations, and send throughput (issue 6).

1. **Tick** (the target: ≤ 10 s at 1,000,000 profiles): a workspace with ``--profiles``
   customers (email, phone, consent), their purchases, a few events inside the tick and
   three scoring runs, 20 automation files of every trigger kind (segment entered, score
   crossing per category, event, schedule, hand-off); see ``automation_world.py``. A
   priming run over ``(D - 6 d - 1 h, D]`` starts the clock. **The tick** is then one
   ``Workspace.run(until=D + slice)``: the steady-state tick of ``clm serve`` that
   covers one ``automation.slice_hours`` (24 h) of simulated time, in which the day's
   events arrive (signups, abandoned carts, purchases: event triggers and goals), a new
   scoring run becomes known (its segment changes and score crossings enrol), the
   fortnightly schedule fires (a newsletter to two segments), the 7-day goal windows of
   the priming enrolments close (hand-offs of non-responders enrol), and every due step
   is taken (sends rendered and enqueued in the outbox). It is timed **without
   delivery**: ``runner.outbox.deliver_configured`` is a no-op for the timed runs, so
   the number is the scheduler's (decide and enqueue); delivery is the send benchmark
   below (``--deliver`` puts it back into the tick). This is the **heavy daily tick**.
   Then the **steady tick**: one ``automation.serve_tick_seconds`` later, with that
   interval's worth of new events at the world's daily rates (signups, abandoned carts,
   purchases: ``automation_world.interval_events``) imported first: what ``clm serve``
   does on most ticks. Then the next slice (nothing new). Reported: wall time, peak
   RSS of the tick (``VmHWM``, reset before it through ``/proc/self/clear_refs``),
   enrolments, decisions and messages made, and where the time went (the runner's
   phases, timed by wrapping ``clm.automation.runner.Engine`` methods).
   ``--world-cache DIR`` keeps the built world (and reuses it: building 1,000,000
   profiles takes most of the run).
2. **Send**: ``--messages`` messages queued on email and as many on the generic webhook
   (an event-triggered automation of each, run with the channels unconfigured), then
   ``Workspace.deliver`` timed to an aiosmtpd server and to a threading HTTP server, each
   in its own process on 127.0.0.1 (``receivers.py``), then the email messages once more
   into a folder (``channels.email.folder``: a JSON file and an ``.eml`` per message).
   The receivers' logs and the folder are the check: every message arrived exactly once.
   ``--concurrency N`` sets ``channels.<name>.concurrency`` (the default otherwise);
   ``--send-only`` skips the tick.

The block (command, machine, tables) is printed and appended to RESULTS.md.

    .venv/bin/python benchmarks/automation_tick.py --profiles 100000
    .venv/bin/python benchmarks/automation_tick.py --skip-send   # 1,000,000 profiles
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import os
import pstats
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import automation_world  # noqa: E402
import machine  # noqa: E402

from clm.automation import outbox, runner  # noqa: E402
from clm.workspace import Workspace  # noqa: E402

TARGET_SECONDS = 10.0


# -- measuring --------------------------------------------------------------------------------


def peak_rss() -> int:
    """This process's peak resident set size since the last reset (``VmHWM``), bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def reset_peak() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux ≥ 4.0); False when not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class Phases:
    """Wall time per runner phase: ``Engine`` methods wrapped for the run (not nested)."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._depth = 0
        self._saved: list[tuple[Any, str, Any]] = []

    def _wrap(self, owner: Any, attr: str, label: Any) -> None:
        original = getattr(owner, attr)
        phases = self

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if phases._depth:
                return original(*args, **kwargs)
            name = label(*args) if callable(label) else label
            phases._depth += 1
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                phases._depth -= 1
                phases.seconds[name] += time.perf_counter() - start
                phases.calls[name] += 1

        self._saved.append((owner, attr, original))
        setattr(owner, attr, timed)

    def __enter__(self) -> Phases:
        kind = {"no_conversion": "hand-off"}
        self._wrap(runner.Engine, "load", "load versions")
        self._wrap(
            runner.Engine,
            "enrol",
            lambda _e, a, *_: "enrol: " + kind.get(a.trigger_kind, a.trigger_kind),
        )
        self._wrap(runner.Engine, "advance", "advance due steps")
        self._wrap(runner.Engine, "goals", "goals (conversions, windows)")
        self._wrap(runner.outbox, "deliver_configured", "deliver (folders)")
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, attr, original in reversed(self._saved):
            setattr(owner, attr, original)


def counts(ws: Workspace) -> dict[str, int]:
    def one(sql: str) -> int:  # fetchall: an unfinished result blocks the next register
        return int(ws.con.execute(sql).fetchall()[0][0])

    return {
        "enrolments": one("SELECT count(*) FROM enrolments"),
        "decisions": one("SELECT count(*) FROM decisions"),
        "messages": one("SELECT count(*) FROM outbox"),
        "sent": one("SELECT count(*) FROM outbox WHERE status = 'sent'"),
    }


@contextmanager
def delivery(enabled: bool) -> Iterator[None]:
    """Leave the runner's delivery on, or replace it by a no-op (the scheduler alone).

    The runner sends through ``outbox.deliver_configured`` (it was ``outbox.deliver``
    before the runs of 2026-12-02 00:35: replacing that one no longer turned delivery
    off)."""
    original = runner.outbox.deliver_configured
    if not enabled:
        runner.outbox.deliver_configured = lambda *_a, **_k: outbox.DeliveryStats()  # type: ignore[assignment]
    try:
        yield
    finally:
        runner.outbox.deliver_configured = original  # type: ignore[assignment]


def timed_run(
    ws: Workspace, until: datetime, since: datetime | None = None, *, deliver: bool = False
) -> dict[str, Any]:
    before = counts(ws)
    reset = reset_peak()
    with Phases() as phases, delivery(deliver):
        start = time.perf_counter()
        stats = ws.run(until, since=since)
        wall = time.perf_counter() - start
    after = counts(ws)
    by_kind: Counter[str] = Counter()
    for per in stats.counts.values():
        for key, n in per.items():
            by_kind[key.split(":")[0] if not key.startswith("enrolled") else key] += n
    return {
        "wall": wall,
        "peak_rss": peak_rss() if reset else None,
        "made": {k: after[k] - before[k] for k in after},
        "n_messages": stats.n_messages,
        "delivered": stats.delivered,
        "phases": dict(phases.seconds),
        "calls": dict(phases.calls),
        "decisions": dict(by_kind),
        "per_automation": {a: sum(c.values()) for a, c in stats.counts.items()},
    }


# -- the tick -------------------------------------------------------------------------------


def tick_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    root = args.workdir / f"tick-{args.profiles}"
    shutil.rmtree(root, ignore_errors=True)
    start = time.perf_counter()
    cached = args.world_cache / f"world-{args.profiles}-{args.seed}" if args.world_cache else None
    build_cached = cached is not None and cached.exists()
    if cached is not None and build_cached:
        shutil.copytree(cached, root)
        ws, d = Workspace.open(root), automation_world.as_of_date()
        print(f"world copied from {cached}", flush=True)
    else:
        ws, d = automation_world.build(root, args.profiles, args.seed)
        if cached is not None:
            ws.close()
            shutil.copytree(root, cached)
            ws = Workspace.open(root)
    build = time.perf_counter() - start
    try:
        slice_ = timedelta(hours=ws.settings.automation.slice_hours)
        t0 = automation_world.midnight(d)
        priming_since = automation_world.midnight(d - timedelta(days=6)) - timedelta(hours=1)
        print(f"built in {build:.1f} s; priming run {priming_since} .. {t0}", flush=True)
        priming = timed_run(ws, t0, since=priming_since, deliver=args.deliver)
        print(f"priming: {priming['wall']:.1f} s, {priming['made']}", flush=True)
        if args.cprofile:
            profiler = cProfile.Profile()
            profiler.enable()
        tick = timed_run(ws, t0 + slice_, deliver=args.deliver)
        if args.cprofile:
            profiler.disable()
            profiler.dump_stats(str(args.cprofile))
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        print(f"tick: {tick['wall']:.1f} s, {tick['made']}", flush=True)
        interval = ws.settings.automation.serve_tick_seconds
        idle_at = t0 + slice_ + timedelta(seconds=interval)
        arrived = automation_world.add_interval_events(
            ws, args.profiles, args.seed, t0 + slice_, interval
        )
        print(f"steady: {arrived} events in ({t0 + slice_}, {idle_at}]", flush=True)
        idle = timed_run(ws, idle_at, deliver=args.deliver)
        idle["arrived"] = arrived
        print(f"steady tick: {idle['wall']:.1f} s, {idle['made']}", flush=True)
        idle_slice = timed_run(ws, t0 + 2 * slice_, deliver=args.deliver)
        sizes = {
            "profiles": args.profiles,
            "events": ws.con.execute("SELECT count(*) FROM events").fetchone()[0],  # type: ignore[index]
            "runs": len(ws.runs()),
        }
    finally:
        ws.close()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return {
        "d": d,
        "build": build,
        "cached": cached is not None and build_cached,
        "sizes": sizes,
        "priming": priming,
        "tick": tick,
        "idle": idle,
        "idle_slice": idle_slice,
        "slice_hours": slice_ / timedelta(hours=1),
        "idle_seconds": (idle_at - t0 - slice_).total_seconds(),
    }


# -- sending --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def receiver(kind: str, log: Path) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "receivers.py"), kind, str(port), str(log)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the {kind} receiver did not start")
    return process, port


SEND_FILES = {
    "bench-email": (
        "name: bench-email\ntrigger:\n  event: {type: bench_email}\nreentry: always\nsteps:\n"
        "  - id: mail\n    type: send\n    channel: email\n    template:\n"
        '      subject: "Hello {{ customer_id }}"\n'
        '      text: "A benchmark message for {{ customer_id }}."\n'
        '      html: "<p>A benchmark message for {{ customer_id }}.</p>"\n'
    ),
    "bench-webhook": (
        "name: bench-webhook\ntrigger:\n  event: {type: bench_webhook}\nreentry: always\n"
        "steps:\n  - id: hook\n    type: send\n    channel: webhook\n"
        '    template: {body: {customer: "{{ customer_id }}", text: "A benchmark message."}}\n'
    ),
}


def send_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    n = args.messages
    root = args.workdir / f"send-{n}"
    shutil.rmtree(root, ignore_errors=True)
    ws = Workspace.init(root, name="send-bench")
    processes: list[subprocess.Popen[str]] = []
    try:
        for key, value in (
            ("automation.quiet_hours", ""),
            ("automation.global_control_share", "0"),
            ("automation.holdout_share", "0"),
            ("channels.email.sender", "bench@example.com"),
            ("channels.webhook.retries", "0"),
            ("channels.email.retries", "0"),
        ):
            ws.config_set(key, value)
        if args.concurrency:
            for name in ("email", "webhook"):
                ws.config_set(f"channels.{name}.concurrency", str(args.concurrency))
        ids = pd.Series(np.arange(n)).map("S{:06d}".format)
        ws.import_customers(
            pd.DataFrame({"customer_id": ids, "email": ids + "@example.com", "ok": True}),
            customer="customer_id",
            email="email",
            consent={"email": "ok"},
        )
        t = datetime(2026, 6, 1, 12)
        ws.import_events(
            pd.DataFrame(
                {
                    "type": ["bench_email"] * n + ["bench_webhook"] * n,
                    "customer_id": pd.concat([ids, ids], ignore_index=True),
                    "ts": t,
                    "event_id": [f"e{i}" for i in range(2 * n)],
                }
            ),
            type_column="type",
            customer="customer_id",
            time="ts",
            event_id="event_id",
        )
        for name, text in SEND_FILES.items():
            (root / "definitions" / "automations" / f"{name}.yaml").write_text(text)
        stats = ws.run(t + timedelta(hours=1), since=t - timedelta(hours=1))
        queued = ws.con.execute(
            "SELECT channel, count(*) FROM outbox WHERE status = 'queued' GROUP BY ALL"
        ).fetchall()
        print(f"queued {dict(queued)} ({stats.n_messages} made)", flush=True)
        out: dict[str, Any] = {"queued": dict(queued)}
        now = t + timedelta(hours=2)
        for kind, channel, settings in (
            ("smtp", "email", ("channels.email.smtp_host", "channels.email.smtp_port")),
            ("http", "webhook", ("channels.webhook.url", None)),
        ):
            log = root / f"{kind}.log"
            process, port = receiver(kind, log)
            processes.append(process)
            if kind == "smtp":
                ws.config_set(settings[0], "127.0.0.1")
                ws.config_set(settings[1], str(port))  # type: ignore[arg-type]
            else:
                ws.config_set(settings[0], f"http://127.0.0.1:{port}/hook")
            start = time.perf_counter()
            delivered = ws.deliver(now)
            wall = time.perf_counter() - start
            process.terminate()
            process.wait(10)
            lines = log.read_text().split()
            out[channel] = {
                "sent": delivered.sent,
                "failed": delivered.failed + delivered.retrying + delivered.unknown,
                "wall": wall,
                "per_second": delivered.sent / wall if wall else float("nan"),
                "received": len(lines),
                "distinct": len(set(lines)),
            }
            print(f"{channel}: {out[channel]}", flush=True)
        out["folder"] = folder_send(ws, now)
        print(f"folder: {out['folder']}", flush=True)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        ws.close()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return out


def folder_send(ws: Workspace, now: datetime) -> dict[str, Any]:
    """The email messages again, into a folder: the benchmark queues them once more (and
    drops their ``message_sent`` events) with SQL, as a fresh outbox would hold them."""
    ws.con.execute(
        "DELETE FROM events WHERE type = 'message_sent' AND event_id IN "
        "(SELECT 'msg:' || message_id || ':sent' FROM outbox WHERE channel = 'email')"
    )
    ws.con.execute(
        "UPDATE outbox SET status = 'queued', attempts = 0, next_attempt_at = not_before, "
        "sent_at = NULL, provider_id = NULL, last_error = NULL WHERE channel = 'email'"
    )
    ws.config_set("channels.email.folder", "sent/email")
    start = time.perf_counter()
    delivered = ws.deliver(now)
    wall = time.perf_counter() - start
    names = [p.name for p in (ws.root / "sent" / "email").iterdir()]
    emls = [name for name in names if name.endswith(".eml")]
    return {
        "sent": delivered.sent,
        "failed": delivered.failed + delivered.retrying + delivered.unknown,
        "wall": wall,
        "per_second": delivered.sent / wall if wall else float("nan"),
        "received": len(emls),
        "distinct": len(set(emls)),
    }


# -- the report -------------------------------------------------------------------------------


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:,.0f}"


def report(
    args: argparse.Namespace,
    tick: dict[str, Any] | None,
    send: dict[str, Any] | None,
    load: tuple[float, float],
) -> str:
    lines = [
        f"### Automation tick and send, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC",
        "",
        f"Command: `python benchmarks/automation_tick.py {' '.join(sys.argv[1:])}`",
        "",
        f"Machine: {machine.summary()}; {machine.software()}; 1-minute load average "
        f"{load[0]:.1f} before, {os.getloadavg()[0]:.1f} after (the 2 CPUs are shared with "
        "other sessions).",
        "",
    ]
    if tick is not None:
        s, t, i, w = tick["sizes"], tick["tick"], tick["idle"], tick["idle_slice"]
        met = "met" if t["wall"] <= TARGET_SECONDS else "**missed**"
        met_steady = "met" if i["wall"] <= TARGET_SECONDS else "**missed**"
        per_message = t["wall"] / t["made"]["messages"] * 1000 if t["made"]["messages"] else 0.0
        lines += [
            f"World: {s['profiles']:,} profiles, {s['events']:,} events, {s['runs']} scoring "
            f"runs (as of D − 14, D − 7, D = {tick['d']}), 20 automations, channels as "
            f"folders; {'copied from the world cache' if tick['cached'] else 'built'} in "
            f"{tick['build']:.0f} s. Priming run (D − 6 d − 1 h, D]: "
            f"{tick['priming']['wall']:.1f} s. Delivery "
            + (
                "inside the timed runs."
                if args.deliver
                else "off in the timed runs (decide and enqueue only; `--deliver` not given)."
            ),
            "",
            "| run | window | wall (s) | peak RSS (MiB) | enrolments | decisions | messages "
            "made | delivered |",
            "|---|---|--:|--:|--:|--:|--:|--:|",
        ]
        for label, r, window in (
            ("priming", tick["priming"], "6 d 1 h"),
            ("**heavy daily tick**", t, f"{tick['slice_hours']:.0f} h"),
            (f"**steady tick** ({i['arrived']} new events)", i, f"{tick['idle_seconds']:.0f} s"),
            ("next slice (nothing new)", w, f"{tick['slice_hours']:.0f} h"),
        ):
            m = r["made"]
            sent = (r["delivered"] or {}).get("sent", 0)
            lines.append(
                f"| {label} | {window} | {r['wall']:.2f} | {_mib(r['peak_rss'])} | "
                f"{m['enrolments']:,} | {m['decisions']:,} | {m['messages']:,} | {sent:,} |"
            )
        lines += [
            "",
            f"Target: one tick over {s['profiles']:,} profiles and 20 automations in ≤ "
            f"{TARGET_SECONDS:.0f} s: the steady tick (one `automation.serve_tick_seconds` of "
            f"new events at the world's daily rates, and what is due) {met_steady} "
            f"({i['wall']:.2f} s); the heavy daily tick (a new scoring run and a day's sends) "
            f"{met} ({t['wall']:.1f} s, {per_message:.2f} ms per message made).",
            "",
            "Where the heavy tick's time went (runner phases, wall):",
            "",
            "| phase | calls | s | share |",
            "|---|--:|--:|--:|",
        ]
        for name, sec in sorted(t["phases"].items(), key=lambda kv: -kv[1]):
            lines.append(f"| {name} | {t['calls'][name]} | {sec:.2f} | {sec / t['wall']:.0%} |")
        rest = t["wall"] - sum(t["phases"].values())
        lines.append(f"| other (clock, channels) | | {rest:.2f} | {rest / t['wall']:.0%} |")
        kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(t["decisions"].items()))
        idle = ", ".join(
            f"{name} {sec:.2f} s"
            for name, sec in sorted(i["phases"].items(), key=lambda kv: -kv[1])
            if sec >= 0.005
        )
        lines += [
            "",
            f"The heavy tick's decisions by kind: {kinds}.",
            "",
            f"The steady tick's phases: {idle}.",
            "",
        ]
    if send is not None:
        lines += [
            f"Send: {args.messages:,} queued messages per channel, `Workspace.deliver` to a "
            "receiver in its own process on 127.0.0.1 (folder: the email messages again, into "
            f"a folder); channels.<name>.concurrency {args.concurrency or 'default'}.",
            "",
            "| channel | receiver | sent | failed | wall (s) | messages/s | received (distinct) |",
            "|---|---|--:|--:|--:|--:|--:|",
        ]
        for channel, what in (
            ("email", "aiosmtpd"),
            ("webhook", "http.server (threads)"),
            ("folder", "folder (.json + .eml)"),
        ):
            r = send[channel]
            lines.append(
                f"| {channel} | {what} | {r['sent']:,} | {r['failed']:,} | {r['wall']:.2f} | "
                f"{r['per_second']:,.0f} | {r['received']:,} ({r['distinct']:,}) |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/clm-bench/automation"))
    parser.add_argument("--skip-tick", action="store_true")
    parser.add_argument("--skip-send", action="store_true")
    parser.add_argument("--send-only", action="store_true", help="only the send benchmark")
    parser.add_argument(
        "--concurrency", type=int, default=0, help="channels.<name>.concurrency (0: default)"
    )
    parser.add_argument("--cprofile", type=Path, help="profile the tick into this file")
    parser.add_argument("--keep", action="store_true", help="keep the workspaces")
    parser.add_argument(
        "--deliver", action="store_true", help="deliver inside the timed runs (default: not)"
    )
    parser.add_argument(
        "--world-cache", type=Path, help="keep built worlds here and reuse them (a copy each run)"
    )
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--no-append", action="store_true", help="print only")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    tick = None if args.skip_tick or args.send_only else tick_benchmark(args)
    send = None if args.skip_send else send_benchmark(args)
    block = report(args, tick, send, load)
    machine.publish(block, args.results, not args.no_append)


if __name__ == "__main__":
    main()
