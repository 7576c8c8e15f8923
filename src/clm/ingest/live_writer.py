"""Writing the server's records to the workspace database, in batches.

One call of :func:`write` stores a batch of journaled records in one transaction:
new events (a repeated event id is ignored, as in imports), profile traits merged
field by field (a later identify wins; an earlier one only fills what is unknown),
consent changes, identity links, and the journal position the batch ends at. The
position and the records commit together, so a crash between two batches makes
the next start write exactly the records after the position (SPEC §1; DESIGN.md,
"idempotent by construction").
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa

from clm.ingest import identity
from clm.ingest.journal import Position
from clm.ingest.tracking import (
    CONSENT_CHANNELS,
    EventRecord,
    LinkRecord,
    ProfileRecord,
    Record,
)
from clm.store.database import transaction

API_SOURCE = "api"
_EVENTS = "_clm_api_events"
_IDS = "_clm_api_event_ids"
_PROFILES = "_clm_api_profiles"
_CONSENTS = "_clm_api_consents"
_LINKS = "_clm_api_links"

EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("customer_id", pa.string()),
        ("anonymous_id", pa.string()),
        ("type", pa.string()),
        ("ts", pa.timestamp("us")),
        ("category", pa.string()),
        ("amount", pa.decimal128(18, 4)),
        ("order_id", pa.string()),
        ("properties", pa.string()),
    ]
)


@dataclass(frozen=True)
class WriteStats:
    """What one batch wrote."""

    events: int
    duplicates: int
    profiles: int
    links: int


def checkpoint(con: duckdb.DuckDBPyConnection) -> Position:
    """The journal position up to which records are in the database."""
    rows = con.execute('SELECT segment, "offset" FROM journal_checkpoint').fetchall()
    return Position(int(rows[0][0]), int(rows[0][1])) if rows else Position(0, 0)


#: Errors that say a record cannot be stored (its values), not that the database is unwell.
RECORD_ERRORS: tuple[type[BaseException], ...] = (
    duckdb.ConstraintException,
    duckdb.ConversionException,
    duckdb.OutOfRangeException,
    duckdb.InvalidInputException,
    duckdb.TypeMismatchException,
    pa.ArrowException,
    ValueError,
    OverflowError,
    TypeError,
    KeyError,
)


def write(
    con: duckdb.DuckDBPyConnection, batch: Sequence[Record], end: Position | None
) -> WriteStats:
    """Store ``batch`` and the journal position ``end`` after it (None: leave the position),
    all or nothing."""
    events = [r for r in batch if isinstance(r, EventRecord)]
    profiles = [r for r in batch if isinstance(r, ProfileRecord)]
    links = [r for r in batch if isinstance(r, LinkRecord)]
    with transaction(con):
        new = _insert_events(con, events) if events else 0
        changed = _merge_profiles(con, profiles) if profiles else 0
        linked = _link(con, links) if links else 0
        if end is not None:
            con.execute("DELETE FROM journal_checkpoint")
            con.execute(
                "INSERT INTO journal_checkpoint VALUES (?, ?, now()::TIMESTAMP)",
                [end.segment, end.offset],
            )
    return WriteStats(new, len(events) - new, changed, linked)


def write_each(
    con: duckdb.DuckDBPyConnection,
    batch: Sequence[Record],
    end: Position,
    reject: Callable[[Record, BaseException], None],
) -> int:
    """Store ``batch`` one record at a time (after writing it whole failed): a record the
    database cannot take (:data:`RECORD_ERRORS`) goes to ``reject``; the position moves
    to ``end`` after the last. Any other error propagates (nothing is lost: writing a
    record twice stores it once). Return the number of records stored."""
    stored = 0
    for record in batch:
        try:
            write(con, [record], None)
        except RECORD_ERRORS as exc:
            reject(record, exc)
        else:
            stored += 1
    write(con, [], end)
    return stored


def _unregister(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop a registered table; in a transaction a failed statement aborted, leave it (the
    next register replaces it) so that the statement's own error is the one raised."""
    with contextlib.suppress(duckdb.TransactionException):
        con.unregister(name)


