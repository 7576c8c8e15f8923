"""The deterministic ids of enrolments, messages and decisions, each in its two forms: a
Python function and the SQL expression (DuckDB) that computes the same text over columns.

Every id is the first 32 hex digits of the SHA-256 of a ``|``-joined key (UTF-8):

- enrolment: ``automation|customer_id|occurrence`` (not the version: a new version does
  not enrol the same occurrence again);
- message (the outbox contract): ``automation|enrolment_id|step_id``;
- decision: ``automation|customer_id|enrolment_id or scope|step_id or ''|kind|ts`` with
  ``ts`` in :meth:`datetime.isoformat` form (``YYYY-MM-DDTHH:MM:SS``, then ``.ffffff``
  only when the microseconds are not zero).

The set-based paths (:mod:`clm.automation.enrol`, :func:`clm.automation.decisions.record`)
compute ids in SQL, the per-object paths in Python; ``tests/automation/test_ids.py``
checks each pair on generated keys (unicode text, times with and without microseconds).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

LENGTH = 32  # hex digits kept


def digest(key: str) -> str:
    """The id of a key: the first 32 hex digits of its SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()[:LENGTH]


def digest_sql(key: str) -> str:
    """:func:`digest` of the SQL text expression ``key``."""
    return f"substr(sha256({key}), 1, {LENGTH})"


def iso_sql(ts: str) -> str:
    """:meth:`datetime.isoformat` of the SQL TIMESTAMP expression ``ts`` (naive, years
    1000-9999): the microseconds only when they are not zero."""
    return (
        f"(strftime({ts}, '%Y-%m-%dT%H:%M:%S') || "
        f"CASE WHEN strftime({ts}, '%f') = '000000' THEN '' ELSE strftime({ts}, '.%f') END)"
    )


def _join(*parts: str) -> str:
    return " || '|' || ".join(parts)


# -- enrolments --------------------------------------------------------------------------------


def enrolment_id(automation: str, customer_id: str, occurrence: str) -> str:
    """The enrolment of ``customer_id`` in ``automation`` for one trigger occurrence."""
    return digest(f"{automation}|{customer_id}|{occurrence}")


def enrolment_id_sql(automation: str, customer_id: str, occurrence: str) -> str:
    """:func:`enrolment_id` over SQL text expressions (none NULL)."""
    return digest_sql(_join(automation, customer_id, occurrence))


# -- messages ----------------------------------------------------------------------------------


def message_id(automation: str, enrolment: str, step_id: str) -> str:
    """The contract's message id: one message per (automation, enrolment, step)."""
    return digest(f"{automation}|{enrolment}|{step_id}")


def message_id_sql(automation: str, enrolment: str, step_id: str) -> str:
    """:func:`message_id` over SQL text expressions (none NULL)."""
    return digest_sql(_join(automation, enrolment, step_id))


# -- decisions ---------------------------------------------------------------------------------


def decision_id(
    automation: str,
    customer_id: str,
    enrolment_id: str | None,
    scope: str,
    step_id: str | None,
    kind: str,
    ts: datetime,
) -> str:
    """A decision's id: what was decided about whom, in which enrolment (or, before one,
    which occurrence: ``scope``), at which step and when (naive UTC, as the engine keeps
    every time; an aware ``ts`` is taken in UTC, as DuckDB stores it)."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return digest(
        f"{automation}|{customer_id}|{enrolment_id or scope}|{step_id or ''}|{kind}|"
        f"{ts.isoformat()}"
    )


def decision_id_sql(
    automation: str,
    customer_id: str,
    enrolment_id: str,
    scope: str,
    step_id: str,
    kind: str,
    ts: str,
) -> str:
    """:func:`decision_id` over SQL expressions: ``enrolment_id`` and ``step_id`` may be
    NULL (or empty: Python's ``or``), the others not; ``ts`` is a TIMESTAMP."""
    return digest_sql(
        _join(
            automation,
            customer_id,
            f"coalesce(nullif({enrolment_id}, ''), {scope})",
            f"coalesce({step_id}, '')",
            kind,
            iso_sql(ts),
        )
    )
