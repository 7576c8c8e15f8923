"""A description of the machine and the software a benchmark ran on, for RESULTS.md."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("clm", "duckdb", "ibis-framework", "pandas", "numpy", "pyarrow")


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (``"unknown"`` elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def memory_gib() -> float:
    """Total memory in GiB from ``/proc/meminfo`` (0 when unknown)."""
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def versions() -> dict[str, str]:
    """Installed versions of the packages the benchmark depends on."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def summary() -> str:
    """One line: CPUs, model, memory, OS, Python."""
    return (
        f"{cpus()} CPUs ({cpu_model()}), {memory_gib():.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {sys.version.split()[0]}"
    )


def software() -> str:
    """One line of ``name version`` pairs."""
    return ", ".join(f"{name} {version}" for name, version in versions().items())


if __name__ == "__main__":
    print(summary())
    print(software())


def publish(block: str, results: Path, append: bool) -> None:
    """Print a run's markdown block and, unless told not to, append it to ``results``."""
    print(block)
    if append:
        with results.open("a") as sink:
            sink.write("\n" + block)
