"""Contents rendered once per distinct context (:meth:`clm.automation.steps.SendPlan.render`)
against rendering every message (:func:`clm.automation.templates.render`)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clm.automation import steps, templates
from clm.errors import TemplateError

EMAIL = {
    "subject": "{{ name }}, something for you",
    "text": "Hello {{ name }}, {{ offer }}{% if n %} x{{ n }}{% endif %}.",
}
WEBHOOK = {"body": {"offer": "{{ offer }}", "n": "{{ n }}"}}


def _plan(channel: str, template: dict[str, Any]) -> steps.SendPlan:
    names = templates.variables(template)
    return steps.SendPlan(
        channel,
        "s",
        None,
        templates.compile_template(channel, template),
        names,
        0.0,
        {} if steps._repeats(names, template) else None,
    )


VALUES = st.one_of(
    st.sampled_from([1, 1.0, True, 0, 0.0, -0.0, False, None, "", "1", "Ann", float("nan")]),
    st.text(max_size=3),
)
CONTEXTS = st.fixed_dictionaries({"name": VALUES, "offer": VALUES, "n": VALUES})


@settings(max_examples=60, deadline=None)
@given(st.lists(CONTEXTS, min_size=1, max_size=30))
def test_kept_renders_equal_a_render_per_message(contexts: list[dict[str, Any]]) -> None:
    for channel, template in (("email", EMAIL), ("webhook", WEBHOOK)):
        plan = _plan(channel, template)
        assert plan.rendered is not None
        for context in contexts:
            kept = _outcome(plan.render, context)
            assert kept == _outcome(lambda c: templates.render(channel, template, c), context)  # noqa: B023


def _outcome(render: Any, context: dict[str, Any]) -> Any:
    try:
        return render(context)
    except TemplateError as exc:  # a subject on two lines: the same error, never kept
        return ("error", str(exc))


def test_a_render_is_a_new_content_each_time() -> None:
    plan = _plan("webhook", WEBHOOK)
    first = plan.render({"offer": "a", "n": 1})
    first["to"] = "x"
    first["body"]["offer"] = "changed"
    assert plan.render({"offer": "a", "n": 1}) == {"body": {"offer": "a", "n": "1"}}
    assert len(plan.rendered or {}) == 1


def test_contexts_that_never_repeat_or_random_templates_render_every_message() -> None:
    assert _plan("email", {"subject": "Hi", "text": "{{ message_id }}"}).rendered is None
    assert _plan("webhook", {"body": {"c": "{{ customer_id }}"}}).rendered is None
    assert _plan("email", {"subject": "Hi", "text": "{{ [1, 2] | random }}"}).rendered is None
    assert _plan("email", {"subject": "{{ lipsum(1) }}", "text": "x"}).rendered is None
    assert _plan("email", {"subject": "Hi", "text": "{% if %}"}).rendered is None


def test_an_unhashable_context_is_rendered_not_kept() -> None:
    plan = _plan("email", {"subject": "Hi", "text": "{{ attributes.tier }}"})
    assert plan.render({"attributes": {"tier": "gold"}}) == {"subject": "Hi", "text": "gold"}
    assert plan.rendered == {}
