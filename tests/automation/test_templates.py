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


NAME = "Ann <b>&</b> Co"
CASES = [  # (channel, template, the content or the error): good ones, and every way one fails
    (
        "email",
        {"subject": "{{ name }}", "html": "<p>{{ name }}</p>", "text": "{{ segment }}"},
        {"subject": NAME, "html": "<p>Ann &lt;b&gt;&amp;&lt;/b&gt; Co</p>", "text": "Loyal"},
    ),
    ("email", {"subject": "{{ name }}\n{{ segment }}", "text": "x"}, "email.subject: renders to"),
    ("email", {"subject": "{{ name ", "text": "x"}, "email.subject: syntax error on line 1"),
    ("email", {"subject": "ok", "text": "{{ nobody }}"}, "email.text: 'nobody' is undefined"),
    ("email", {"subject": "{{ ''.__class__ }}", "text": "x"}, "email.subject: refused by the"),
    ("email", {"subject": "{{ offer.points / 0 }}", "text": "x"}, "email.subject: ZeroDivision"),
    ("email", {"text": "no subject"}, "email template: missing field(s) subject"),
    ("email", {"subject": "s", "text": "t", "footer": "f"}, "email template: unknown field"),
    ("sms", {"text": "{{ top_category | upper }} {{ offer.points }}"}, {"text": "BEAUTY 2"}),
    ("push", {"title": "{{ name }}", "body": "{{ segment }}"}, {"title": NAME, "body": "Loyal"}),
    (
        "banner",
        {"placement": "home", "content": {"h": "{{ name }}", "n": [1, "{{ segment }}"]}},
        {"placement": "home", "content": {"h": NAME, "n": [1, "Loyal"]}},
    ),
    ("banner", {"placement": "home", "content": {"h": "{{ x }}"}}, "banner.content.h: 'x' is"),
    (
        "webhook",
        {"body": {"who": "{{ name }}", "x": None, "ok": True}},
        {"body": {"who": NAME, "x": None, "ok": True}},
    ),
    ("webhook", {"body": "not an object"}, "webhook.body: must be a JSON object"),
    ("fax", {"text": "x"}, "unknown channel 'fax'"),
]


@pytest.mark.parametrize(("channel", "template", "expected"), CASES)
def test_a_template_compiled_once_renders_every_message_alike(
    channel: str, template: dict[str, object], expected: object
) -> None:
    """``compile_template(...).render`` (checked and compiled once, then per message):
    the content worked out by hand, or an error naming the field, on every render."""
    compiled = compile_template(channel, template)
    for _ in range(2):
        if isinstance(expected, str):
            with pytest.raises(TemplateError) as caught:
                compiled.render(PROFILE)
            assert str(caught.value).startswith(expected)
        else:
            assert compiled.render(PROFILE) == expected
