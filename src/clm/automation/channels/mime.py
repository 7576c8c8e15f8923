"""An email as MIME bytes, written directly (RFC 5322, RFC 2045–2047), for speed.

:class:`email.message.EmailMessage` with a modern policy re-parses every header it is
given and folds on output: about 6 ms per message here, more than the whole SMTP
exchange on loopback. The messages clm sends have one fixed shape, so they are
written out directly: headers (non-ASCII text as RFC 2047 encoded words through
:class:`email.header.Header`, addresses through :func:`email.utils.formataddr`), and
the text and HTML parts in UTF-8 with quoted-printable transfer encoding
(:func:`quopri.encodestring`, which never lets a line exceed 76 characters and writes
``=`` as ``=3D``). The multipart boundary starts with ``=_``, which quoted-printable
output cannot contain (RFC 2045 §6.7 and RFC 2046 §5.1.1 suggest exactly this), so
no body can collide with it. Lines end in CRLF (RFC 5321 §2.3.8).

A header value holding CR or LF (a header injection) raises :class:`ValueError`.
"""

from __future__ import annotations

import quopri
import re
from collections.abc import Sequence
from email.header import Header
from email.utils import formataddr, parseaddr

CRLF = b"\r\n"


def header_text(value: str) -> str:
    """A header's unstructured text (Subject): ASCII as is, anything else as encoded words."""
    _no_newline(value)
    if value.isascii() and len(value) <= 900:
        return value
    return Header(value, "utf-8", header_name="Subject").encode(linesep="\r\n")


def address(value: str) -> str:
    """An address header value (From, To): ``Name <addr>`` with the name encoded if needed."""
    _no_newline(value)
    name, addr = parseaddr(value)
    if not addr:
        return value if value.isascii() else header_text(value)
    if not name:
        return addr
    return formataddr((name, addr), charset="utf-8")


def _no_newline(value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError("a header value holds a line break")


def _qp(text: str) -> bytes:
    """UTF-8 text as quoted-printable with CRLF line ends."""
    body = quopri.encodestring(text.replace("\r\n", "\n").encode("utf-8"))
    return body.replace(b"\n", CRLF)


def _part(subtype: str, text: str) -> bytes:
    return (
        b"Content-Type: text/" + subtype.encode() + b'; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + _qp(text)
    )


def render(
    headers: Sequence[tuple[str, str]], text: str | None, html: str | None, boundary: str
) -> bytes:
    """The whole message: ``headers`` (already encoded, see :func:`header_text` and
    :func:`address`), then text and HTML as ``multipart/alternative`` when both are
    given, or the one given as a single part. The multipart boundary is ``=_`` and the
    ASCII letters, digits, ``-`` and ``_`` of ``boundary`` (e.g. the message id)."""
    head = b"".join(f"{name}: {value}".encode("ascii") + CRLF for name, value in headers)
    head += b"MIME-Version: 1.0\r\n"
    parts = [p for p in (("plain", text), ("html", html)) if p[1] is not None]
    if not parts:
        parts = [("plain", "")]
    if len(parts) == 1:
        subtype, body = parts[0]
        assert body is not None
        single = head + _part(subtype, body)
        return single if single.endswith(CRLF) else single + CRLF  # a line ends the body
    mark = b"=_" + re.sub(r"[^A-Za-z0-9_-]", "", boundary)[:60].encode("ascii")
    out = [head, b'Content-Type: multipart/alternative; boundary="' + mark + b'"\r\n\r\n']
    for subtype, body in parts:
        assert body is not None
        out += [b"--" + mark + CRLF, _part(subtype, body), CRLF]
    out.append(b"--" + mark + b"--" + CRLF)
    return b"".join(out)
