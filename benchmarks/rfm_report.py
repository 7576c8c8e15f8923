"""Measurements of the RFM benchmark and their markdown table for RESULTS.md."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from generate import World

MIB = 2**20
TIME_TARGET = 3.0  # clm at least 3x faster than pandas
MEMORY_TARGET = 0.5  # clm at most half the peak memory of pandas


@dataclass(frozen=True)
class Measurement:
    """One run of one side."""

    phases: dict[str, float]
    work_peak_bytes: int  # VmHWM at the end of the timed work
    process_peak_bytes: int  # ru_maxrss of the whole process
    process_seconds: float  # the whole process, start to exit
    cpu_seconds: float  # user + system CPU time of the whole process, all threads
    profiles: int
    error: str | None = None  # set when the side failed

    @property
    def work_seconds(self) -> float:
        return sum(self.phases.values())

    @classmethod
    def load(cls, report: Path, seconds: float, cpu: float, process_peak: int) -> Measurement:
        """Read a side's ``report.json`` and add what the parent measured."""
        data = json.loads(report.read_text())
        return cls(
            phases={str(k): float(v) for k, v in data["phases"].items()},
            work_peak_bytes=int(data["peak_rss_bytes"]),
            process_peak_bytes=process_peak,
            process_seconds=seconds,
            cpu_seconds=cpu,
            profiles=int(data["profiles"]),
            error=data.get("error"),
        )


@dataclass(frozen=True)
class SideResult:
    """All runs of one side: median times, the largest peak memory."""

    side: str
    runs: list[Measurement]

    @property
    def failure(self) -> Measurement | None:
        """The first failed run, if any."""
        return next((r for r in self.runs if r.error), None)

    @property
    def phases(self) -> dict[str, float]:
        names = self.runs[0].phases
        return {n: statistics.median(r.phases[n] for r in self.runs) for n in names}

    @property
    def work_seconds(self) -> float:
        return statistics.median(r.work_seconds for r in self.runs)

    @property
    def process_seconds(self) -> float:
        return statistics.median(r.process_seconds for r in self.runs)

    @property
    def cpu_seconds(self) -> float:
        return statistics.median(r.cpu_seconds for r in self.runs)

    @property
    def work_peak_bytes(self) -> int:
        return max(r.work_peak_bytes for r in self.runs)

    @property
    def process_peak_bytes(self) -> int:
        return max(r.process_peak_bytes for r in self.runs)


@dataclass(frozen=True)
class Run:
    """Everything one benchmark run reports."""

    world: World
    command: str
    when: datetime
    machine: str
    software: str
    clm_source: str
    load: tuple[float, float]  # 1-minute load average before and after
    settings: dict[str, str]
    budget_bytes: int
    results: list[SideResult]
    segments: dict[str, dict[str, int]]
    agreement: dict[str, int] | None

    def side(self, name: str) -> SideResult | None:
        return next((r for r in self.results if r.side == name), None)


def _mib(n: int) -> str:
    return f"{n / MIB:,.0f}"


def _failed_row(side: str, run: Measurement) -> str:
    done = " + ".join(f"{name} {s:.1f}" for name, s in run.phases.items()) or "start"
    cells = [
        side,
        f"{done}: **failed**: {run.error}",
        "—",
        f"{run.process_seconds:.1f}",
        f"{run.cpu_seconds:.1f}",
        _mib(run.work_peak_bytes),
        _mib(run.process_peak_bytes),
    ]
    return "| " + " | ".join(cells) + " |"


def _row(result: SideResult) -> str:
    if result.failure is not None:
        return _failed_row(result.side, result.failure)
    phases = " + ".join(f"{name} {s:.1f}" for name, s in result.phases.items())
    cells = [
        result.side,
        phases,
        f"{result.work_seconds:.1f}",
        f"{result.process_seconds:.1f}",
        f"{result.cpu_seconds:.1f}",
        _mib(result.work_peak_bytes),
        _mib(result.process_peak_bytes),
    ]
    return "| " + " | ".join(cells) + " |"


