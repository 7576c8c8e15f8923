"""Durations and clock times as automation files write them: ``30m``, ``12h``, ``14d``, ``2w``."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

UNITS = {
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
DAILY = re.compile(r"^daily at (\d\d):(\d\d)$")
EPOCH = datetime(1970, 1, 1)


def parse_duration(text: str) -> timedelta:
    """``"14d"`` -> 14 days; a ``ValueError`` names the text when it is not a duration."""
    match = DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration (e.g. 30m, 12h, 14d, 2w)")
    return float(match.group(1)) * UNITS[match.group(2)]


def parse_clock(text: str) -> time:
    """``"21:30"`` -> 21:30."""
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def schedule_ticks(every: str, start: datetime, end: datetime) -> list[datetime]:
    """The ticks of a schedule in ``(start, end]`` (naive UTC).

    ``every`` is a period counted from 1970-01-01 00:00 UTC (``1d`` ticks at midnight,
    ``12h`` at midnight and noon) or ``daily at HH:MM`` (UTC).
    """
    daily = DAILY.match(every)
    if daily:
        period = timedelta(days=1)
        offset = timedelta(hours=int(daily.group(1)), minutes=int(daily.group(2)))
    else:
        period, offset = parse_duration(every), timedelta(0)
    if period <= timedelta(0):
        return []
    k = (start - EPOCH - offset) // period + 1
    ticks = []
    tick = EPOCH + offset + k * period
    while tick <= end:
        if tick > start:
            ticks.append(tick)
        tick += period
    return ticks
