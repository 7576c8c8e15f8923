"""Templates: per-channel fields, autoescaping only in email HTML, a sandbox that refuses."""

from __future__ import annotations

import pytest

from clm.automation.templates import compile_template, render
from clm.errors import ClmError, TemplateError

PROFILE = {
    "name": "Ann <b>&</b> Co",
    "segment": "Loyal",
    "top_category": "beauty",
    "offer": {"points": 2},
}


def test_email_fields_and_autoescape_only_in_html() -> None:
    out = render(
        "email",
        {
            "subject": "{{ name }}: {{ offer.points }}x points",
            "html": "<p>Hi {{ name }}</p>",
            "text": "Hi {{ name }} ({{ segment }})",
        },
        PROFILE,
    )
    assert out == {
        "subject": "Ann <b>&</b> Co: 2x points",
        "html": "<p>Hi Ann &lt;b&gt;&amp;&lt;/b&gt; Co</p>",
        "text": "Hi Ann <b>&</b> Co (Loyal)",
    }


def test_banner_and_webhook_render_every_string_in_the_json() -> None:
    banner = render(
        "banner",
        {
            "placement": "home-top",
            "content": {
                "title": "More {{ top_category }}",
                "cta": ["{{ offer.points }}x", 3, True, None],
                "nested": {"segment": "{{ segment|lower }}"},
            },
        },
        PROFILE,
    )
    assert banner == {
        "placement": "home-top",
        "content": {
            "title": "More beauty",
            "cta": ["2x", 3, True, None],
            "nested": {"segment": "loyal"},
        },
    }
    assert render("push", {"title": "Hi", "body": "{{ segment }}"}, PROFILE) == {
        "title": "Hi",
        "body": "Loyal",
    }


@pytest.mark.parametrize(
    ("channel", "template", "message"),
    [
        ("sms", {"text": "Hi {{ nmae }}"}, r"sms\.text: 'nmae' is undefined"),
        ("email", {"subject": "{{ name", "text": "x"}, r"email\.subject: syntax error on line 1"),
        (
            "sms",
            {"text": "{{ ''.__class__.__mro__[1].__subclasses__() }}"},
            r"sms\.text: refused by the sandbox",
        ),
        (
            "push",
            {"title": "t", "body": "{{ offer.__class__ }}"},
            r"push\.body: refused by the sandbox",
        ),
        ("banner", {"placement": "p", "content": {"a": ["{{ x }}"]}}, r"banner\.content\.a\[0\]"),
        ("email", {"subject": "a\n{{ name }}", "text": "x"}, "email.subject: renders to more"),
        ("email", {"subject": "s"}, "needs html or text"),
        ("sms", {"text": "x", "subject": "y"}, "unknown field.*subject"),
        ("push", {"title": "x"}, "missing field.*body"),
        ("fax", {"text": "x"}, "unknown channel 'fax'"),
        ("banner", {"placement": "p", "content": "x"}, "must be a JSON object"),
    ],
)
def test_errors_name_channel_and_field(
    channel: str, template: dict[str, object], message: str
) -> None:
    with pytest.raises(TemplateError, match=message) as info:
        render(channel, template, PROFILE)
    assert isinstance(info.value, ClmError)


def test_the_sandbox_does_not_run_python() -> None:
    # a classic escape: reaching os through a function's globals
    with pytest.raises(TemplateError, match="sandbox"):
        render("sms", {"text": "{{ cycler.__init__.__globals__.os.getcwd() }}"}, PROFILE)


CASES = [  # (channel, template): good ones, and every way one fails
    ("email", {"subject": "{{ name }}", "html": "<p>{{ name }}</p>", "text": "{{ segment }}"}),
    ("email", {"subject": "{{ name }}\n{{ segment }}", "text": "x"}),  # two lines
    ("email", {"subject": "{{ name ", "text": "x"}),  # syntax error
    ("email", {"subject": "ok", "text": "{{ nobody }}"}),  # undefined
    ("email", {"subject": "{{ ''.__class__.__mro__ }}", "text": "x"}),  # the sandbox
    ("email", {"subject": "{{ offer.points / 0 }}", "text": "x"}),  # fails inside
    ("email", {"text": "no subject"}),  # missing field
    ("email", {"subject": "s", "text": "t", "footer": "f"}),  # unknown field
    ("sms", {"text": "{{ top_category | upper }} {{ offer.points }}"}),
    ("push", {"title": "{{ name }}", "body": "{{ segment }}"}),
    ("banner", {"placement": "home", "content": {"h": "{{ name }}", "n": [1, "{{ segment }}"]}}),
    ("banner", {"placement": "home", "content": {"h": "{{ nobody }}"}}),
    ("webhook", {"body": {"who": "{{ name }}", "x": None, "ok": True}}),
    ("webhook", {"body": "not an object"}),
    ("fax", {"text": "x"}),  # unknown channel
]


@pytest.mark.parametrize(("channel", "template"), CASES)
def test_a_compiled_template_renders_what_render_gives(
    channel: str, template: dict[str, object]
) -> None:
    """``compile_template(...).render`` (checked and compiled once, per message after)
    against :func:`render` (everything per call): the same content or the same error,
    also when rendered again."""
    compiled = compile_template(channel, template)
    for _ in range(2):
        try:
            expected: object = render(channel, template, PROFILE)
        except TemplateError as exc:
            expected = ("error", str(exc))
        try:
            got: object = compiled.render(PROFILE)
        except TemplateError as exc:
            got = ("error", str(exc))
        assert got == expected
