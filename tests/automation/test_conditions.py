"""Conditions on profile facts: predicates, all/any/not, reasons in words."""

from __future__ import annotations

from clm.automation.conditions import failure, holds, unknown_fields

FACTS = {
    "segment": "At Risk Customers",
    "monetary": 250.0,
    "r_score": 2,
    "attributes.age": "38",  # attributes are stored as text
    "attributes.card_usage": "rarely",
    "consent.email": True,
    "affinity.beauty": 180.0,
    "p_alive": None,
}


def test_predicates() -> None:
    assert holds({"segment": "At Risk Customers"}, FACTS)
    assert holds({"segment": {"in": ["At Risk Customers", "Cannot-lose Customers"]}}, FACTS)
    assert holds({"monetary": {"above": 200, "at_most": 250}}, FACTS)
    assert not holds({"monetary": {"above": 250}}, FACTS)
    assert holds({"attributes.age": {"at_least": 38}}, FACTS)  # text read as a number
    assert holds({"attributes.age": 38}, FACTS)
    assert holds({"consent.email": True}, FACTS)
    assert holds({"p_alive": {"exists": False}}, FACTS)
    assert not holds({"p_alive": {"below": 0.5}}, FACTS)  # missing satisfies no comparison
    assert holds({"clv": {"not_equals": 3}}, FACTS)  # missing differs from anything
    assert holds({"attributes.card_usage": {"not_in": ["often", "daily"]}}, FACTS)


def test_all_any_not_and_reasons() -> None:
    condition = {
        "all": [{"r_score": {"at_most": 2}}, {"any": [{"affinity.beauty": {"above": 150}}]}],
        "not": {"segment": "Champions"},
    }
    assert holds(condition, FACTS)
    reason = failure({"r_score": {"at_least": 3}}, FACTS)
    assert reason == "r_score is 2, needs ≥ 3"
    assert failure({"any": [{"r_score": 5}, {"segment": "Champions"}]}, FACTS) == (
        "none of r_score = 5; segment = 'Champions'"
    )


def test_unknown_fields_are_found_at_any_depth() -> None:
    condition = {"all": [{"segmnt": "x"}, {"not": {"activity.beauty": 1}}], "foo.bar": 1}
    assert unknown_fields(condition) == ["segmnt", "foo.bar"]