def _ratio_row(clm: SideResult, pandas: SideResult) -> str:
    cells = [
        "**pandas ÷ clm**",
        "",
        f"**{pandas.work_seconds / clm.work_seconds:.2f}×**",
        f"{pandas.process_seconds / clm.process_seconds:.2f}×",
        f"{pandas.cpu_seconds / clm.cpu_seconds:.2f}×",
        f"**{pandas.work_peak_bytes / clm.work_peak_bytes:.2f}×**",
        f"{pandas.process_peak_bytes / clm.process_peak_bytes:.2f}×",
    ]
    return "| " + " | ".join(cells) + " |"


def table(run: Run) -> list[str]:
    """The time and memory table, with the pandas ÷ clm ratios when pandas ran."""
    lines = [
        "| side | phases (s) | work (s) | process (s) | process CPU (s) "
        "| peak RSS, work (MiB) | peak RSS, process (MiB) |",
        "|---|---|--:|--:|--:|--:|--:|",
        *(_row(r) for r in run.results),
    ]
    clm, pandas = run.side("clm"), run.side("pandas")
    if clm and pandas and not clm.failure and not pandas.failure:
        lines.append(_ratio_row(clm, pandas))
    return lines


def verdicts(run: Run) -> list[str]:
    """Whether clm met its targets in this run."""
    clm, pandas = run.side("clm"), run.side("pandas")
    assert clm is not None
    if clm.failure is not None:
        return [f"Targets for clm: **missed**: the run did not complete ({clm.failure.error})."]
    found = []
    if pandas and not pandas.failure:
        speed = pandas.work_seconds / clm.work_seconds
        share = clm.work_peak_bytes / pandas.work_peak_bytes
        found.append(
            f"at least {TIME_TARGET:g}× faster: {_mark(speed >= TIME_TARGET)} ({speed:.2f}×)"
        )
        found.append(
            f"at most {MEMORY_TARGET:g} of the peak memory: {_mark(share <= MEMORY_TARGET)} "
            f"({share:.2f})"
        )
    fits = clm.process_peak_bytes <= run.budget_bytes
    found.append(
        f"within {run.budget_bytes / 1e9:g} GB: {_mark(fits)} "
        f"({clm.process_peak_bytes / 1e9:.2f} GB)"
    )
    return ["Targets for clm: " + "; ".join(found) + "."]


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def agreement_lines(run: Run) -> list[str]:
    """The profile-by-profile comparison of the two sides' scores."""
    if run.agreement is None:
        return ["Agreement: not checked (clm ran alone, or a side failed)."]
    checked = dict(run.agreement)
    profiles = checked.pop("profiles")
    differing = {k: v for k, v in checked.items() if v}
    detail = (
        "none differ"
        if not differing
        else "differences: " + ", ".join(f"{k} {v:,}" for k, v in differing.items())
    )
    columns = "recency, frequency, monetary, n_orders_life, R, F, M, segment"
    return [f"Agreement, profile by profile ({columns}): {profiles:,} profiles, {detail}."]


def segment_table(run: Run) -> list[str]:
    """Profiles per segment on each side that completed."""
    sides = list(run.segments)
    if not sides:
        return []
    names = sorted({s for counts in run.segments.values() for s in counts})
    names.sort(key=lambda s: -run.segments[sides[0]].get(s, 0))
    lines = ["| segment | " + " | ".join(sides) + " |", "|---|" + "--:|" * len(sides)]
    for name in names:
        cells = [f"{run.segments[side].get(name, 0):,}" for side in sides]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def markdown(run: Run) -> str:
    """The block appended to RESULTS.md for one run."""
    w = run.world
    given = ", ".join(f"{key} = {value}" for key, value in run.settings.items())
    settings = f"settings: {given or 'defaults'}"
    lines = [
        f"### {w.lines:,} lines, {w.customers:,} customers (seed {w.seed}), "
        f"{run.when:%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{run.command}`",
        "",
        f"Machine: {run.machine}; {run.software}; 1-minute load average "
        f"{run.load[0]:.1f} before, {run.load[1]:.1f} after.",
        "",
        f"clm: {run.clm_source}; {settings}. "
        f"Runs per side: {len(run.results[0].runs)}, alternating (median time, largest memory).",
        "",
        *table(run),
        "",
        *verdicts(run),
        "",
        *agreement_lines(run),
        "",
        *segment_table(run),
        "",
    ]
    return "\n".join(lines)