def _money(units: list[int | None]) -> pa.Array:
    """Ten-thousandths as ``DECIMAL(18, 4)``: the integers are the decimal's own digits
    (Arrow's decimal128 is a 16-byte two's complement integer scaled by 10^-4), so no
    ``Decimal`` object is made per event."""
    n = len(units)
    known = np.fromiter((u is not None for u in units), np.bool_, n)
    low = np.fromiter((u or 0 for u in units), np.int64, n)
    raw = np.empty((n, 2), np.int64)
    raw[:, 0], raw[:, 1] = low, low >> 63  # the high word extends the sign
    validity = None if known.all() else pa.py_buffer(np.packbits(known, bitorder="little"))
    return pa.Array.from_buffers(
        pa.decimal128(18, 4), n, [validity, pa.py_buffer(raw)], null_count=n - int(known.sum())
    )


def _first_seen(events: list[EventRecord], stored: set[str]) -> list[EventRecord]:
    """The events whose id is not stored, each id's first only (in batch order)."""
    out, seen = [], set(stored)
    for e in events:
        if e.event_id not in seen:
            seen.add(e.event_id)
            out.append(e)
    return out


def _insert_events(con: duckdb.DuckDBPyConnection, events: list[EventRecord]) -> int:
    """Insert the events whose id is not stored yet. The stored ids among the batch's are
    found first (a semi-join: the batch is hashed and the events' ids probe it, 2-10 times
    cheaper than the anti-join ``NOT EXISTS`` over every stored event); usually none are,
    and the batch goes in as it is."""
    ids = pa.array([e.event_id for e in events], pa.string())
    con.register(_IDS, pa.table({"event_id": ids}))
    try:
        stored = {
            str(r[0])
            for r in con.execute(
                f"SELECT DISTINCT event_id FROM events WHERE event_id IN "
                f"(SELECT event_id FROM {_IDS})"
            ).fetchall()
        }
    finally:
        _unregister(con, _IDS)
    if stored or len(set(ids.to_pylist())) < len(events):
        events = _first_seen(events, stored)
        if not events:
            return 0
    table = pa.table(
        {
            "event_id": [e.event_id for e in events],
            "customer_id": [e.customer_id for e in events],
            "anonymous_id": [e.anonymous_id for e in events],
            "type": [e.type for e in events],
            "ts": pa.array([e.ts for e in events], pa.int64()).cast(pa.timestamp("us")),
            "category": [e.category for e in events],
            "amount": _money([e.amount for e in events]),
            "order_id": [e.order_id for e in events],
            "properties": [
                orjson.dumps(e.properties).decode() if e.properties else None for e in events
            ],
        },
        schema=EVENT_SCHEMA,
    )
    con.register(_EVENTS, table)
    try:
        con.execute(
            f"""
            INSERT INTO events
            SELECT event_id, customer_id, anonymous_id, type, ts, category, amount, order_id,
                   properties::JSON, NULL
            FROM {_EVENTS}
            """
        )
    finally:
        _unregister(con, _EVENTS)
    return len(events)


def merged_profiles(records: list[ProfileRecord]) -> dict[str, dict[str, Any]]:
    """Per customer, the identify calls of a batch merged in time order: a later value of a
    trait or attribute wins; ``ts`` is the latest call's time."""
    out: dict[str, dict[str, Any]] = {}
    for r in sorted(records, key=lambda r: r.ts):
        row = out.setdefault(r.customer_id, {"traits": {}, "attributes": {}, "consent": {}})
        row["traits"].update(r.traits)
        row["attributes"].update(r.attributes)
        for channel, granted in r.consent.items():
            row["consent"][channel] = (granted, r.ts)
        row["ts"] = r.ts
    return out


def _merge_profiles(con: duckdb.DuckDBPyConnection, records: list[ProfileRecord]) -> int:
    merged = merged_profiles(records)
    ids = list(merged)
    table = pa.table(
        {
            "customer_id": ids,
            "email": [merged[c]["traits"].get("email") for c in ids],
            "phone": [merged[c]["traits"].get("phone") for c in ids],
            "signup_at": pa.array(
                [merged[c]["traits"].get("signup_at") for c in ids], pa.int64()
            ).cast(pa.timestamp("us")),
            "timezone": [merged[c]["traits"].get("timezone") for c in ids],
            "attributes": [
                orjson.dumps(merged[c]["attributes"]).decode() if merged[c]["attributes"] else None
                for c in ids
            ],
            "ts": pa.array([merged[c]["ts"] for c in ids], pa.int64()).cast(pa.timestamp("us")),
        }
    )
    con.register(_PROFILES, table)
    try:
        _upsert(con)
        _consents(con, merged)
    finally:
        _unregister(con, _PROFILES)
    return len(ids)


