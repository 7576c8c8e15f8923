"""Benchmark: lifetime value fits and predictions, clm side by side with lifetimes and
pymc-marketing.

Inputs (written once to Parquet in ``--workdir``, reused by later runs): the CDNOW master file
prepared as in the papers (``tests/models/cdnow.py``: same-day purchases merged, the first day
dropped, calibration end 1997-09-30; 23,570 customers), and bootstraps of it (customers drawn
with replacement, ``--seed``): ``--customers`` (2.36M) for the fits, ``--predict-customers``
(10M) for the predictions. Each file holds x, t_x and T as integer days (clm's ``compress``
finds patterns on them) and in weeks (frequency, recency, T for the peers), and z̄.

Fits (``clv_sides.py fit``), each side in its own fresh process, alternating: clm
(``compress`` + ``bgnbd.fit``; Gamma-Gamma separately), lifetimes 0.11.3 one row per customer
and with its ``weights=`` option, pymc-marketing's MAP with flat priors; the peers run in
their own environments (``peers_env.sh``). Afterwards every side's parameters are compared with
clm's (relative difference) and every side's log-likelihood is evaluated at its parameters
with one function (clm's, on the same patterns).

Predictions (``clv_sides.py predict``): P(alive), expected purchases over the horizon, expected
spend and CLV (``[clv]`` defaults: 90 days, margin 1, 10% a year) for every customer of the
10M file at clm's CDNOW fit, clm against lifetimes' functions (``--lifetimes-predict-limit``:
lifetimes on the first N customers only, its time extrapolated linearly); both sides'
outputs are compared customer by customer.

Wall time and CPU time of each side's process and of its timed work, and its peak RSS
(``VmHWM`` read by the side at the end of the timed work) are measured per side; the process's
``ru_maxrss`` is not shown, since the kernel carries into it the driver's peak from before the
child's ``exec``. Ratios are peer ÷ clm. The markdown block is printed and appended to
``benchmarks/RESULTS.md`` (``--results``). See ``benchmarks/README.md``.
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
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import machine
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rfm_report import MIB, Measurement

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SIDES_SCRIPT = HERE / "clv_sides.py"
DEFAULT_WORKDIR = Path("/tmp/clm-bench/clv")
DEFAULT_RESULTS = HERE / "RESULTS.md"
PYTHONS = {
    "clm": Path(sys.executable),
    "lifetimes": HERE / ".venv-lifetimes" / "bin" / "python",
    "lifetimes-weighted": HERE / ".venv-lifetimes" / "bin" / "python",
    "pymc": HERE / ".venv-pymc" / "bin" / "python",
}
FIT_SIDES = ("clm", "lifetimes", "lifetimes-weighted", "pymc")
SPEED_TARGET = 40.0  # clm's BG/NBD fit at least 40x faster than lifetimes at 2.36M customers
PARAM_TOLERANCE = 1e-4  # "the same parameters": relative difference
PREDICT_SECONDS = 10.0  # "scoring predictions for 10M customers in seconds"
BG_NAMES = ("r", "alpha", "a", "b")
GG_NAMES = ("p", "q", "gamma")


# -- inputs ---------------------------------------------------------------------------------


def cdnow_summaries() -> dict[str, np.ndarray]:
    """Per customer of the CDNOW master file: x, t_x and T in days, z̄ (``tests/models``)."""
    sys.path.insert(0, str(REPO))
    from tests.models.cdnow import prepare

    prepared = prepare("CDNOW_master.txt", id_column=0)
    return {
        "x": prepared.x.astype(np.int64),
        "t_x_days": prepared.t_x_days.astype(np.int64),
        "T_days": prepared.t_days.astype(np.int64),
        "zbar": prepared.zbar.astype(np.float64),
    }


def write_summaries(columns: dict[str, np.ndarray], path: Path) -> None:
    """The integer days for clm, the weeks for the peers, z̄; written atomically."""
    table = pa.table(
        {
            **{k: columns[k] for k in ("x", "t_x_days", "T_days")},
            "frequency": columns["x"].astype(np.float64),
            "recency": columns["t_x_days"] / 7.0,
            "T": columns["T_days"] / 7.0,
            "zbar": columns["zbar"],
        }
    )
    partial = path.with_suffix(".partial")
    pq.write_table(table, partial)
    partial.rename(path)


def ensure_inputs(workdir: Path, sizes: list[int], seed: int) -> dict[str, Path]:
    """``cdnow`` and one bootstrap file per size (each customer drawn with replacement)."""
    paths = {"cdnow": workdir / "cdnow-master.parquet"}
    paths |= {f"boot-{n}": workdir / f"cdnow-boot-{n}-s{seed}.parquet" for n in sizes}
    if all(p.exists() for p in paths.values()):
        return paths
    base = cdnow_summaries()
    if not paths["cdnow"].exists():
        write_summaries(base, paths["cdnow"])
    for n in sizes:
        path = paths[f"boot-{n}"]
        if not path.exists():
            print(f"bootstrapping {n:,} customers to {path} ...", flush=True)
            draw = np.random.default_rng(seed).integers(0, len(base["x"]), size=n)
            write_summaries({k: v[draw] for k, v in base.items()}, path)
    return paths


# -- running the sides ----------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One run of one side: the parent's measurement and the side's report."""

    measured: Measurement
    details: dict[str, Any]


