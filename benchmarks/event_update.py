"""Benchmark: the per-event update of a profile's activity state, events per second.

``clm.profiles.activity_state.apply_event`` is the O(1) update of SPEC §4 that a streaming
consumer calls once per event. This script applies ``--events`` purchase lines spread over
``--profiles`` profiles (a dict of states, as a consumer would keep them) in one process and
one thread, in time order with some jitter (about 5% of the events arrive late, older than the
profile's anchor), 12 categories, about 3% refunds. It runs with ``datetime`` timestamps,
with integer microseconds since the epoch, and (to show what Python's cyclic garbage collector
costs with a million live states) with integers and the collector off during the loop. The
inputs are generated before the clock starts; the timed loop is only the dict look-up,
``apply_event`` and the store.

Afterwards the streamed sums of a sample of profiles are checked against a direct evaluation
of ``Σ w · 2^(−age/h)`` at the same time (relative 1e-9), so that the speed is of a correct
update. The table is printed and appended to ``benchmarks/RESULTS.md``.

Run ``python benchmarks/event_update.py --events 1000000 --profiles 100000``.
"""

from __future__ import annotations

import argparse
import gc
import math
import shlex
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import machine
import numpy as np
from generate import CATEGORIES
from rfm_vs_pandas import installed_label

from clm.profiles.activity_state import ALL, ActivityState, Decayed, apply_event, unpack, value_at

HERE = Path(__file__).resolve().parent
DEFAULT_RESULTS = HERE / "RESULTS.md"
TARGET = 200_000  # events per second, the product issue's target
START = datetime(2024, 1, 1)
SPAN_DAYS = 365
H_S, H_L = 30.0, 180.0
WEIGHTS = {"purchase": 1.0}
CHECKED = 200  # profiles whose streamed sums are checked against a direct evaluation


def make_events(n: int, profiles: int, seed: int) -> dict[str, list]:
    """``n`` purchase lines: profile key, µs timestamp, category, amount (Python lists)."""
    rng = np.random.default_rng(seed)
    span_us = SPAN_DAYS * 86_400_000_000
    ts = np.sort(rng.integers(0, span_us, n))
    late = rng.random(n) < 0.05  # arrives late: up to 10 days older than its position
    ts = np.where(late, np.maximum(ts - rng.integers(0, 10 * 86_400_000_000, n), 0), ts)
    base = int((START - datetime(1970, 1, 1)) / timedelta(microseconds=1))
    weights = 1.0 / np.arange(1, len(CATEGORIES) + 1)
    category = rng.choice(len(CATEGORIES), size=n, p=weights / weights.sum())
    amount = np.round(rng.lognormal(np.log(25.0), 0.9, n), 2)
    amount = np.where(rng.random(n) < 0.03, -amount, amount)
    return {
        "profile": [f"C{p:08d}" for p in rng.integers(0, profiles, n)],
        "micros": (ts + base).tolist(),
        "category": np.array(CATEGORIES, dtype=object)[category].tolist(),
        "amount": amount.tolist(),
    }


def as_datetimes(micros: list[int]) -> list[datetime]:
    """The same instants as naive UTC datetimes."""
    epoch = datetime(1970, 1, 1)
    return [epoch + timedelta(microseconds=m) for m in micros]


def stream(
    events: dict[str, list], times: list, collect: bool = True
) -> tuple[float, dict[str, ActivityState]]:
    """Apply every event to a dict of states; return the seconds of the loop and the states.

    ``collect=False`` turns Python's cyclic garbage collector off during the loop (the states
    hold no cycles; a consumer keeping millions of them may do the same)."""
    gc.collect()
    if not collect:
        gc.disable()
    states: dict[str, ActivityState] = {}
    empty = ActivityState()
    profile, category, amount = events["profile"], events["category"], events["amount"]
    get = states.get
    clock = time.perf_counter()
    for key, ts, cat, value in zip(profile, times, category, amount, strict=True):
        states[key] = apply_event(get(key, empty), ts, "purchase", cat, value, WEIGHTS, H_S, H_L)
    seconds = time.perf_counter() - clock
    gc.enable()
    return seconds, states


