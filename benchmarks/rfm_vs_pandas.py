"""Benchmark: import + RFM scoring of purchase lines, clm side by side with pandas.

For a generated file of ``--lines`` purchase lines of ``--customers`` customers (see
``generate.py``), each side runs in its own fresh process (``rfm_sides.py``), one after the
other, on a file already in the page cache:

- **clm**: ``Workspace.init`` + ``import_transactions`` (the CSV into the workspace's DuckDB
  file, validated, with event ids) + ``score`` (RFM, lifecycle segments and whatever else
  ``clm score`` computes: since the activity family, also SPEC §4);
- **pandas**: ``pd.read_csv`` + the vectorized pandas oracle of SPEC §1–3
  (``tests/oracles/rfm.py``), the way most RFM tools compute it.

Wall time is the timed work of each side (plus, for reference, the whole process); peak
memory is the side's peak resident set size (``VmHWM`` at the end of the timed work, and the
whole process's ``ru_maxrss``). Both sides' scores are then compared profile by profile, so
the comparison is between programs that give the same answer. The markdown table is printed
and appended to ``benchmarks/RESULTS.md`` (``--results``).

Run ``python benchmarks/rfm_vs_pandas.py --lines 10000000 --customers 1000000``; see
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import machine
import rfm_report
from generate import World, write_csv
from rfm_report import Measurement, SideResult

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SIDES_SCRIPT = HERE / "rfm_sides.py"
DEFAULT_WORKDIR = Path("/tmp/clm-bench")
DEFAULT_RESULTS = HERE / "RESULTS.md"
AS_OF = "2024-12-31"


@dataclass(frozen=True)
class Options:
    """How to run the benchmark (from the command line)."""

    world: World
    as_of: str
    sides: tuple[str, ...]
    repeat: int
    settings: dict[str, str]  # clm settings (``engine.memory_limit``, ...)
    read_engine: str
    workdir: Path
    clm_src: Path | None  # a folder holding the ``clm`` package; None: the installed clm


def csv_path(world: World, workdir: Path) -> Path:
    """Where the generated file of ``world`` lives (reused by later runs)."""
    return workdir / f"lines-{world.lines}-{world.customers}-s{world.seed}.csv"


def ensure_csv(world: World, workdir: Path) -> Path:
    """Generate the file unless an earlier run left it; return its path."""
    path = csv_path(world, workdir)
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        partial = path.with_suffix(".partial")
        write_csv(world, partial)
        partial.rename(path)
    return path


def warm_page_cache(path: Path) -> None:
    """Read the file once so that neither side pays for cold disk reads."""
    with path.open("rb") as source:
        while source.read(1 << 24):
            pass


def side_command(side: str, csv: Path, out: Path, options: Options) -> list[str]:
    """The command line of one side's fresh process."""
    command = [sys.executable, str(SIDES_SCRIPT), side, str(csv), str(out)]
    command += ["--as-of", options.as_of, "--read-engine", options.read_engine]
    for key, value in options.settings.items():
        command += ["--set", f"{key}={value}"]
    return command


def side_environment(options: Options) -> dict[str, str]:
    """The environment of a side: ``--clm-src`` goes first on ``PYTHONPATH``."""
    env = dict(os.environ)
    if options.clm_src is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(options.clm_src), env.get("PYTHONPATH")) if p
        )
    return env


def run_side(side: str, csv: Path, out: Path, options: Options) -> Measurement:
    """Run one side in a fresh process; measure its wall time, CPU time and peak RSS."""
    shutil.rmtree(out, ignore_errors=True)
    print(f"running {side} ...", flush=True)
    clock = time.perf_counter()
    process = subprocess.Popen(side_command(side, csv, out, options), env=side_environment(options))
    _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage
    wall = time.perf_counter() - clock
    code = process.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    report = out / "report.json"
    if code != 0 and not report.exists():
        raise SystemExit(f"the {side} side failed with exit code {code} and no report")
    measured = Measurement.load(report, wall, cpu, usage.ru_maxrss * 1024)
    if code != 0 and measured.error is None:
        measured = replace(measured, error=f"exit code {code}")
    return measured


def run_all(options: Options, csv: Path) -> list[SideResult]:
    """Run every side ``repeat`` times, alternating; keep the first run's scores.

    A side that fails still gets measured (time and memory up to the failure); the runs
    stop after the round in which it failed."""
    runs: dict[str, list[Measurement]] = {side: [] for side in options.sides}
    for i in range(options.repeat):
        for side in options.sides:
            out = options.workdir / f"{side}-{i}"
            runs[side].append(run_side(side, csv, out, options))
            shutil.rmtree(out / "workspace", ignore_errors=True)
        if any(m.error for measured in runs.values() for m in measured):
            break  # a failure would repeat; report it
    return [SideResult(side, measurements) for side, measurements in runs.items()]


def agreement(clm_scores: Path, pandas_scores: Path) -> dict[str, int]:
    """Profiles only on one side, and per column the profiles whose values differ."""
    columns = ["recency_days", "frequency", "n_orders_life", "r_score", "f_score", "m_score"]
    differs = [
        f"count(*) FILTER (WHERE c.{name} IS DISTINCT FROM p.{name}) AS {name}" for name in columns
    ]
    sql = f"""
        SELECT count(*) AS profiles,
               count(*) FILTER (WHERE c.customer_id IS NULL) AS only_pandas,
               count(*) FILTER (WHERE p.customer_id IS NULL) AS only_clm,
               {", ".join(differs)},
               count(*) FILTER (WHERE abs(c.monetary - p.monetary) > 5e-5) AS monetary,
               count(*) FILTER (WHERE c.segment IS DISTINCT FROM p.segment) AS segment
        FROM read_parquet('{clm_scores}') c
        FULL JOIN read_parquet('{pandas_scores}') p ON c.customer_id = p.customer_id
    """
    cursor = duckdb.connect().execute(sql)
    names = [d[0] for d in cursor.description]
    return dict(zip(names, (int(v) for v in cursor.fetchall()[0]), strict=True))


