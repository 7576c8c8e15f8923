"""The demo's lifecycle story after the import: automate, respond, measure.

:func:`run_programmes` runs the seed programmes over simulated weeks, from a little
before the world's as-of date to a few weeks after it: each day the engine processes
what is due (``clm run --until``), the messages go into folders in the workspace
(folder channels: nothing leaves the machine), and the response simulator
(:mod:`clm.ingest.demo.responses`) adds the conversions the known true effects
imply, which the next day's run attributes to the enrolments. The reports then
measure every programme against its control group and can be checked against the
truth (``TRUE_EFFECTS``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from clm.automation import runner
from clm.ingest.demo.responses import simulate
from clm.workspace import Workspace

#: Scoring runs before the as-of date (days before it): segment history and crossings.
HISTORY_DAYS = (61, 30, 14)
#: The engine's clock starts this many days before the as-of date ...
START_DAYS = 16
#: ... and the simulation runs this many weeks past it (goal windows close) ...
WEEKS_AFTER = 3
#: ... one day at a time: messages go out (and are stamped sent) on the day they are due.
STEP = timedelta(days=1)

DEMO_CHANNELS = {
    "channels.email.folder": "sent/email",
    "channels.email.sender": "hello@demo-shop.example",
    "channels.sms.folder": "sent/sms",
    "channels.push.folder": "sent/push",
}


def use_folder_channels(ws: Workspace) -> None:
    """Deliver the demo's messages into ``sent/<channel>/`` of the workspace."""
    for key, value in DEMO_CHANNELS.items():
        ws.config_set(key, value)


def run_programmes(
    ws: Workspace, as_of: date, say: Callable[[str], None] = lambda _m: None
) -> list[dict[str, Any]]:
    """Run the seed programmes day by day with simulated responses; return each step's
    messages queued and conversions simulated."""
    start = datetime.combine(as_of - timedelta(days=START_DAYS), time())
    end = datetime.combine(as_of + timedelta(weeks=WEEKS_AFTER), time())
    steps: list[dict[str, Any]] = []
    clock = runner.clock(ws.con)  # a demo built again goes on where the last one stopped
    since: datetime | None = None if clock is not None else start
    until = clock if clock is not None else start
    while until < end:
        until = min(until + STEP, end)
        say(f"automations: running to {until:%Y-%m-%d}")
        stats = ws.run(until, since=since)
        since = None
        converted = simulate(ws)
        steps.append(
            {"until": until.isoformat(), "messages": stats.n_messages, "simulated": converted}
        )
    if steps:
        ws.run(end)  # the conversions of the last day are attributed
    return steps