def _upsert(con: duckdb.DuckDBPyConnection) -> None:
    """A newer identify overrides the traits it names; an older one fills only gaps."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _clm_api_merged AS
        SELECT n.customer_id,
               CASE WHEN p.updated_at IS NULL OR n.ts >= p.updated_at
                    THEN coalesce(n.email, p.email) ELSE coalesce(p.email, n.email) END AS email,
               CASE WHEN p.updated_at IS NULL OR n.ts >= p.updated_at
                    THEN coalesce(n.phone, p.phone) ELSE coalesce(p.phone, n.phone) END AS phone,
               CASE WHEN p.updated_at IS NULL OR n.ts >= p.updated_at
                    THEN coalesce(n.signup_at, p.signup_at)
                    ELSE coalesce(p.signup_at, n.signup_at) END AS signup_at,
               CASE WHEN p.updated_at IS NULL OR n.ts >= p.updated_at
                    THEN coalesce(n.timezone, p.timezone)
                    ELSE coalesce(p.timezone, n.timezone) END AS timezone,
               CASE WHEN p.attributes IS NULL THEN n.attributes::JSON
                    WHEN n.attributes IS NULL THEN p.attributes
                    WHEN n.ts >= p.updated_at THEN json_merge_patch(p.attributes, n.attributes)
                    ELSE json_merge_patch(n.attributes, p.attributes) END AS attributes,
               p.import_id,
               greatest(n.ts, p.updated_at) AS updated_at
        FROM {_PROFILES} n LEFT JOIN profiles p USING (customer_id)
        """
    )
    con.execute(
        "DELETE FROM profiles WHERE customer_id IN (SELECT customer_id FROM _clm_api_merged)"
    )
    con.execute(
        "INSERT INTO profiles SELECT customer_id, email, phone, signup_at, timezone, attributes, "
        "import_id, updated_at FROM _clm_api_merged"
    )
    con.execute("DROP TABLE _clm_api_merged")


def _consents(con: duckdb.DuckDBPyConnection, merged: dict[str, dict[str, Any]]) -> None:
    """A consent record per channel where the state differs from the latest known one."""
    rows = [
        (customer, channel, granted, ts)
        for customer, row in merged.items()
        for channel, (granted, ts) in row["consent"].items()
        if channel in CONSENT_CHANNELS
    ]
    if not rows:
        return
    customers, channels, granted, times = (list(col) for col in zip(*rows, strict=True))
    table = pa.table(
        {
            "customer_id": customers,
            "channel": channels,
            "granted": granted,
            "ts": pa.array(times, pa.int64()).cast(pa.timestamp("us")),
        }
    )
    con.register(_CONSENTS, table)
    try:
        con.execute(
            f"""
            INSERT INTO consents
            SELECT n.customer_id, n.channel, n.granted, n.ts, '{API_SOURCE}'
            FROM {_CONSENTS} n LEFT JOIN (
                SELECT DISTINCT ON (customer_id, channel) customer_id, channel, granted, ts
                FROM consents ORDER BY customer_id, channel, ts DESC
            ) k USING (customer_id, channel)
            WHERE k.granted IS DISTINCT FROM n.granted AND (k.ts IS NULL OR n.ts >= k.ts)
            """
        )
    finally:
        _unregister(con, _CONSENTS)


def _link(con: duckdb.DuckDBPyConnection, links: list[LinkRecord]) -> int:
    """Identity links, resolved by the rule of :func:`clm.ingest.identity.resolve`."""
    table = pa.table(
        {
            "anonymous_id": [r.anonymous_id for r in links],
            "customer_id": [r.customer_id for r in links],
            "linked_at": pa.array([r.ts for r in links], pa.int64()).cast(pa.timestamp("us")),
        }
    )
    con.register(_LINKS, table)
    try:
        return identity.link(con, f"SELECT anonymous_id, customer_id, linked_at FROM {_LINKS}")
    finally:
        _unregister(con, _LINKS)
