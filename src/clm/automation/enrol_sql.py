"""The SQL pieces of the set-based enrolment decision (:mod:`clm.automation.enrol`): each
builds the expression of one rule of SPEC §6 over the working tables' columns (re-entry,
contactability, the arms' assignment numbers, the first send step's variant), so the
decision's statements read as the rules they apply. Each is checked against the Python
rule it mirrors (``tests/automation/test_enrol.py``, ``test_guards.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from clm.automation.definitions import Automation
from clm.automation.guards import ADDRESS, CONSENT_CHANNELS

SCALE = "18446744073709551616.0"  # 2**64: assignment.unit's scale


def quote(text: str) -> str:
    """Text for the inside of a SQL string literal (each ``'`` doubled)."""
    return text.replace("'", "''")


def unit_sql(key: str, customer: str = "customer_id") -> str:
    """:func:`clm.experiments.assignment.unit` in SQL: the first 8 bytes of
    SHA-256(``key|customer``) as an unsigned integer over 2**64."""
    digest = f"sha256('{quote(key)}|' || {customer})"
    return f"(('0x' || substr({digest}, 1, 16))::UBIGINT::DOUBLE / {SCALE})"


def reentry_sql(policy: str | timedelta) -> str:
    """Why re-entry stops an occurrence ``t`` of a customer whose last enrolment is
    ``p.last`` (``p.open``: still on its steps), NULL when it does not."""
    day = "strftime(p.last, '%Y-%m-%d')"
    if policy == "never":
        return (
            f"CASE WHEN p.last IS NOT NULL THEN 'already enrolled on ' || {day} || ' (never)' END"
        )
    cases = "WHEN p.last IS NULL THEN NULL WHEN p.open THEN 'still enrolled' "
    if isinstance(policy, timedelta):
        wait = policy // timedelta(microseconds=1)
        cases += (
            f"WHEN t.ts < p.last + to_microseconds({wait}::BIGINT) THEN 'last enrolled ' || "
            f"{day} || ', again after {policy.days} days' "
        )
    return f"CASE {cases}END"


def contact_fields(channels: frozenset[str]) -> list[str]:
    """The facts contactability reads: each channel's consent and address."""
    out: list[str] = []
    for channel in sorted(channels):
        if channel in CONSENT_CHANNELS:
            out.append(f"consent.{channel}")
        if channel in ADDRESS:
            out.append(ADDRESS[channel])
    return list(dict.fromkeys(out))


def contact_sql(channels: frozenset[str], column: Mapping[str, str]) -> str:
    """Whether a row can be reached on one of ``channels`` (a granted consent where the
    channel needs one, a non-empty address where it needs one); ``column`` names each
    fact's column."""
    if not channels:
        return "TRUE"
    ways = []
    for channel in sorted(channels):
        parts = ["TRUE"]
        if channel in CONSENT_CHANNELS:
            parts.append(f"{column[f'consent.{channel}']} IS TRUE")
        if channel in ADDRESS:
            address = column[ADDRESS[channel]]
            parts.append(f"({address} IS NOT NULL AND {address} <> '')")
        ways.append("(" + " AND ".join(parts) + ")")
    return "(" + " OR ".join(ways) + ")"


def variant_sql(automation: Automation) -> str:
    """The variant of the first send step with variants
    (:func:`clm.experiments.assignment.variant` by weight), NULL without one."""
    for step in automation.spec["steps"]:
        if step["type"] == "send" and step.get("variants"):
            weights = [(str(v["name"]), float(v.get("weight", 1.0))) for v in step["variants"]]
            key = f"{automation.experiment_key}|{step['id']}"
            point = f"{unit_sql(key)} * {double(sum(w for _, w in weights))}"
            cumulative, cases = 0.0, []
            for name, weight in weights:
                cumulative += weight
                cases.append(f"WHEN {point} < {double(cumulative)} THEN '{quote(name)}'")
            return f"CASE {' '.join(cases)} ELSE '{quote(weights[-1][0])}' END"
    return "NULL::VARCHAR"


def double(x: float) -> str:
    """A float as a SQL DOUBLE, exactly (the shortest text that reads back as it)."""
    return f"'{x!r}'::DOUBLE"
