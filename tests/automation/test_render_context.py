"""A template's context made from the names it reads against the whole context.

:func:`render_context.context` with ``names`` (what :func:`templates.variables` finds in a
template) must hold exactly the whole context's entries of those names, and a template
must render the same against both: property tests over random facts (every key shape
the facts hold: plain fields, attributes, consents, scores per scope, odd prefixes) and
random templates built from the context's names, unknown names, loops and filters.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clm.automation import render_context, templates
from clm.automation.definitions import Automation
from clm.errors import TemplateError

KEYS = [
    "customer_id",
    "email",
    "segment",
    "top_category",
    "next_best_category",
    "signup_at",
    "days_since_signup",
    "name",
    "offer",
    "variant",
    "attributes.first_name",
    "attributes.name",
    "attributes.card_usage",
    "attrs.odd",
    "consent.email",
    "activity.beauty",
    "v_long.home",
    "r_score",
]
NAMES = [k for k in KEYS if "." not in k] + [
    "first_name",
    "attributes",
    "scores",
    "automation",
    "message_id",
    "timezone",
    "unknown_name",
    "range",
]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(alphabet="abcé <&>", max_size=6),
    st.dates(date(2020, 1, 1), date(2027, 1, 1)),
    st.datetimes(datetime(2020, 1, 1), datetime(2027, 1, 1)),
)
FACTS = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=len(KEYS))


def _automation(offer: str | None) -> Automation:
    spec: dict[str, Any] = {
        "name": "ctx",
        "trigger": {"event": {"type": "x"}},
        "steps": [{"id": "s", "type": "send", "channel": "email", "template": {}}],
    }
    if offer is not None:
        spec["offer"] = offer
    return Automation.from_spec(spec, "ctx.yaml", 1)


@settings(max_examples=300, deadline=None)
@given(
    facts=FACTS,
    names=st.sets(st.sampled_from(NAMES)),
    offer=st.one_of(st.none(), st.text(max_size=4)),
    variant=st.one_of(st.none(), st.sampled_from(["A", "B"])),
)
def test_named_context_is_the_whole_context_restricted(
    facts: dict[str, Any], names: set[str], offer: str | None, variant: str | None
) -> None:
    automation = _automation(offer)
    whole = render_context.context(facts, automation, variant, "m1")
    part = render_context.context(facts, automation, variant, "m1", names)
    assert part == {k: whole[k] for k in names if k in whole}


PIECES = [
    "{{ name }}",
    "{{ first_name }}!",
    "{{ segment or 'none' }}",
    "{% if top_category %} in {{ top_category }}{% endif %}",
    "{{ attributes.card_usage | default('-') }}",
    "{{ scores['activity.beauty'] }}",
    "{% for k in scores | sort %}{{ k }},{% endfor %}",
    "{{ offer }} {{ automation }} {{ variant }} {{ message_id }}",
    "{{ days_since_signup }}",
    "{{ unknown_name }}",
    "{% set x = customer_id %}{{ x }}",
    "{{ range(2) | list }}",
    "{{ signup_at }}",
    " plain text ",
]


@settings(max_examples=300, deadline=None)
@given(
    facts=FACTS,
    subject=st.lists(st.sampled_from(PIECES), min_size=1, max_size=3),
    text=st.lists(st.sampled_from(PIECES), min_size=1, max_size=3),
    html=st.lists(st.sampled_from(PIECES), max_size=3),
)
def test_rendering_with_the_names_it_reads_equals_rendering_with_everything(
    facts: dict[str, Any], subject: list[str], text: list[str], html: list[str]
) -> None:
    template = {"subject": "".join(subject).replace("\n", " "), "text": "\n".join(text)}
    if html:
        template["html"] = "".join(html)
    automation = _automation("ten percent")
    names = templates.variables(template)
    assert names is not None

    def outcome(ctx: dict[str, Any]) -> Any:
        try:
            return templates.render("email", template, ctx)
        except TemplateError as exc:
            return ("error", str(exc))

    whole = render_context.context(facts, automation, "A", "m1")
    assert outcome(render_context.context(facts, automation, "A", "m1", names)) == outcome(whole)


def test_variables_of_json_fields_and_of_a_broken_source() -> None:
    body = {"body": {"who": "{{ customer_id }}", "list": ["{{ offer }}", 3, {"x": "{{ y }}"}]}}
    assert templates.variables(body) == {"customer_id", "offer", "y"}
    assert templates.variables({"text": "{{ name "}) is None
    with pytest.raises(TemplateError, match=r"sms\.text: syntax error"):
        templates.render("sms", {"text": "{{ name "}, {"name": "x"})
