"""Benchmark: the activity family (SPEC §4) of purchase lines, clm side by side with pandas.

For a generated file of ``--lines`` purchase lines of ``--customers`` customers in 12
categories (see ``generate.py``), each side runs in its own fresh process
(``activity_sides.py``), alternating, on a file already in the page cache:

- **clm**: ``Workspace.init`` + ``import_transactions`` + ``score``; ``score`` computes RFM and
  the lifecycle segments, then the activity family; its phases are timed through a progress
  object, so the activity phases ("activity per category" and "category relations, next
  best") can be compared on their own;
- **pandas**: ``pd.read_csv`` + the vectorized pandas oracle of SPEC §4
  (``tests/oracles/activity.py``): decayed sums per profile and scope, activity, trend,
  rising, affinity, category relations (lift, correlation), next best categories.

Both sides' results are then compared row by row (every (profile, scope) row's S, V,
activity, trend, affinity within a relative 1e-9, rising exactly; every category pair's counts
exactly, lift and correlation within 1e-9; every profile's next best categories), so the
comparison is between programs that give the same answer. The markdown block is printed and
appended to ``benchmarks/RESULTS.md``.

Run ``python benchmarks/activity_vs_pandas.py --lines 1000000 --customers 100000``; see
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import machine
from activity_sides import ACTIVITY_PHASES
from generate import World
from rfm_report import MIB, Measurement, SideResult
from rfm_vs_pandas import AS_OF, DEFAULT_WORKDIR, ensure_csv, installed_label, warm_page_cache

HERE = Path(__file__).resolve().parent
SIDES_SCRIPT = HERE / "activity_sides.py"
DEFAULT_RESULTS = HERE / "RESULTS.md"
TIME_TARGET = 3.0  # clm at least 3x faster than pandas
TOLERANCE = "greatest(1e-9 * greatest(abs(c.{0}), abs(p.{0})), 1e-12)"


def run_side(side: str, csv: Path, out: Path, args: argparse.Namespace) -> Measurement:
    """Run one side in a fresh process; measure its wall time, CPU time and peak RSS."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, str(SIDES_SCRIPT), side, str(csv), str(out), "--as-of", args.as_of]
    for item in args.set:
        command += ["--set", item]
    print(f"running {side} ...", flush=True)
    clock = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - clock
    code = process.returncode = os.waitstatus_to_exitcode(status)
    report = out / "report.json"
    if code != 0 and not report.exists():
        raise SystemExit(f"the {side} side failed with exit code {code} and no report")
    measured = Measurement.load(
        report, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024
    )
    if code != 0 and measured.error is None:
        measured = replace(measured, error=f"exit code {code}")
    return measured


def score_phases(out: Path) -> dict[str, float]:
    """The seconds of each phase of clm's ``score`` in one run."""
    return json.loads((out / "report.json").read_text())["details"].get("score_phases", {})


def _differs(column: str) -> str:
    """SQL: the values of ``column`` on the two sides differ (NaN counts as null)."""
    c, p = f"nullif(c.{column}, 'NaN'::DOUBLE)", f"nullif(p.{column}, 'NaN'::DOUBLE)"
    return (
        f"count(*) FILTER (WHERE NOT (({c} IS NULL AND {p} IS NULL) OR "
        f"abs({c} - {p}) <= greatest(1e-9 * greatest(abs({c}), abs({p})), 1e-12))) AS {column}"
    )