def check(events: dict[str, list], states: dict[str, ActivityState]) -> int:
    """Profiles of a sample whose streamed sums differ from a direct evaluation (rel 1e-9)."""
    sample = sorted(states)[:: max(1, len(states) // CHECKED)]
    wanted = set(sample)
    at = max(events["micros"]) + 86_400_000_000
    direct: dict[tuple[str, str], list[float]] = {}
    for key, ts, cat, value in zip(
        events["profile"], events["micros"], events["category"], events["amount"], strict=True
    ):
        if key not in wanted:
            continue
        age = (at - ts) / 86_400_000_000
        w = 1.0 if value > 0 else 0.0
        v = value if value > 0 else 0.0
        terms = (w * 2 ** (-age / H_S), w * 2 ** (-age / H_L), v * 2 ** (-age / H_S))
        terms += (v * 2 ** (-age / H_L),)
        for scope in (ALL, cat):
            sums = direct.setdefault((key, scope), [0.0, 0.0, 0.0, 0.0])
            for i, term in enumerate(terms):
                sums[i] += term
    bad = set()
    for (key, scope), want in direct.items():
        got: Decayed = value_at(unpack(states[key][scope]), at, H_S, H_L)
        values = (got.s_short, got.s_long, got.v_short, got.v_long)
        pairs = zip(values, want, strict=True)
        if not all(math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-12) for g, w in pairs):
            bad.add(key)
    return len(bad)


def markdown(args: argparse.Namespace, argv: list[str], rates: dict[str, list[float]]) -> str:
    """The block appended to RESULTS.md."""
    lines = [
        f"### Per-event update: {args.events:,} events over {args.profiles:,} profiles, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `python benchmarks/event_update.py {shlex.join(argv)}`",
        "",
        f"Machine: {machine.summary()}; {machine.software()}; 1-minute load average "
        f"{args.load[0]:.1f} before, {args.load[1]:.1f} after. clm: {installed_label()}.",
        "",
        "| timestamps | runs | seconds (median) | events/s (median) | events/s (best) "
        f"| target {TARGET:,}/s |",
        "|---|--:|--:|--:|--:|---|",
    ]
    for name, seconds in rates.items():
        median = statistics.median(seconds)
        best = min(seconds)
        ok = args.events / median >= TARGET
        lines.append(
            f"| {name} | {len(seconds)} | {median:.2f} | {args.events / median:,.0f} "
            f"| {args.events / best:,.0f} | {'met' if ok else '**missed**'} "
            f"({args.events / median / TARGET:.2f}×) |"
        )
    lines += [
        "",
        f"Check: the streamed sums of {args.checked_profiles} sampled profiles (every scope) "
        f"against a direct evaluation of Σ w·2^(−age/h): {args.bad} differ (relative 1e-9).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import os

    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per timestamp kind")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--no-append", action="store_true", help="print only")
    args = parser.parse_args(argv)
    events = make_events(args.events, args.profiles, args.seed)
    micros = events["micros"]
    inputs = {
        "datetime": (as_datetimes(micros), True),
        "int µs": (micros, True),
        "int µs, cyclic GC off during the loop": (micros, False),
    }
    before = os.getloadavg()[0]
    rates: dict[str, list[float]] = {name: [] for name in inputs}
    states: dict[str, ActivityState] = {}
    for _ in range(args.repeat):
        for name, (times, collect) in inputs.items():
            seconds, states = stream(events, times, collect)
            rates[name].append(seconds)
            print(f"{name}: {seconds:.2f} s, {args.events / seconds:,.0f} events/s", flush=True)
    args.load = (before, os.getloadavg()[0])
    args.bad = check(events, states)
    args.checked_profiles = len(sorted(states)[:: max(1, len(states) // CHECKED)])
    block = markdown(args, argv, rates)
    machine.publish(block, args.results, append=not args.no_append)


if __name__ == "__main__":
    main()
