"""One side of the RFM benchmark, run in a fresh process so that its peak memory is its own.

``python benchmarks/rfm_sides.py clm CSV OUT_DIR --as-of D [--set engine.memory_limit=6GB]``
creates a clm workspace in ``OUT_DIR/workspace``, imports the CSV and scores it;
``python benchmarks/rfm_sides.py pandas CSV OUT_DIR --as-of D`` reads the CSV with pandas and
scores it with the pandas oracle of SPEC §1–3 (``tests/oracles/rfm.py``).

Either side writes, untimed, its scores to ``OUT_DIR/scores.parquet`` for the agreement check,
and ``OUT_DIR/report.json``: the seconds of each timed phase and the peak resident memory at the
end of the timed work (read from ``VmHWM``), or, when the side failed, the phases it finished
and the error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
COLUMNS = {
    "customer": "customer_id",
    "time": "ts",
    "amount": "amount",
    "order": "order_id",
    "category": "category",
}


@dataclass
class Report:
    """What a side measured: phase seconds, peak RSS in bytes, profiles scored."""

    side: str
    phases: dict[str, float] = field(default_factory=dict)
    peak_rss_bytes: int = 0
    profiles: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # why the side stopped, when it did

    def timed(self, phase: str, work: Callable[[], Any]) -> Any:
        """Run ``work`` and record its wall time under ``phase`` (also when it fails)."""
        clock = time.perf_counter()
        try:
            return work()
        finally:
            self.phases[phase] = time.perf_counter() - clock


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far (``VmHWM`` in ``/proc/self/status``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_clm(report: Report, csv: Path, out: Path, as_of: str, settings: dict[str, str]) -> None:
    """clm: init a workspace with ``settings``, import the CSV as transactions, score."""
    from clm import Workspace

    root = out / "workspace"

    def init() -> Any:
        with Workspace.init(root) as ws:
            for key, value in settings.items():
                ws.config_set(key, value)
        return Workspace.open(root)

    ws = report.timed("init", init)
    summary = report.timed("import", lambda: ws.import_transactions(str(csv), **COLUMNS))
    run = report.timed("score", lambda: ws.score(as_of=as_of))
    report.peak_rss_bytes = peak_rss_bytes()
    report.profiles = run.n_profiles
    report.details = {"imported": summary.imported, "buyers": run.n_buyers}
    ws.export_scores(out / "scores.parquet")
    ws.close()


def run_pandas(report: Report, csv: Path, out: Path, as_of: str, engine: str) -> None:
    """pandas: ``read_csv`` (dates parsed, ids as strings), then the oracle's scores."""
    import pandas as pd

    sys.path.insert(0, str(REPO))
    from tests.oracles.rfm import rfm_oracle

    dtypes = {"customer_id": "str", "order_id": "str", "category": "str"}
    frame = report.timed(
        "read", lambda: pd.read_csv(csv, dtype=dtypes, parse_dates=["ts"], engine=engine)
    )
    result = report.timed("score", lambda: rfm_oracle(frame, as_of))
    report.peak_rss_bytes = peak_rss_bytes()
    report.profiles = len(result.scores)
    report.details = {"read_csv_engine": engine}
    result.scores.reset_index().to_parquet(out / "scores.parquet")


Side = Callable[..., None]


def side_main(doc: str, clm_side: Side, pandas_side: Side, argv: list[str] | None = None) -> None:
    """The command line of a benchmark side: run it, write ``report.json`` even on failure.

    Shared by every ``*_sides.py``; ``clm_side(report, csv, out, as_of, settings)`` and
    ``pandas_side(report, csv, out, as_of, read_engine)`` do the timed work.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("side", choices=["clm", "pandas"])
    parser.add_argument("csv", type=Path)
    parser.add_argument("out", type=Path, help="a folder for the report and the results")
    parser.add_argument("--as-of", required=True)
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="clm: a setting"
    )
    parser.add_argument("--read-engine", default="c", help="pandas: read_csv engine")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    report = Report(args.side)
    with reported(report, args.out):
        if args.side == "clm":
            settings = dict(item.split("=", 1) for item in args.set)
            clm_side(report, args.csv, args.out, args.as_of, settings)
        else:
            pandas_side(report, args.csv, args.out, args.as_of, args.read_engine)


@contextmanager
def reported(report: Report, out: Path) -> Iterator[None]:
    """Run a side's work and write ``out/report.json`` even on failure (with the error
    and the peak memory at that point)."""
    try:
        yield
    except Exception as exc:
        report.error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
        report.peak_rss_bytes = peak_rss_bytes()
        raise
    finally:
        (out / "report.json").write_text(json.dumps(asdict(report), indent=2))


def main(argv: list[str] | None = None) -> None:
    side_main(__doc__ or "", run_clm, run_pandas, argv)


if __name__ == "__main__":
    main()