def agreement(clm: Path, pandas: Path) -> dict[str, dict[str, int]]:
    """Per table: rows compared, rows only on one side, and per column the rows that differ."""
    con = duckdb.connect()
    floats = ["s_short", "s_long", "v_short", "v_long", "activity", "trend", "affinity"]
    queries = {
        "activity": f"""
            SELECT count(*) AS rows,
                   count(*) FILTER (WHERE c.scope IS NULL) AS only_pandas,
                   count(*) FILTER (WHERE p.scope IS NULL) AS only_clm,
                   {", ".join(_differs(f) for f in floats)},
                   count(*) FILTER (WHERE c.rising IS DISTINCT FROM p.rising) AS rising
            FROM (SELECT coalesce(customer_id, anonymous_id) AS profile, *
                  FROM read_parquet('{clm}/activity.parquet')) c
            FULL JOIN read_parquet('{pandas}/activity.parquet') p
                   ON c.profile = p.profile AND c.scope = p.scope""",
        "relations": f"""
            SELECT count(*) AS rows,
                   count(*) FILTER (WHERE c.a IS NULL) AS only_pandas,
                   count(*) FILTER (WHERE p.a IS NULL) AS only_clm,
                   count(*) FILTER (WHERE c.n_a IS DISTINCT FROM p.n_a
                                     OR c.n_b IS DISTINCT FROM p.n_b
                                     OR c.n_ab IS DISTINCT FROM p.n_ab) AS counts,
                   {_differs("lift")}, {_differs("correlation")}
            FROM read_parquet('{clm}/relations.parquet') c
            FULL JOIN read_parquet('{pandas}/relations.parquet') p ON c.a = p.a AND c.b = p.b""",
        "next_best": f"""
            SELECT count(*) AS rows,
                   count(*) FILTER (WHERE c.profile IS NULL) AS only_pandas,
                   count(*) FILTER (WHERE p.profile IS NULL) AS only_clm,
                   count(*) FILTER (WHERE c.category IS DISTINCT FROM p.category) AS category,
                   {_differs("score")},
                   count(*) FILTER (WHERE c.category IS DISTINCT FROM p.category
                                     AND NOT coalesce(abs(c.score - p.score)
                                         <= 1e-9 * greatest(abs(c.score), abs(p.score)), false))
                       AS category_not_tied
            FROM read_parquet('{clm}/next_best.parquet') c
            FULL JOIN read_parquet('{pandas}/next_best.parquet') p
                   ON c.profile = p.profile AND c.rank = p.rank""",
    }
    found = {}
    for name, sql in queries.items():
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        found[name] = dict(zip(names, (int(v) for v in cursor.fetchall()[0]), strict=True))
    return found


def _mib(n: int) -> str:
    return f"{n / MIB:,.0f}"


