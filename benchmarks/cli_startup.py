"""How long a `clm` command takes from the shell: `clm --help` (no workspace) and
`clm status` on a workspace, each in a fresh process, the median of ``--repeat`` runs.

    .venv/bin/python benchmarks/cli_startup.py WORKSPACE [--repeat 5] [--no-append]

Nearly all of it is Python importing modules; `tests/cli/test_startup.py` holds the CLI's
import free of DuckDB, pandas, SciPy and FastAPI, this measures what that is worth.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import machine

RESULTS = Path(__file__).with_name("RESULTS.md")
CLM = Path(sys.executable).with_name("clm")


def timed(args: list[str], repeat: int) -> float:
    """Median wall seconds of ``clm ARGS`` in a fresh process (output discarded)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([str(CLM), *args], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--label", default="", help="added to the heading as is")
    parser.add_argument("--no-append", action="store_true", help="print, do not append")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows = [
        ("`clm --help`", timed(["--help"], args.repeat)),
        ("`clm status -w WORKSPACE`", timed(["status", "-w", str(args.workspace)], args.repeat)),
    ]
    table = "\n".join(f"| {name} | {seconds:.2f} |" for name, seconds in rows)
    block = f"""### CLI start-up{args.label}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC

Command: `.venv/bin/python benchmarks/cli_startup.py WORKSPACE --repeat {args.repeat}`
({args.workspace}); 1-minute load average {load:.1f} before,
{os.getloadavg()[0]:.1f} after.

| command | median wall time (s) |
|---|--:|
{table}

{machine.summary()}
"""
    machine.publish(block, RESULTS, not args.no_append)


if __name__ == "__main__":
    main()
