"""Importing events and transactions (purchase lines): all or nothing, idempotent.

The steps: stage the source; map and parse every field, recording a reason for
each bad row; stop with the first bad lines (or write them to the quarantine
file); then, in one transaction, insert the events whose ids are new and record
the import. Event ids come from a column, or from the row's content and its
occurrence number among identical rows, so importing a file twice adds nothing
while two genuinely identical lines in one file are both kept.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from clm.errors import ImportFailed
from clm.ingest import expressions, fields, identity, rowfilter
from clm.ingest.expressions import quote
from clm.ingest.mapping import EventMapping, SourceOptions, pick
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

PURCHASE = "purchase"


def import_events(
    con: duckdb.DuckDBPyConnection,
    source: Any,
    mapping: EventMapping,
    options: SourceOptions,
    *,
    kind: str = "events",
    progress: Progress | None = None,
    max_errors: int = 10,
    default_timezone: str = "UTC",
) -> ImportSummary:
    """Import events from ``source``; see the module docstring for the guarantees."""
    started = datetime.now(UTC).replace(tzinfo=None)
    csv = CsvOptions(options.delimiter, options.header, options.columns, options.encoding)
    staged = stage(con, source, csv)
    try:
        select = _parsed_select(con, staged, mapping, options, kind)
        with fields.session_timezone(con, options.timezone or default_timezone):
            run_tracked(
                con,
                f"CREATE OR REPLACE TEMP TABLE {PARSED} AS {select}",
                progress=progress,
                description=f"{kind}: reading, checking",
            )
        n_bad = count_bad(con)
        if n_bad and options.quarantine is None:
            raise reject(con, staged, n_bad, max_errors)
        if n_bad and options.quarantine is not None:
            write_quarantine(con, staged, Path(options.quarantine))
        n_kept = int(con.execute(f"SELECT count(*) FROM {PARSED}").fetchall()[0][0])
        with transaction(con):
            import_id = next_import_id(con)
            derived = pick(mapping.event_id, "event_id", staged.columns) is None
            inserted = _insert_new(con, import_id, progress, derived_ids=derived)
            linked = _link_identities(con)
            summary = ImportSummary(
                import_id=import_id,
                kind=kind,
                source=staged.label,
                rows_read=staged.n_rows,
                filtered=staged.n_rows - n_kept,
                imported=inserted,
                duplicates=n_kept - n_bad - inserted,
                quarantined=n_bad,
                linked=linked,
            )
            record(con, summary, started)
        return summary
    finally:
        con.execute(f"DROP TABLE IF EXISTS {PARSED}")
        drop(con)


def _parsed_select(
    con: duckdb.DuckDBPyConnection, staged: Staged, m: EventMapping, o: SourceOptions, kind: str
) -> str:
    """SELECT producing one row per kept source row: typed fields and ``_reason``."""
    cols = staged.columns
    customer = pick(m.customer, "customer", cols)
    anonymous = pick(m.anonymous, "anonymous", cols)
    time_col = pick(m.time, "time", cols)
    type_col = None if m.type is not None else pick(m.type_column, "type_column", cols)
    amount_text = m.amount or pick(None, "amount", cols)
    for column, option in [
        (customer, "--customer"),
        (anonymous, "--anonymous"),
        (time_col, "--time"),
        (type_col, "--type-column"),
        (pick(m.category, "category", cols), "--category"),
        (pick(m.order, "order", cols), "--order"),
        (pick(m.event_id, "event_id", cols), "--event-id"),
        *((p, "--properties") for p in m.properties),
    ]:
        if column is not None:
            staged.require(column, option)
    if time_col is None:
        raise ImportFailed(f"{staged.label}: which column holds the time? Give --time COL")
    if customer is None and anonymous is None:
        raise ImportFailed(
            f"{staged.label}: which column holds the customer id? Give --customer COL"
        )
    if m.type is None and type_col is None:
        raise ImportFailed(f"{staged.label}: give the event type: --type TYPE or --type-column COL")
    if kind == "transactions" and amount_text is None:
        raise ImportFailed(f"{staged.label}: which column holds the amount? Give --amount EXPR")

    who_missing = "customer id" if anonymous is None else "customer or anonymous id"
    f_customer = fields.text(customer) if customer else fields.constant(None)
    f_anonymous = fields.text(anonymous) if anonymous else fields.constant(None)
    identity_reason = (
        f"CASE WHEN {f_customer.sql} IS NULL AND {f_anonymous.sql} IS NULL THEN "
        f"{fields.literal(f'field {customer or anonymous}: missing {who_missing}')} END"
    )
    f_time = fields.timestamp(time_col, cols[time_col], m.time_format, required=True)
    f_type = (
        fields.constant(m.type)
        if m.type
        else fields.text(type_col or "", required=True, what="event type")
    )
    f_amount = (
        fields.amount(expressions.parse(amount_text, "--amount", cols), "--amount")
        if amount_text
        else fields.Field(f"NULL::{fields.AMOUNT_TYPE}")
    )
    category = pick(m.category, "category", cols)
    order = pick(m.order, "order", cols)
    given_id = pick(m.event_id, "event_id", cols)
    f_category = fields.text(category) if category else fields.constant(None)
    f_order = fields.text(order) if order else fields.constant(None)
    f_id = (
        fields.text(given_id, required=True, what="event id")
        if given_id
        else fields.Field("_derived_id")
    )
    properties = (
        "json_object(" + ", ".join(f"{fields.literal(p)}, {quote(p)}" for p in m.properties) + ")"
        if m.properties
        else "NULL::JSON"
    )
    checks = [f_time, f_type, f_amount, f_id, fields.Field("", identity_reason)]
    where = rowfilter.where_sql(con, staged, o.where)
    return f"""
        SELECT _line,
               {f_id.sql} AS event_id,
               {f_customer.sql} AS customer_id,
               {f_anonymous.sql} AS anonymous_id,
               {f_type.sql} AS type,
               {f_time.sql} AS ts,
               {f_category.sql} AS category,
               {f_amount.sql} AS amount,
               {f_order.sql} AS order_id,
               {properties} AS properties,
               {fields.reasons(checks)} AS _reason
        FROM ({_with_derived_ids(staged, kind)}) AS src
        WHERE {where}
    """


def _with_derived_ids(staged: Staged, kind: str) -> str:
    """The staged rows with ``_derived_id``: a hash of the row's content plus its
    occurrence number among identical rows (so identical lines stay distinct)."""
    content = ", ".join(f"coalesce(CAST({quote(c)} AS VARCHAR), chr(0))" for c in staged.columns)
    digest = f"md5(concat_ws(chr(31), {fields.literal(kind)}, {content}))"
    return f"""
        SELECT *, _h || CASE WHEN _k > 1 THEN '-' || _k ELSE '' END AS _derived_id
        FROM (SELECT *, row_number() OVER (PARTITION BY _h ORDER BY _line) AS _k
              FROM (SELECT *, {digest} AS _h FROM {STAGE}))
    """


def _insert_new(
    con: duckdb.DuckDBPyConnection,
    import_id: int,
    progress: Progress | None,
    *,
    derived_ids: bool,
) -> int:
    """Insert the valid rows whose event id is new; return how many.

    Repeated ids within the file keep their first line; the window that picks it
    is skipped when no id repeats: derived ids never do (content hash + occurrence
    number), given ids are counted first.
    """
    before = int(con.execute("SELECT count(*) FROM events").fetchall()[0][0])
    repeated = (
        0
        if derived_ids
        else con.execute(
            f"SELECT count(*) - count(DISTINCT event_id) FROM {PARSED} WHERE _reason IS NULL"
        ).fetchall()[0][0]
    )
    first_only = (
        "QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _line) = 1" if repeated else ""
    )
    run_tracked(
        con,
        f"""
        INSERT INTO events
        SELECT event_id, customer_id, anonymous_id, type, ts, category, amount, order_id,
               properties, ? AS import_id
        FROM {PARSED} p
        WHERE _reason IS NULL
          AND NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = p.event_id)
        {first_only}
        """,
        [import_id],
        progress=progress,
        description="writing new events",
    )
    after = int(con.execute("SELECT count(*) FROM events").fetchall()[0][0])
    return after - before


def _link_identities(con: duckdb.DuckDBPyConnection) -> int:
    """Rows that carry both ids link the anonymous id to the customer (SPEC §1)."""
    return identity.link(
        con,
        f"SELECT anonymous_id, customer_id, min(ts) AS linked_at FROM {PARSED} "
        "WHERE _reason IS NULL AND anonymous_id IS NOT NULL AND customer_id IS NOT NULL "
        "GROUP BY ALL",
    )
