"""The directly written MIME message, checked against the standard library's parser."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clm.automation.channels import mime

# any text but line breaks in headers (a header injection, refused separately)
HEADER_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r\n\x85\u2028\u2029"),
    max_size=200,
)
# display names of letters and inner spaces (what a sender setting holds)
NAMES = st.from_regex(r"\A\w(?:[\w ]{0,30}\w)?\Z").filter(lambda n: "_" not in n)
BODY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=600)


def parse(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def body(part: EmailMessage | None) -> str:
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


@settings(max_examples=60, deadline=None)
@given(subject=HEADER_TEXT, name=NAMES, text=BODY_TEXT, html=BODY_TEXT)
def test_what_is_written_parses_back_to_the_same_headers_and_bodies(
    subject: str, name: str, text: str, html: str
) -> None:
    data = mime.render(
        [
            ("From", mime.address(f"{name} <news@shop.example>")),
            ("To", mime.address("customer@example.org")),
            ("Subject", mime.header_text(subject)),
            ("Message-ID", "<abc@shop.example>"),
        ],
        text,
        html or None,
        "0123abcd",
    )
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))  # RFC 5322 §2.1.1
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    mail = parse(data)
    assert str(mail["Subject"]) == subject.strip() or str(mail["Subject"]) == subject
    assert mail["To"].addresses[0].addr_spec == "customer@example.org"
    assert mail["From"].addresses[0].addr_spec == "news@shop.example"
    assert mail["From"].addresses[0].display_name == name
    expected_text = text.replace("\r\n", "\n")
    if html:
        assert mail.get_content_type() == "multipart/alternative"
        assert body(mail.get_body(("plain",))) == expected_text
        assert body(mail.get_body(("html",))) == html.replace("\r\n", "\n")
    else:
        assert mail.get_content_type() == "text/plain"
        # a single part ends with a line break (as EmailMessage.set_content makes it)
        assert body(mail) in (expected_text, expected_text + "\n")


def test_a_known_message_byte_for_byte() -> None:
    """Hand-checked against RFC 2045 (quoted-printable) and RFC 2047 (encoded words)."""
    data = mime.render(
        [("Subject", mime.header_text("Punkte für Sie")), ("To", mime.address("a@b.example"))],
        "Grüße = 1\n.dot",
        "<p>x</p>",
        "id-1",
    )
    assert data == (
        b"Subject: =?utf-8?q?Punkte_f=C3=BCr_Sie?=\r\n"
        b"To: a@b.example\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="=_id-1"\r\n\r\n'
        b"--=_id-1\r\n"
        b'Content-Type: text/plain; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Gr=C3=BC=C3=9Fe =3D 1\r\n.dot\r\n"
        b"--=_id-1\r\n"
        b'Content-Type: text/html; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"<p>x</p>\r\n"
        b"--=_id-1--\r\n"
    )


@pytest.mark.parametrize("value", ["Hi\r\nBcc: x@evil.example", "Hi\nX: y", "a\rb"])
def test_a_line_break_in_a_header_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="line break"):
        mime.header_text(value)
    with pytest.raises(ValueError, match="line break"):
        mime.address(value)


def test_a_display_name_outside_ascii_is_encoded() -> None:
    value = mime.address("Café Ünïcode <news@shop.example>")
    assert value.isascii()
    mail = parse(f"From: {value}\r\n\r\n".encode())
    assert mail["From"].addresses[0].display_name == "Café Ünïcode"
