"""Guards as pure functions: quiet hours across time zones and DST, cap, re-entry, consent."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clm.automation import guards
from clm.automation.durations import parse_duration, schedule_ticks
from clm.automation.enrol_sql import reentry_sql

QUIET = guards.QuietHours.parse("21:00-08:00")
BERLIN, NEW_YORK, TOKYO = (
    ZoneInfo("Europe/Berlin"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Asia/Tokyo"),
)


@pytest.mark.parametrize(
    ("utc", "tz", "expected"),
    [
        ("2024-01-15T23:30", BERLIN, "2024-01-16T07:00"),  # 00:30 CET -> 08:00 CET
        ("2024-01-15T19:30", BERLIN, "2024-01-15T19:30"),  # 20:30 CET: not yet quiet
        ("2024-01-15T20:30", BERLIN, "2024-01-16T07:00"),  # 21:30 CET -> next morning
        ("2024-01-15T12:00", BERLIN, "2024-01-15T12:00"),  # 13:00: allowed
        ("2024-07-15T05:59", BERLIN, "2024-07-15T06:00"),  # 07:59 CEST -> 08:00 CEST
        ("2024-03-31T00:30", BERLIN, "2024-03-31T06:00"),  # DST day: 08:00 is CEST (+2)
        ("2024-10-27T00:30", BERLIN, "2024-10-27T07:00"),  # back to CET (+1)
        ("2024-01-15T23:30", NEW_YORK, "2024-01-15T23:30"),  # 18:30 EST: allowed
        ("2024-01-16T03:00", NEW_YORK, "2024-01-16T13:00"),  # 22:00 EST -> 08:00 EST
        ("2024-01-15T13:00", TOKYO, "2024-01-15T23:00"),  # 22:00 JST -> 08:00 JST
    ],
)
def test_quiet_hours_move_to_the_next_allowed_local_time(
    utc: str, tz: ZoneInfo, expected: str
) -> None:
    t = datetime.fromisoformat(utc)
    assert guards.next_allowed(t, QUIET, tz) == datetime.fromisoformat(expected)


@given(
    t=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
    tz=st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe"]),
    start=st.integers(0, 23),
    length=st.integers(1, 12),
)
def test_moved_sends_land_outside_the_quiet_hours_within_a_day(
    t: datetime, tz: str, start: int, length: int
) -> None:
    quiet = guards.QuietHours.parse(f"{start:02d}:00-{(start + length) % 24:02d}:00")
    zone = ZoneInfo(tz)
    moved = guards.next_allowed(t, quiet, zone)
    assert t <= moved <= t + timedelta(hours=length + 1)  # never dropped, never far
    local = moved.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)
    assert quiet is not None
    assert not quiet.contains(local.time())


def test_no_quiet_hours_and_unknown_zones() -> None:
    t = datetime(2024, 1, 15, 23, 30)
    assert guards.next_allowed(t, None, BERLIN) == t
    assert guards.QuietHours.parse("") is None
    assert guards.zone("Mars/Olympus", "Europe/Berlin").key == "Europe/Berlin"
    assert guards.zone(None, "").key == "UTC"


def test_frequency_cap() -> None:
    assert guards.cap_block(2, 3, "email", 7) is None
    blocked = guards.cap_block(3, 3, "email", 7)
    assert blocked is not None and blocked.reason == "cap"
    assert guards.cap_block(50, None, "banner", 7) is None


def _reentry(policy: str | timedelta, last: datetime | None, is_open: bool, t: datetime) -> Any:
    """The set-based re-entry rule (``enrol_sql.reentry_sql``) on one row."""
    con = duckdb.connect()
    sql = f"SELECT {reentry_sql(policy)} FROM (SELECT ?::TIMESTAMP AS ts) t, "
    sql += "(SELECT ?::TIMESTAMP AS last, ? AS open) p"
    return con.execute(sql, [t, last, is_open]).fetchall()[0][0]


def test_reentry_policies() -> None:
    t = datetime(2024, 3, 20)
    last = datetime(2024, 3, 1)
    assert _reentry("never", None, False, t) is None
    assert _reentry("never", last, False, t) == "already enrolled on 2024-03-01 (never)"
    assert _reentry("always", last, False, t) is None
    assert _reentry("always", last, True, t) == "still enrolled"
    assert _reentry(timedelta(days=30), last, False, t) == (
        "last enrolled 2024-03-01, again after 30 days"
    )
    assert _reentry(timedelta(days=10), last, False, t) is None
    assert _reentry(timedelta(days=19), last, False, t) is None  # exactly 19 days later
    assert _reentry(timedelta(days=19, microseconds=1), last, False, t) is not None


def test_consent_and_address() -> None:
    facts: dict[str, object] = {"email": "a@b.c", "consent.email": True, "consent.sms": False}
    assert guards.consent_block("email", facts) is None
    sms = guards.consent_block("sms", facts)
    assert sms is not None and "withdrawn" in sms.detail
    push = guards.consent_block("push", facts)
    assert push is not None and "never recorded" in push.detail
    assert guards.consent_block("banner", facts) is None  # no consent needed on site
    assert guards.address_block("sms", {"consent.sms": True}) is not None


def test_durations_and_schedule_ticks() -> None:
    assert parse_duration("14d") == timedelta(days=14)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")
    start, end = datetime(2024, 3, 1, 10), datetime(2024, 3, 3, 12)
    assert schedule_ticks("1d", start, end) == [datetime(2024, 3, 2), datetime(2024, 3, 3)]
    assert schedule_ticks("daily at 09:00", start, end) == [
        datetime(2024, 3, 2, 9),
        datetime(2024, 3, 3, 9),
    ]
    assert schedule_ticks("12h", datetime(2024, 3, 1), datetime(2024, 3, 2)) == [
        datetime(2024, 3, 1, 12),
        datetime(2024, 3, 2),
    ]