def run_side(task: str, side: str, data: Path, out: Path, extra: list[str]) -> Run:
    """Run one side in a fresh process of its environment; measure wall, CPU, peak RSS."""
    shutil.rmtree(out, ignore_errors=True)
    command = [str(PYTHONS[side]), str(SIDES_SCRIPT), task, side, str(data), str(out), *extra]
    print(f"running {task} {side} on {data.name} ...", flush=True)
    env = dict(os.environ, PYTHONPATH=str(HERE))
    clock = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - clock
    code = process.returncode = os.waitstatus_to_exitcode(status)
    report = out / "report.json"
    if not report.exists():
        raise SystemExit(f"{task} {side} failed with exit code {code} and no report")
    measured = Measurement.load(
        report, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024
    )
    if code != 0 and measured.error is None:
        measured = replace(measured, error=f"exit code {code}")
    return Run(measured, json.loads(report.read_text())["details"])


def available(sides: list[str]) -> tuple[list[str], list[str]]:
    """The sides whose environment exists, and a note for each that is missing."""
    found, missing = [], []
    for side in sides:
        if PYTHONS[side].exists():
            found.append(side)
        else:
            missing.append(f"{side}: no environment at {PYTHONS[side]} (run peers_env.sh)")
    return found, missing


def run_fits(
    data: Path, sides: list[str], repeat: int, workdir: Path, counts: dict[str, int]
) -> dict[str, list[Run]]:
    """Every side ``repeat`` times (``counts[side]`` where given), alternating; a side that
    failed is not run again."""
    runs: dict[str, list[Run]] = {side: [] for side in sides}
    for i in range(max([repeat, *counts.values()])):
        for side in sides:
            if i >= counts.get(side, repeat) or (runs[side] and runs[side][-1].measured.error):
                continue
            out = workdir / f"fit-{side}-{i}"
            runs[side].append(run_side("fit", side, data, out, []))
            shutil.rmtree(out, ignore_errors=True)
    return runs


# -- agreement ------------------------------------------------------------------------------


def relative(value: float, reference: float) -> float:
    return abs(value - reference) / abs(reference)


