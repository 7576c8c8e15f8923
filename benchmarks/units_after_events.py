"""The automation reports right after new events (issue 8's /automations and /experiments).

The dashboard's automation pages read the measurement units kept by
:mod:`clm.automation.kept_units`; new events bring them up to date first. This times
``ws.automation_reports()`` (what both pages build on) on an existing large workspace,
e.g. the 1M-profile world of ``dashboard_pages.py``: once to bring the units up to date,
unchanged, after 100 visits, after one purchase inside an enrolment's goal window and
after one open of a sent message.
It appends those events to the workspace (ids prefixed ``bench-``), so use a copy.

    .venv/bin/python benchmarks/units_after_events.py WORKSPACE [--no-append]
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import machine

from clm import Workspace

RESULTS = Path(__file__).with_name("RESULTS.md")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--no-append", action="store_true", help="print, do not append")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows: list[tuple[str, float]] = []
    with Workspace.open(args.workspace) as ws:

        def timed(label: str) -> None:
            start = time.perf_counter()
            ws.automation_reports()
            rows.append((label, 1000 * (time.perf_counter() - start)))

        timed("first call (brings the units up to date)")
        timed("unchanged")
        tag = f"bench-{time.time_ns()}"
        ws.con.execute(
            "INSERT INTO events (event_id, customer_id, type, ts) SELECT ? || '-v' || i, "
            "(SELECT customer_id FROM profiles LIMIT 1), 'visit', now()::TIMESTAMP "
            "FROM range(100) t(i)",
            [tag],
        )
        timed("after 100 visits")
        ws.con.execute(
            "INSERT INTO events (event_id, customer_id, type, ts, amount) "
            "SELECT ? || '-p', customer_id, 'purchase', enrolled_at + INTERVAL 1 SECOND, 5 "
            "FROM enrolments WHERE goal_until > enrolled_at LIMIT 1",
            [tag],
        )
        timed("after a purchase inside a goal window")
        ws.con.execute(
            "INSERT INTO events (event_id, customer_id, type, ts, properties) "
            "SELECT ? || '-o', customer_id, 'message_opened', now()::TIMESTAMP, "
            "json_object('message_id', message_id) FROM decisions WHERE kind = 'sent' LIMIT 1",
            [tag],
        )
        timed("after a message_opened event")
        profiles = ws.con.execute("SELECT count(*) FROM profiles").fetchall()[0][0]
    table = "\n".join(f"| {label} | {ms:,.0f} |" for label, ms in rows)
    block = f"""### Automation reports after new events, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC

Command: `.venv/bin/python benchmarks/units_after_events.py {args.workspace}`; {profiles:,}
profiles; 1-minute load average {load:.1f} before, {os.getloadavg()[0]:.1f} after.

| `ws.automation_reports()` | ms |
|---|--:|
{table}

{machine.summary()}
"""
    machine.publish(block, RESULTS, not args.no_append)


if __name__ == "__main__":
    main()
