"""Each id's SQL form gives the text of its Python form (generated keys: unicode, quotes,
``|`` inside parts, empty and NULL optional parts, times with and without microseconds),
and the Python forms are the documented SHA-256 prefixes (worked out here by hand)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clm.automation import ids

TEXT = st.text(min_size=0, max_size=12)
NAME = st.text(min_size=1, max_size=12)
TIMES = st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31)) | (
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
        lambda t: t.replace(microsecond=0)
    )
)


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect()
    yield c
    c.close()


def sha(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def test_the_python_forms_are_the_documented_digests() -> None:
    t = datetime(2026, 3, 2, 9, 0)
    assert ids.enrolment_id("win-back", "c1", "segment:7") == sha("win-back|c1|segment:7")
    assert ids.message_id("win-back", "e1", "s1") == sha("win-back|e1|s1")
    assert ids.decision_id("a", "c1", "e1", "occ", "s1", "sent", t) == sha(
        "a|c1|e1|s1|sent|2026-03-02T09:00:00"
    )
    at = t.replace(microsecond=5)
    assert ids.decision_id("a", "c1", None, "occ", None, "skipped", at) == sha(
        "a|c1|occ||skipped|2026-03-02T09:00:00.000005"
    )
    assert ids.decision_id("a", "c1", "", "occ", "", "ended", t) == sha(
        "a|c1|occ||ended|2026-03-02T09:00:00"
    )


@settings(max_examples=150, deadline=None)
@given(ts=TIMES)
def test_iso_sql_is_isoformat(con: duckdb.DuckDBPyConnection, ts: datetime) -> None:
    got = con.execute(f"SELECT {ids.iso_sql('$t::TIMESTAMP')}", {"t": ts}).fetchall()[0][0]
    assert got == ts.isoformat()


@settings(max_examples=100, deadline=None)
@given(a=NAME, b=TEXT, c=TEXT)
def test_enrolment_and_message_ids(con: duckdb.DuckDBPyConnection, a: str, b: str, c: str) -> None:
    row = con.execute(
        f"SELECT {ids.enrolment_id_sql('$a', '$b', '$c')}, {ids.message_id_sql('$a', '$b', '$c')}",
        {"a": a, "b": b, "c": c},
    ).fetchall()[0]
    assert row == (ids.enrolment_id(a, b, c), ids.message_id(a, b, c))


@settings(max_examples=150, deadline=None)
@given(
    automation=NAME,
    customer=NAME,
    enrolment=st.none() | TEXT,
    scope=TEXT,
    step=st.none() | TEXT,
    kind=NAME,
    ts=TIMES,
)
def test_decision_ids(
    con: duckdb.DuckDBPyConnection,
    automation: str,
    customer: str,
    enrolment: str | None,
    scope: str,
    step: str | None,
    kind: str,
    ts: datetime,
) -> None:
    sql = ids.decision_id_sql("$a", "$c", "$e::VARCHAR", "$s", "$p::VARCHAR", "$k", "$t::TIMESTAMP")
    params = {"a": automation, "c": customer, "e": enrolment, "s": scope, "p": step, "k": kind}
    got = con.execute(f"SELECT {sql}", params | {"t": ts}).fetchall()[0][0]
    assert got == ids.decision_id(automation, customer, enrolment, scope, step, kind, ts)


@settings(max_examples=50, deadline=None)
@given(
    ts=st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2100, 1, 1)),
    hours=st.integers(-12, 14),
)
def test_an_aware_time_is_its_utc_moment(
    con: duckdb.DuckDBPyConnection, ts: datetime, hours: int
) -> None:
    """DuckDB keeps a TIMESTAMP naive (an aware value is taken in UTC), so the Python form
    takes an aware time in UTC too; before, it hashed the offset into the id."""
    aware = ts.replace(tzinfo=timezone(timedelta(hours=hours)))
    utc = aware.astimezone(UTC).replace(tzinfo=None)
    python = ids.decision_id("a", "c", None, "s", None, "k", aware)
    assert python == ids.decision_id("a", "c", None, "s", None, "k", utc)
    sql = ids.decision_id_sql("'a'", "'c'", "NULL", "'s'", "NULL", "'k'", "$t::TIMESTAMP")
    assert con.execute(f"SELECT {sql}", {"t": utc}).fetchall()[0][0] == python
