"""An audience filter as SQL: the customers a schedule trigger may enrol, found in one query.

A schedule trigger fires for every known customer; building an occurrence, the facts
and a decision in Python for each of them only to drop most at the audience filter
costs O(profiles) per tick. :func:`schedule_candidates` asks DuckDB for the customers
whose facts can satisfy the audience instead, and the engine decides (re-entry, the
exact audience of :mod:`clm.automation.conditions`, contactability, the arm) for those
only.

The SQL is a *superset* filter: every entry it translates is exact for the customers
it keeps (a customer it drops fails that entry in :func:`conditions.failure` too), and
an entry it cannot translate exactly (``any``, ``not``, numbers, ``exists``, fields of
the activity family, ...) keeps everyone. So the enrolments and the logged decisions
are those of the per-customer path; what changes is that the customers outside the
audience are not occurrences at all (their ``audience`` and ``re_entry`` skips were
never logged for schedule triggers; the run's statistics no longer count them).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import duckdb

#: Text facts and the SQL column each is read from (in the query of :func:`schedule_candidates`).
TEXT_FIELDS = {
    "timezone": "p.timezone",
    "email": "p.email",
    "phone": "p.phone",
    "segment": "s.segment",
    "phase": "s.phase",
    "previous_segment": "s.previous_segment",
}
CONSENT_CHANNELS = ("email", "sms", "push")


def condition_sql(condition: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """A SQL predicate (and its parameters) that every customer satisfying ``condition``
    satisfies; ``TRUE`` for what it cannot translate."""
    parts: list[str] = []
    params: list[Any] = []
    for key, value in condition.items():
        if key == "all":
            for sub in value:
                sql, more = condition_sql(sub)
                parts.append(sql)
                params += more
            continue
        sql_params = _entry(str(key), value)
        if sql_params is not None:
            parts.append(sql_params[0])
            params += sql_params[1]
    return (" AND ".join(f"({p})" for p in parts) or "TRUE"), params


def _texts(predicate: Any) -> list[str] | None:
    """The strings an equality or membership predicate accepts, when they compare as text
    in :func:`conditions._equal` (not numbers, not booleans); else None."""
    if isinstance(predicate, Mapping):
        if set(predicate) == {"in"} and isinstance(predicate["in"], list):
            wanted = predicate["in"]
        elif set(predicate) == {"equals"}:
            wanted = [predicate["equals"]]
        else:
            return None
    else:
        wanted = [predicate]
    if not wanted or not all(isinstance(w, str) and not _numeric(w) for w in wanted):
        return None
    return list(wanted)


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _entry(key: str, predicate: Any) -> tuple[str, list[Any]] | None:
    head, _, tail = key.partition(".")
    if head == "consent" and tail in CONSENT_CHANNELS and isinstance(predicate, bool):
        # facts: the latest record's ``granted`` (a bool), None without one
        sql = (
            "(SELECT coalesce(c.granted, false) FROM latest_consent c "
            "WHERE c.customer_id = k.customer_id AND c.channel = ?) IS NOT DISTINCT FROM ?"
        )
        return sql, [tail, predicate]
    texts = _texts(predicate)
    if texts is None:
        return None
    marks = ", ".join("?" for _ in texts)
    if key in TEXT_FIELDS:
        return f"{TEXT_FIELDS[key]} IN ({marks})", texts
    if head == "attributes" and tail:
        # a scalar JSON value reads as its text in both, a boolean ignoring case (as
        # conditions._equal compares it); a list or object is left to Python
        path = '$."' + tail.replace('"', '\\"') + '"'
        sql = (
            f"json_extract_string(p.attributes, ?) IN ({marks}) "
            f"OR (json_type(p.attributes, ?) = 'BOOLEAN' "
            f"AND json_extract_string(p.attributes, ?) IN ({marks})) "
            "OR json_type(p.attributes, ?) IN ('ARRAY', 'OBJECT')"
        )
        lowered = [t.lower() for t in texts]
        return sql, [path, *texts, path, path, *lowered, path]
    return None


def schedule_candidates(
    con: duckdb.DuckDBPyConnection,
    audience: Mapping[str, Any] | None,
    run_id: int | None,
    at: datetime,
) -> list[str]:
    """The known customers (profiles and scored ids) that may be in ``audience`` at ``at``,
    with the scores of run ``run_id`` (the latest run known at ``at``), sorted."""
    del at  # the facts the SQL reads do not depend on the time within the run
    if not audience:
        rows = con.execute(
            "SELECT customer_id FROM profiles UNION "
            "SELECT customer_id FROM scores WHERE customer_id IS NOT NULL ORDER BY 1"
        ).fetchall()
        return [str(r[0]) for r in rows]
    where, params = condition_sql(audience)
    rows = con.execute(
        f"""
        WITH known AS (
            SELECT customer_id FROM profiles
            UNION SELECT customer_id FROM scores WHERE customer_id IS NOT NULL
        ), p AS (
            SELECT customer_id, email, phone, timezone, attributes FROM profiles
            QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY updated_at DESC) = 1
        ), s AS (
            SELECT customer_id, segment, phase, previous_segment FROM scores
            WHERE run_id = ? AND customer_id IS NOT NULL
        ), latest_consent AS (
            SELECT DISTINCT ON (customer_id, channel) customer_id, channel, granted
            FROM consents ORDER BY customer_id, channel, ts DESC
        )
        SELECT k.customer_id FROM known k
        LEFT JOIN p ON p.customer_id = k.customer_id
        LEFT JOIN s ON s.customer_id = k.customer_id
        WHERE {where}
        ORDER BY 1
        """,
        [run_id, *params],
    ).fetchall()
    return [str(r[0]) for r in rows]