def markdown(
    args: argparse.Namespace,
    argv: list[str],
    world: World,
    results: dict[str, SideResult],
    phases: list[dict[str, float]],
    checked: dict[str, dict[str, int]] | None,
    load: tuple[float, float],
) -> str:
    """The block appended to RESULTS.md for one run."""
    clm, pandas = results["clm"], results.get("pandas")
    settings = ", ".join(args.set) or "defaults"
    lines = [
        f"### Activity: {world.lines:,} lines, {world.customers:,} customers (seed {world.seed}),"
        f" {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `python benchmarks/activity_vs_pandas.py {shlex.join(argv)}`",
        "",
        f"Machine: {machine.summary()}; {machine.software()}; 1-minute load average "
        f"{load[0]:.1f} before, {load[1]:.1f} after. clm: {installed_label()}; clm settings: "
        f"{settings}. Runs per side: {len(clm.runs)} (medians; peak memory: the largest).",
        "",
        "| side | phases (s) | work (s) | process (s) | process CPU (s) "
        "| peak RSS, work (MiB) | peak RSS, process (MiB) |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for result in results.values():
        if result.failure is not None:
            lines.append(f"| {result.side} | **failed**: {result.failure.error} | | | | | |")
            continue
        shown = " + ".join(f"{n} {s:.1f}" for n, s in result.phases.items())
        lines.append(
            f"| {result.side} | {shown} | {result.work_seconds:.1f} | "
            f"{result.process_seconds:.1f} | {result.cpu_seconds:.1f} | "
            f"{_mib(result.work_peak_bytes)} | {_mib(result.process_peak_bytes)} |"
        )
    names = list(phases[0]) if phases else []
    median_phase = {n: statistics.median(p.get(n, 0.0) for p in phases) for n in names}
    clm_activity = sum(median_phase.get(n, 0.0) for n in ACTIVITY_PHASES)
    lines += [
        "",
        "clm's `score`, by phase (s, median): "
        + "; ".join(f"{n} {s:.1f}" for n, s in median_phase.items())
        + f". Activity family alone (the two activity phases): {clm_activity:.1f} s.",
        "",
    ]
    ok = pandas is not None and pandas.failure is None and clm.failure is None
    if ok:
        assert pandas is not None
        whole = pandas.work_seconds / clm.work_seconds
        alone = pandas.phases["activity"] / clm_activity if clm_activity else float("nan")
        memory = pandas.work_peak_bytes / clm.work_peak_bytes
        lines += [
            "| comparison (pandas ÷ clm) | clm | pandas | ratio | target |",
            "|---|--:|--:|--:|---|",
            f"| work: import + score (RFM + activity) vs read_csv + activity oracle | "
            f"{clm.work_seconds:.1f} s | {pandas.work_seconds:.1f} s | **{whole:.2f}×** | "
            f"≥ {TIME_TARGET:g}×: {'met' if whole >= TIME_TARGET else '**missed**'} |",
            f"| activity alone: clm's two activity phases vs the oracle call | "
            f"{clm_activity:.1f} s | {pandas.phases['activity']:.1f} s | **{alone:.2f}×** | "
            f"≥ {TIME_TARGET:g}×: {'met' if alone >= TIME_TARGET else '**missed**'} |",
            f"| peak RSS of the work | {_mib(clm.work_peak_bytes)} MiB | "
            f"{_mib(pandas.work_peak_bytes)} MiB | **{memory:.2f}×** | "
            f"≥ 1× (no more memory): {'met' if memory >= 1 else '**missed**'} |",
            "",
        ]
    if checked is None:
        lines.append("Agreement: not checked (a side did not run or failed).")
    else:
        parts = []
        for table, counts in checked.items():
            counts = dict(counts)
            rows = counts.pop("rows")
            bad = {k: v for k, v in counts.items() if v or k.endswith("_not_tied")}
            detail = "none differ" if not bad else ", ".join(f"{k} {v:,}" for k, v in bad.items())
            parts.append(f"{table} {rows:,} rows: {detail}")
        lines.append("Agreement, row by row (relative 1e-9): " + "; ".join(parts) + ".")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--as-of", default=AS_OF)
    parser.add_argument("--repeat", type=int, default=1, help="runs per side (medians reported)")
    parser.add_argument("--skip-pandas", action="store_true", help="run clm alone")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a clm setting"
    )
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--no-append", action="store_true", help="print only")
    parser.add_argument("--delete-csv", action="store_true", help="remove the file afterwards")
    args = parser.parse_args(argv)
    world = World(args.lines, args.customers, args.seed)
    csv = ensure_csv(world, args.workdir)
    warm_page_cache(csv)
    outdir = args.workdir / "activity"
    sides = ("clm",) if args.skip_pandas else ("clm", "pandas")
    runs: dict[str, list[Measurement]] = {side: [] for side in sides}
    phases: list[dict[str, float]] = []
    load_before = os.getloadavg()[0]
    for i in range(args.repeat):
        for side in sides:
            out = outdir / f"{side}-{i}"
            runs[side].append(run_side(side, csv, out, args))
            if side == "clm":
                phases.append(score_phases(out))
            shutil.rmtree(out / "workspace", ignore_errors=True)
        if any(m.error for measured in runs.values() for m in measured):
            break
    load = (load_before, os.getloadavg()[0])
    results = {side: SideResult(side, measured) for side, measured in runs.items()}
    complete = all(r.failure is None for r in results.values()) and len(results) == 2
    checked = agreement(outdir / "clm-0", outdir / "pandas-0") if complete else None
    block = markdown(args, argv, world, results, phases, checked, load)
    machine.publish(block, args.results, append=not args.no_append)
    shutil.rmtree(outdir, ignore_errors=True)
    if args.delete_csv:
        csv.unlink()


if __name__ == "__main__":
    main()