def segment_counts(scores: Path) -> dict[str, int]:
    """Profiles per segment in a scores file."""
    rows = (
        duckdb.connect()
        .execute(
            f"SELECT segment, count(*) FROM read_parquet('{scores}') GROUP BY 1 ORDER BY 2 DESC"
        )
        .fetchall()
    )
    return {str(segment): int(n) for segment, n in rows}


def git(*args: str) -> str:
    """The output of a git command in the repository."""
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def extract_revision(rev: str, workdir: Path) -> tuple[Path, str]:
    """``git archive`` the ``src`` folder of ``rev`` into ``workdir``; return it and a label."""
    commit = git("rev-parse", "--short", rev)
    target = workdir / f"clm-{commit}"
    if not (target / "src" / "clm").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", commit, "src"], cwd=REPO, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target / "src", f"commit {commit}"


def installed_label() -> str:
    """Which clm the installed (editable) package is: the working tree at a commit."""
    commit = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--", "src")
    return f"working tree at {commit}" + (" with uncommitted changes in src/" if dirty else "")


def command_line(argv: list[str]) -> str:
    """The command as a reader would type it from the repository root."""
    return "python benchmarks/rfm_vs_pandas.py " + shlex.join(argv)


def clm_settings(args: argparse.Namespace) -> dict[str, str]:
    """The clm settings of the run: ``--memory-limit``, ``--threads`` and every ``--set``."""
    settings = {}
    if args.memory_limit:
        settings["engine.memory_limit"] = args.memory_limit
    if args.threads:
        settings["engine.threads"] = str(args.threads)
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE")
        settings[key] = value
    return settings


def parse(argv: list[str]) -> tuple[Options, argparse.Namespace]:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--as-of", default=AS_OF)
    parser.add_argument("--skip-pandas", action="store_true", help="run clm alone")
    parser.add_argument("--repeat", type=int, default=1, help="runs per side (median reported)")
    parser.add_argument("--memory-limit", default="", help="clm engine.memory_limit, e.g. 5GB")
    parser.add_argument("--threads", type=int, default=0, help="clm engine.threads (0: all)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any clm setting, e.g. activity.enabled=false (repeatable)",
    )
    parser.add_argument("--read-engine", default="c", choices=["c", "pyarrow", "python"])
    parser.add_argument("--budget-gb", type=float, default=8.0, help="memory target, GB (1e9)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--clm-rev", help="benchmark the clm of this git revision")
    source.add_argument("--clm-src", type=Path, help="benchmark the clm package in this folder")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--no-append", action="store_true", help="print only")
    parser.add_argument("--delete-csv", action="store_true", help="remove the file afterwards")
    args = parser.parse_args(argv)
    sides = ("clm",) if args.skip_pandas else ("clm", "pandas")
    options = Options(
        world=World(args.lines, args.customers, args.seed),
        as_of=args.as_of,
        sides=sides,
        repeat=args.repeat,
        settings=clm_settings(args),
        read_engine=args.read_engine,
        workdir=args.workdir,
        clm_src=args.clm_src.resolve() if args.clm_src else None,
    )
    return options, args


def resolve_source(options: Options, args: argparse.Namespace) -> tuple[Options, str]:
    """Options with the clm source to run, and its label for the results."""
    if args.clm_rev:
        src, label = extract_revision(args.clm_rev, options.workdir)
        return replace(options, clm_src=src), label
    if options.clm_src is not None:
        return options, f"scratch copy in {options.clm_src}"
    return options, installed_label()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    options, args = parse(argv)
    options.workdir.mkdir(parents=True, exist_ok=True)
    options, clm_source = resolve_source(options, args)
    csv = ensure_csv(options.world, options.workdir)
    warm_page_cache(csv)
    load_before = os.getloadavg()[0]
    results = run_all(options, csv)
    load = (load_before, os.getloadavg()[0])
    clm_scores = options.workdir / "clm-0" / "scores.parquet"
    pandas_scores = options.workdir / "pandas-0" / "scores.parquet"
    scores = {"clm": clm_scores, "pandas": pandas_scores}
    completed = [r.side for r in results if r.failure is None]
    counts = {side: segment_counts(scores[side]) for side in completed}
    checked = agreement(clm_scores, pandas_scores) if len(completed) == 2 else None
    block = rfm_report.markdown(
        rfm_report.Run(
            world=options.world,
            command=command_line(argv),
            when=datetime.now(UTC),
            machine=machine.summary(),
            software=machine.software(),
            clm_source=clm_source,
            load=load,
            settings=options.settings,
            budget_bytes=int(args.budget_gb * 1e9),
            results=results,
            segments=counts,
            agreement=checked,
        )
    )
    machine.publish(block, args.results, append=not args.no_append)
    if not completed:
        print("no side completed", file=sys.stderr)
    for side in options.sides:
        for i in range(options.repeat):
            shutil.rmtree(options.workdir / f"{side}-{i}", ignore_errors=True)
    if args.delete_csv:
        csv.unlink()


if __name__ == "__main__":
    main()
