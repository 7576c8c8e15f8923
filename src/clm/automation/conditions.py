"""Conditions on a profile (audience filters and branches), evaluated as pure functions.

A condition is a mapping whose entries must all hold::

    segment: {in: [At Risk Customers, Cannot-lose Customers]}
    affinity.beauty: {above: 150}
    attributes.card_usage: rarely        # a bare value means "equals"
    any: [{r_score: {at_least: 4}}, {not: {consent.email: true}}]

Fields are the profile facts of :mod:`clm.automation.facts`; ``FIELD.SUFFIX`` names a
category (``activity.beauty``), an attribute (``attributes.age``) or a channel
(``consent.sms``). A missing value satisfies only ``exists: false`` and ``not_equals``/
``not_in``. Values that read as numbers compare as numbers (attributes are stored as text).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Facts = Mapping[str, Any]

#: The profile facts (:mod:`clm.automation.facts` reads them in these groups).
SCORE_FIELDS = (
    "segment",
    "phase",
    "previous_segment",
    "segment_since",
    "recency_days",
    "frequency",
    "monetary",
    "n_orders_life",
    "r_score",
    "f_score",
    "m_score",
)
CLV_FIELDS = ("p_alive", "clv", "churn_risk", "expected_purchases", "expected_spend")
ACTIVITY_FIELDS = (
    "activity",
    "trend",
    "affinity",
    "rising",
    "s_short",
    "s_long",
    "v_short",
    "v_long",
)
SCOPED_FIELDS = frozenset(ACTIVITY_FIELDS)
PLAIN_FIELDS = frozenset(
    {
        "customer_id",
        "email",
        "phone",
        "timezone",
        "signup_at",
        "days_since_signup",
        "days_in_segment",
        "top_category",
        "next_best_category",
        *SCORE_FIELDS,
        *CLV_FIELDS,
        *ACTIVITY_FIELDS,
    }
)
PREFIXES = SCOPED_FIELDS | {"attributes", "consent"}
LOGICAL = ("all", "any", "not")


def unknown_fields(condition: Mapping[str, Any]) -> list[str]:
    """The field names in ``condition`` that no profile fact answers."""
    bad: list[str] = []
    for key, value in condition.items():
        if key in ("all", "any"):
            for sub in value:
                bad += unknown_fields(sub)
        elif key == "not":
            bad += unknown_fields(value)
        elif not known_field(key):
            bad.append(key)
    return bad


def known_field(name: str) -> bool:
    head, _, tail = name.partition(".")
    return name in PLAIN_FIELDS if not tail else head in PREFIXES


def holds(condition: Mapping[str, Any], facts: Facts) -> bool:
    """Whether every entry of ``condition`` holds for ``facts``."""
    return failure(condition, facts) is None


def failure(condition: Mapping[str, Any], facts: Facts) -> str | None:
    """None when the condition holds, else the first failing entry in plain words."""
    for key, value in condition.items():
        if key == "all":
            for sub in value:
                reason = failure(sub, facts)
                if reason is not None:
                    return reason
        elif key == "any":
            if all(failure(sub, facts) is not None for sub in value):
                return "none of " + "; ".join(describe(sub) for sub in value)
        elif key == "not":
            if failure(value, facts) is None:
                return f"not ({describe(value)}) failed"
        elif not predicate_holds(value, facts.get(key)):
            return f"{key} is {facts.get(key)!r}, needs {describe_predicate(value)}"
    return None


def predicate_holds(predicate: Any, value: Any) -> bool:
    """Whether ``value`` satisfies one predicate (a bare value means equals)."""
    if not isinstance(predicate, Mapping):
        return _equal(value, predicate)
    return all(_op(op, arg, value) for op, arg in predicate.items())


def _op(op: str, arg: Any, value: Any) -> bool:
    if op == "exists":
        return (value is not None) == bool(arg)
    if op == "equals":
        return _equal(value, arg)
    if op == "not_equals":
        return not _equal(value, arg)
    if op == "in":
        return any(_equal(value, a) for a in arg)
    if op == "not_in":
        return not any(_equal(value, a) for a in arg)
    number = _number(value)
    if number is None:
        return False
    limit = float(arg)
    return {
        "above": number > limit,
        "at_least": number >= limit,
        "below": number < limit,
        "at_most": number <= limit,
    }[op]


def _equal(value: Any, expected: Any) -> bool:
    if value is None or expected is None:
        return value is None and expected is None
    if isinstance(expected, bool) or isinstance(value, bool):
        return str(value).lower() == str(expected).lower()
    a, b = _number(value), _number(expected)
    if a is not None and b is not None:
        return a == b
    return str(value) == str(expected)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


#: The words of the comparison operators, as ``describe`` writes them.
OPERATORS = {
    "equals": "=",
    "not_equals": "≠",
    "in": "in",
    "not_in": "not in",
    "above": ">",
    "at_least": "≥",
    "below": "<",
    "at_most": "≤",
}


def describe(condition: Mapping[str, Any], value: Callable[[Any], str] = repr) -> str:
    """A condition in plain words, each operand written by ``value`` (``clm why`` keeps
    Python's ``repr``; the dashboard's flows write plain values)."""
    parts = []
    for key, operand in condition.items():
        if key in ("all", "any"):
            joiner = " and " if key == "all" else " or "
            parts.append("(" + joiner.join(describe(sub, value) for sub in operand) + ")")
        elif key == "not":
            parts.append(f"not ({describe(operand, value)})")
        else:
            parts.append(f"{key} {describe_predicate(operand, value)}")
    return " and ".join(parts)


def describe_predicate(predicate: Any, value: Callable[[Any], str] = repr) -> str:
    """One field's predicate in plain words (``= 3``, ``≥ 60 and < 90``, ``missing``)."""
    if not isinstance(predicate, Mapping):
        return f"= {value(predicate)}"
    return " and ".join(
        ("present" if arg else "missing") if op == "exists" else f"{OPERATORS[op]} {value(arg)}"
        for op, arg in predicate.items()
    )
