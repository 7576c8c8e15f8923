"""Importing customers: traits, consent per channel, and anonymous-id links.

A customer row upserts the profile field by field: an empty cell keeps what is
known, a value replaces it, and attribute objects are merged. Consent is a
history: a row records a consent change only when it differs from the latest
known state of that channel. All or nothing, like every import.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from clm.errors import ImportFailed
from clm.ingest import fields, identity, rowfilter
from clm.ingest.expressions import quote
from clm.ingest.mapping import CONSENT_CHANNELS, CustomerMapping, SourceOptions, pick
from clm.ingest.staging import STAGE, CsvOptions, Staged, drop, stage
from clm.ingest.summary import (
    PARSED,
    ImportSummary,
    count_bad,
    next_import_id,
    record,
    reject,
    write_quarantine,
)
from clm.progress import Progress, run_tracked
from clm.store.database import transaction

# Columns of the profiles table that an import writes, besides attributes.
TRAITS = ("email", "phone", "signup_at", "timezone")


def import_customers(
    con: duckdb.DuckDBPyConnection,
    source: Any,
    mapping: CustomerMapping,
    options: SourceOptions,
    *,
    progress: Progress | None = None,
    max_errors: int = 10,
    default_timezone: str = "UTC",
) -> ImportSummary:
    """Import customer profiles from ``source`` (see the module docstring)."""
    started = datetime.now(UTC).replace(tzinfo=None)
    staged = stage(
        con,
        source,
        CsvOptions(options.delimiter, options.header, options.columns, options.encoding),
    )
    try:
        select = _parsed_select(con, staged, mapping, options)
        with fields.session_timezone(con, options.timezone or default_timezone):
            run_tracked(
                con,
                f"CREATE OR REPLACE TEMP TABLE {PARSED} AS {select}",
                progress=progress,
                description="customers: reading, checking",
            )
        n_bad = count_bad(con)
        if n_bad and options.quarantine is None:
            raise reject(con, staged, n_bad, max_errors)
        if n_bad and options.quarantine is not None:
            write_quarantine(con, staged, Path(options.quarantine))
        n_kept = int(con.execute(f"SELECT count(*) FROM {PARSED}").fetchall()[0][0])
        with transaction(con):
            import_id = next_import_id(con)
            changed = _upsert_profiles(con, import_id)
            consents = _record_consents(con, import_id)
            linked = identity.link(
                con,
                f"SELECT anonymous_id, customer_id, NULL::TIMESTAMP AS linked_at FROM {PARSED} "
                "WHERE _reason IS NULL AND anonymous_id IS NOT NULL",
            )
            imported = _count_changed_customers(con, import_id) if consents else changed
            summary = ImportSummary(
                import_id=import_id,
                kind="customers",
                source=staged.label,
                rows_read=staged.n_rows,
                filtered=staged.n_rows - n_kept,
                imported=imported,
                duplicates=n_kept - n_bad - imported,
                quarantined=n_bad,
                linked=linked,
            )
            record(con, summary, started)
        return summary
    finally:
        con.execute(f"DROP TABLE IF EXISTS {PARSED}")
        con.execute("DROP TABLE IF EXISTS _clm_merged")
        drop(con)


def _parsed_select(
    con: duckdb.DuckDBPyConnection, staged: Staged, m: CustomerMapping, o: SourceOptions
) -> str:
    cols = staged.columns
    customer = pick(m.customer, "customer", cols)
    if customer is None:
        raise ImportFailed(
            f"{staged.label}: which column holds the customer id? Give --customer COL"
        )
    chosen = {
        "customer": customer,
        "email": pick(m.email, "email", cols),
        "phone": pick(m.phone, "phone", cols),
        "signup": pick(m.signup, "signup", cols),
        "timezone": pick(m.timezone, "timezone", cols),
        "anonymous": pick(m.anonymous, "anonymous", cols),
        "consent_time": pick(m.consent_time, "consent_time", cols),
    }
    consent = {
        ch: c for ch in CONSENT_CHANNELS for c in cols if c.lower() == f"consent_{ch}"
    } | dict(m.consent)
    for key, column in [*chosen.items(), *((f"consent {k}", v) for k, v in consent.items())]:
        if column is not None:
            staged.require(column, f"--{key.replace(' ', '-').replace('_', '-')}")
    unknown = set(consent) - set(CONSENT_CHANNELS)
    if unknown:
        raise ImportFailed(f"unknown consent channel(s) {sorted(unknown)}; use email, sms, push")

    f_id = fields.text(customer, required=True, what="customer id")
    f_email = fields.email(chosen["email"]) if chosen["email"] else fields.constant(None)
    f_phone = fields.text(chosen["phone"]) if chosen["phone"] else fields.constant(None)
    f_signup = (
        fields.timestamp(chosen["signup"], cols[chosen["signup"]], m.time_format, required=False)
        if chosen["signup"]
        else fields.Field("NULL::TIMESTAMP")
    )
    f_zone = fields.zone(chosen["timezone"]) if chosen["timezone"] else fields.constant(None)
    f_anon = fields.text(chosen["anonymous"]) if chosen["anonymous"] else fields.constant(None)
    f_ctime = (
        fields.timestamp(
            chosen["consent_time"], cols[chosen["consent_time"]], m.time_format, required=False
        )
        if chosen["consent_time"]
        else fields.Field("NULL::TIMESTAMP")
    )
    f_consents = {ch: fields.boolean(col) for ch, col in consent.items()}
    used = {c for c in chosen.values() if c} | set(consent.values())
    attribute_cols = (
        [c for c in cols if c not in used] if m.attributes is None else list(m.attributes)
    )
    for column in attribute_cols:
        staged.require(column, "--attributes")
    attributes = (
        # Merging into {} drops empty cells, so an empty cell never erases a known value.
        "json_merge_patch('{}', json_object("
        + ", ".join(f"{fields.literal(c)}, {quote(c)}" for c in attribute_cols)
        + "))"
        if attribute_cols
        else "NULL::JSON"
    )
    consent_sql = "".join(f", {f.sql} AS consent_{ch}" for ch, f in f_consents.items())
    checks = [f_id, f_email, f_signup, f_zone, f_ctime, *f_consents.values()]
    return f"""
        SELECT _line, {f_id.sql} AS customer_id, {f_email.sql} AS email, {f_phone.sql} AS phone,
               {f_signup.sql} AS signup_at, {f_zone.sql} AS timezone, {f_anon.sql} AS anonymous_id,
               {f_ctime.sql} AS consent_at, {attributes} AS attributes {consent_sql},
               {fields.reasons(checks)} AS _reason
        FROM {STAGE} AS src
        WHERE {rowfilter.where_sql(con, staged, o.where)}
    """


def _upsert_profiles(con: duckdb.DuckDBPyConnection, import_id: int) -> int:
    """Merge the last row per customer into ``profiles``; return how many changed."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _clm_merged AS
        WITH latest AS (
            SELECT DISTINCT ON (customer_id) * FROM {PARSED}
            WHERE _reason IS NULL ORDER BY customer_id, _line DESC
        )
        SELECT n.customer_id,
               coalesce(n.email, p.email) AS email,
               coalesce(n.phone, p.phone) AS phone,
               coalesce(n.signup_at, p.signup_at) AS signup_at,
               coalesce(n.timezone, p.timezone) AS timezone,
               CASE WHEN p.attributes IS NULL THEN n.attributes
                    WHEN n.attributes IS NULL THEN p.attributes
                    ELSE json_merge_patch(p.attributes, n.attributes) END AS attributes,
               p.customer_id IS NULL AS is_new,
               (p.customer_id IS NULL
                OR coalesce(n.email, p.email) IS DISTINCT FROM p.email
                OR coalesce(n.phone, p.phone) IS DISTINCT FROM p.phone
                OR coalesce(n.signup_at, p.signup_at) IS DISTINCT FROM p.signup_at
                OR coalesce(n.timezone, p.timezone) IS DISTINCT FROM p.timezone
                OR (n.attributes IS NOT NULL AND (p.attributes IS NULL
                    OR json_merge_patch(p.attributes, n.attributes)::VARCHAR
                       <> p.attributes::VARCHAR))) AS changed
        FROM latest n LEFT JOIN profiles p USING (customer_id)
        """
    )
    n_changed = int(con.execute("SELECT count(*) FROM _clm_merged WHERE changed").fetchall()[0][0])
    con.execute(
        "DELETE FROM profiles WHERE customer_id IN "
        "(SELECT customer_id FROM _clm_merged WHERE changed AND NOT is_new)"
    )
    con.execute(
        f"""
        INSERT INTO profiles
        SELECT customer_id, email, phone, signup_at, timezone, attributes, {import_id},
               now()::timestamp
        FROM _clm_merged WHERE changed
        """
    )
    return n_changed


def _count_changed_customers(con: duckdb.DuckDBPyConnection, import_id: int) -> int:
    """Customers whose profile or consent this import changed."""
    return int(
        con.execute(
            "SELECT count(*) FROM (SELECT customer_id FROM _clm_merged WHERE changed "
            "UNION SELECT customer_id FROM consents WHERE source = ?)",
            [f"import {import_id}"],
        ).fetchall()[0][0]
    )


def _record_consents(con: duckdb.DuckDBPyConnection, import_id: int) -> int:
    """Add a consent record per channel where the state differs from the latest one."""
    described = {r[0] for r in con.execute(f"DESCRIBE {PARSED}").fetchall()}
    added = 0
    for channel in CONSENT_CHANNELS:
        column = f"consent_{channel}"
        if column not in described:
            continue
        before = int(con.execute("SELECT count(*) FROM consents").fetchall()[0][0])
        con.execute(
            f"""
            INSERT INTO consents
            WITH latest AS (
                SELECT DISTINCT ON (customer_id) customer_id, {column} AS granted,
                       coalesce(consent_at, now()::timestamp) AS ts
                FROM {PARSED} WHERE _reason IS NULL AND {column} IS NOT NULL
                ORDER BY customer_id, _line DESC
            ), known AS (
                SELECT DISTINCT ON (customer_id) customer_id, granted FROM consents
                WHERE channel = ? ORDER BY customer_id, ts DESC
            )
            SELECT l.customer_id, ?, l.granted, l.ts, ?
            FROM latest l LEFT JOIN known k USING (customer_id)
            WHERE k.granted IS DISTINCT FROM l.granted
            """,
            [channel, channel, f"import {import_id}"],
        )
        added += int(con.execute("SELECT count(*) FROM consents").fetchall()[0][0]) - before
    return added