def log_likelihoods(data: Path, fits: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each side's BG/NBD and Gamma-Gamma log-likelihood at its own parameters, all evaluated
    by clm's functions on the same data (so the figures compare)."""
    from clm.models import bgnbd, gamma_gamma, summary

    table = pq.read_table(data)
    col = {name: table.column(name).to_numpy() for name in table.column_names}
    patterns, _ = summary.compress(col["x"], col["t_x_days"], col["T_days"], "week")
    keep = (col["x"] > 0) & (col["zbar"] > 0)  # the rows gamma_gamma.fit keeps
    pairs = np.stack([col["x"][keep].astype(np.float64), col["zbar"][keep]], axis=1)
    unique, counts = np.unique(pairs, axis=0, return_counts=True)
    out = {}
    for side, details in fits.items():
        bg = [details["bgnbd"][k] for k in BG_NAMES]
        gg = [details["gamma_gamma"][k] for k in GG_NAMES]
        ll = bgnbd.log_likelihood(bg, patterns.x, patterns.t_x, patterns.T)
        gll = gamma_gamma.log_likelihood(gg, unique[:, 0], unique[:, 1])
        out[side] = {
            "bgnbd": float(np.dot(patterns.weight, ll)),
            "gamma_gamma": float(np.dot(counts, gll)),
        }
    return out


def prediction_agreement(clm: Path, peer: Path) -> dict[str, tuple[float, int, int]]:
    """Per output: the largest relative difference (to max(|clm|, 1e-12)), the customers
    differing by more than 1e-9 relative, and the customers compared."""
    a, b = np.load(clm), np.load(peer)
    out = {}
    for name in a.files:
        x, y = a[name], b[name]
        n = min(len(x), len(y))
        x, y = x[:n], y[:n]
        rel = np.abs(x - y) / np.maximum(np.abs(x), 1e-12)
        out[name] = (float(np.nanmax(rel)), int(np.count_nonzero(~(rel <= 1e-9))), n)
    return out


# -- report ---------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _mib(n: float) -> str:
    return f"{n / MIB:,.0f}"


def _s(seconds: float) -> str:
    return f"{seconds:,.2f}" if seconds < 10 else f"{seconds:,.1f}"


def _ok(met: bool) -> str:
    return "met" if met else "**missed**"


def phase_medians(runs: list[Run]) -> dict[str, float]:
    names = runs[0].measured.phases
    return {
        n: _median([r.measured.phases[n] for r in runs if n in r.measured.phases]) for n in names
    }


def bg_seconds(side: str, phases: dict[str, float]) -> float:
    """The BG/NBD part of a fit side's timed work (clm: compress + fit)."""
    return phases.get("compress", 0.0) + phases.get("BG/NBD fit", 0.0)


def fit_block(title: str, data: Path, runs: dict[str, list[Run]], big: bool) -> list[str]:
    """The tables of one data set: times and memory, then parameters and likelihoods."""
    lines = [f"**Fits: {title}**", ""]
    done = {side: rs for side, rs in runs.items() if rs and not rs[0].measured.error}
    for side, rs in runs.items():
        if rs and rs[0].measured.error:
            lines.append(f"- {side} **failed**: {rs[0].measured.error}")
    if "clm" not in done:
        return [*lines, "", "clm did not complete; nothing compared.", ""]
    clm_phases = phase_medians(done["clm"])
    clm_bg = bg_seconds("clm", clm_phases)
    clm_gg = clm_phases.get("Gamma-Gamma", 0.0)
    lines += [
        "| side | runs | BG/NBD (s) | ÷ clm | Gamma-Gamma (s) | ÷ clm | process (s) | "
        "process CPU (s) | peak RSS, BG/NBD (MiB) | rows fitted |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for side, rs in done.items():
        phases = phase_medians(rs)
        bg, gg = bg_seconds(side, phases), phases.get("Gamma-Gamma", 0.0)
        shown = (
            f"{_s(bg)} (compress {_s(phases['compress'])} + fit {_s(phases['BG/NBD fit'])})"
            if side == "clm"
            else _s(bg)
        )
        lines.append(
            f"| {side} | {len(rs)} | {shown} | {bg / clm_bg:,.1f}× | {_s(gg)} | "
            f"{gg / clm_gg:,.1f}× | {_s(_median([r.measured.process_seconds for r in rs]))} | "
            f"{_s(_median([r.measured.cpu_seconds for r in rs]))} | "
            f"{_mib(max(r.measured.work_peak_bytes for r in rs))} | "
            f"{rs[0].details['patterns']:,} |"
        )
    fits = {side: rs[0].details for side, rs in done.items()}
    lls = log_likelihoods(data, fits)
    ref = fits["clm"]
    lines += [
        "",
        "| side | r | α | a | b | largest relative difference to clm | BG/NBD LL (clm's "
        "function) | p | q | γ | largest relative difference | Gamma-Gamma LL |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    worst: dict[str, float] = {}
    for side, details in fits.items():
        bg = details["bgnbd"]
        gg = details["gamma_gamma"]
        bg_diff = max(relative(bg[k], ref["bgnbd"][k]) for k in BG_NAMES)
        gg_diff = max(relative(gg[k], ref["gamma_gamma"][k]) for k in GG_NAMES)
        worst[side] = bg_diff
        lines.append(
            f"| {side} | "
            + " | ".join(f"{bg[k]:.6g}" for k in BG_NAMES)
            + f" | {bg_diff:.1e} | {lls[side]['bgnbd']:,.3f} | "
            + " | ".join(f"{gg[k]:.6g}" for k in GG_NAMES)
            + f" | {gg_diff:.1e} | {lls[side]['gamma_gamma']:,.3f} |"
        )
    lines.append("")
    if big and "lifetimes" in done:
        ratio = bg_seconds("lifetimes", phase_medians(done["lifetimes"])) / clm_bg
        same = worst["lifetimes"] <= PARAM_TOLERANCE
        lines.append(
            f"Target: clm's BG/NBD fit ≥ {SPEED_TARGET:.0f}× faster than lifetimes' "
            f"`BetaGeoFitter().fit` with the same parameters (relative {PARAM_TOLERANCE:.0e}): "
            f"speed {_ok(ratio >= SPEED_TARGET)} ({ratio:,.1f}×); parameters {_ok(same)} "
            f"(largest relative difference {worst['lifetimes']:.1e})."
        )
        lines.append("")
    return lines


def predict_block(runs: dict[str, list[Run]], total: int) -> list[str]:
    lines: list[str] = []
    done = {side: rs for side, rs in runs.items() if rs and not rs[0].measured.error}
    for side, rs in runs.items():
        if rs and rs[0].measured.error:
            lines.append(f"- {side} **failed**: {rs[0].measured.error}")
    if "clm" not in done:
        return [*lines, "", "clm did not complete.", ""]
    lines += [
        "| side | runs | customers | phases (s, median) | work (s) | work for "
        f"{total:,} (s) | ÷ clm | peak RSS, work (MiB) |",
        "|---|--:|--:|---|--:|--:|--:|--:|",
    ]
    clm_work = _median([r.measured.work_seconds for r in done["clm"]])
    for side, rs in done.items():
        phases = phase_medians(rs)
        work = _median([r.measured.work_seconds for r in rs])
        n = rs[0].measured.profiles
        scaled = work * total / n
        peak = max(r.measured.work_peak_bytes for r in rs)
        shown = " + ".join(f"{k} {_s(v)}" for k, v in phases.items())
        lines.append(
            f"| {side} | {len(rs)} | {n:,} | {shown} | {_s(work)} | {_s(scaled)}"
            + (" (extrapolated)" if n != total else "")
            + f" | {scaled / clm_work:,.1f}× | {_mib(peak)} |"
        )
    lines.append("")
    if "clm" in done:
        lines.append(
            f"Target: scoring {total:,} customers in seconds (< {PREDICT_SECONDS:.0f} s): "
            f"{_ok(clm_work < PREDICT_SECONDS)} ({_s(clm_work)} s; "
            f"{done['clm'][0].details['patterns']:,} distinct patterns)."
        )
        lines.append("")
    return lines


def agreement_lines(checked: dict[str, tuple[float, int, int]]) -> list[str]:
    lines = [
        "| output | customers compared | largest relative difference | differing > 1e-9 |",
        "|---|--:|--:|--:|",
    ]
    for name, (worst, differing, n) in checked.items():
        lines.append(f"| {name} | {n:,} | {worst:.1e} | {differing:,} |")
    return [*lines, ""]


def installed_label() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    dirty = git("status", "--porcelain", "--", "src")
    label = f"working tree at {git('rev-parse', '--short', 'HEAD')}"
    return label + (" with uncommitted changes in src/" if dirty else "")


def peer_versions() -> str:
    """The peers' packages, as each environment reports them."""
    found = []
    for env, names in (
        (HERE / ".venv-lifetimes", ("lifetimes", "numpy", "pandas", "scipy", "autograd")),
        (HERE / ".venv-pymc", ("pymc-marketing", "pymc", "pytensor", "numpy", "scipy")),
    ):
        python = env / "bin" / "python"
        if not python.exists():
            found.append(f"{env.name}: not installed")
            continue
        code = (
            "from importlib import metadata as m; print(', '.join(f'{n} ' + m.version(n) for n in "
            f"{list(names)!r}))"
        )
        done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
        found.append(f"{env.name}: {done.stdout.strip() or done.stderr.strip()[-200:]}")
    return "; ".join(found)


# -- main -----------------------------------------------------------------------------------


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=int, default=2_360_000, help="bootstrap for the fits")
    parser.add_argument("--predict-customers", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--sides", default=",".join(FIT_SIDES), help="fit sides, comma-separated (clm first)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per side on CDNOW")
    parser.add_argument("--big-repeat", type=int, default=3, help="runs per side, bootstrap")
    parser.add_argument(
        "--peer-big-repeat", type=int, default=1, help="runs of each peer on the bootstrap"
    )
    parser.add_argument("--skip-fit", action="store_true")
    parser.add_argument("--skip-predict", action="store_true")
    parser.add_argument(
        "--lifetimes-predict-limit",
        type=int,
        default=0,
        help="lifetimes predicts the first N customers only (time extrapolated); 0: all",
    )
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--no-append", action="store_true", help="print only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    sizes = [] if args.skip_fit else [args.customers]
    sizes += [] if args.skip_predict else [args.predict_customers]
    inputs = ensure_inputs(args.workdir, sizes, args.seed)
    sides, missing = available(["clm", *(s for s in args.sides.split(",") if s != "clm")])
    load_before = os.getloadavg()[0]
    started = datetime.now(UTC)
    body: list[str] = []
    clm_cdnow: dict[str, Any] | None = None
    if not args.skip_fit:
        cdnow = run_fits(inputs["cdnow"], sides, args.repeat, args.workdir, {})
        body += fit_block("CDNOW master, 23,570 customers", inputs["cdnow"], cdnow, big=False)
        clm_cdnow = cdnow["clm"][0].details
        peers = {s: args.peer_big_repeat for s in sides if s != "clm"}
        big_data = inputs[f"boot-{args.customers}"]
        big = run_fits(big_data, sides, max(args.big_repeat, 1), args.workdir, peers)
        body += fit_block(
            f"{args.customers:,} customers (CDNOW master bootstrapped, seed {args.seed})",
            big_data,
            big,
            big=True,
        )
    if not args.skip_predict:
        if clm_cdnow is None:
            once = run_fits(inputs["cdnow"], ["clm"], 1, args.workdir, {})
            clm_cdnow = once["clm"][0].details
        params = {
            "bgnbd": clm_cdnow["bgnbd"],
            "gamma_gamma": clm_cdnow["gamma_gamma"],
            "horizon_days": 90.0,
            "margin": 1.0,
            "discount_rate": 0.10,
        }
        params_path = args.workdir / "params.json"
        params_path.write_text(json.dumps(params, indent=2))
        data = inputs[f"boot-{args.predict_customers}"]
        runs: dict[str, list[Run]] = {"clm": []}
        for i in range(max(args.repeat, 1)):
            out = args.workdir / f"predict-clm-{i}"
            runs["clm"].append(
                run_side("predict", "clm", data, out, ["--params", str(params_path)])
            )
        predicted = {"clm": args.workdir / "predict-clm-0" / "predictions.npz"}
        if "lifetimes" in sides:
            extra = ["--params", str(params_path), "--limit", str(args.lifetimes_predict_limit)]
            out = args.workdir / "predict-lifetimes-0"
            runs["lifetimes"] = [run_side("predict", "lifetimes", data, out, extra)]
            predicted["lifetimes"] = out / "predictions.npz"
        body += [
            "**Predictions**",
            "",
            f"Predictions for {args.predict_customers:,} customers (CDNOW master bootstrapped, "
            f"seed {args.seed}) at clm's CDNOW fit (r, α, a, b = "
            + ", ".join(f"{params['bgnbd'][k]:.6g}" for k in BG_NAMES)
            + "; p, q, γ = "
            + ", ".join(f"{params['gamma_gamma'][k]:.6g}" for k in GG_NAMES)
            + "), horizon 90 days, margin 1, discount 10% a year.",
            "",
        ]
        body += predict_block(runs, args.predict_customers)
        if all(p.exists() for p in predicted.values()) and len(predicted) == 2:
            body += ["Agreement, clm against lifetimes, customer by customer:", ""]
            body += agreement_lines(prediction_agreement(predicted["clm"], predicted["lifetimes"]))
        for i in range(max(args.repeat, 1)):
            shutil.rmtree(args.workdir / f"predict-clm-{i}", ignore_errors=True)
        shutil.rmtree(args.workdir / "predict-lifetimes-0", ignore_errors=True)
    load = (load_before, os.getloadavg()[0])
    head = [
        f"#### Lifetime value: fits and predictions, {started:%Y-%m-%d %H:%M} UTC",
        "",
        "Command: `python benchmarks/clv_vs_lifetimes.py " + shlex.join(argv) + "`",
        "",
        f"Machine: {machine.summary()}; {machine.software()}; 1-minute load average "
        f"{load[0]:.1f} before, {load[1]:.1f} after. clm: {installed_label()}. Peers: "
        f"{peer_versions()}.",
        "",
    ]
    if missing:
        head += [f"Not run: {'; '.join(missing)}.", ""]
    block = "\n".join(head + body)
    machine.publish(block, args.results, append=not args.no_append)


if __name__ == "__main__":
    main()
