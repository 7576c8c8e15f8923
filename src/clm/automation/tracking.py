"""Outcomes that come back: opens (a pixel) and clicks (a signed redirect).

URL shapes, served by ``clm serve``:

- ``{base}/t/o/{message_id}.gif``: the open pixel (a 1×1 GIF, :data:`PIXEL_GIF`);
- ``{base}/t/c/{message_id}?u=<url>&s=<signature>``: the click redirect to ``url``.

``s`` is an HMAC-SHA256 of ``message_id`` and ``url`` under the workspace secret
(``<workspace>/.clm/tracking.key``, made on first use), so the redirect only goes
where a message of ours pointed and is not an open redirect (RFC 2104). Opens and
clicks are stored as ``message_opened`` and ``message_clicked`` events with
deterministic event ids, so a repeat (a reloaded image, a second click on the same
link) is recorded once.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb

from clm.errors import NotFound

SECRET_FILE = Path(".clm") / "tracking.key"
# The smallest transparent GIF (43 bytes).
PIXEL_GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
_LINK = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"']+)\2""", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def workspace_secret(root: Path) -> bytes:
    """The workspace's tracking key, created (readable by the owner only) on first use."""
    path = root / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32), encoding="ascii")
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def signature(secret: bytes, message_id: str, url: str) -> str:
    """HMAC-SHA256 of ``message_id`` and ``url`` (hex, 32 characters)."""
    mac = hmac.new(secret, f"{message_id}\n{url}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def verify_click(secret: bytes, message_id: str, url: str, given: str) -> bool:
    """Whether ``given`` is the signature of this message and target."""
    return hmac.compare_digest(signature(secret, message_id, url).encode(), given.encode())


def click_url(base_url: str, message_id: str, url: str, secret: bytes) -> str:
    base = base_url.rstrip("/")
    return (
        f"{base}/t/c/{quote(message_id, safe='')}?u={quote(url, safe='')}"
        f"&s={signature(secret, message_id, url)}"
    )


def open_url(base_url: str, message_id: str) -> str:
    return f"{base_url.rstrip('/')}/t/o/{quote(message_id, safe='')}.gif"


def tracking_links(html_text: str, message_id: str, base_url: str, secret: bytes) -> str:
    """The email HTML with every http(s) link sent through the click redirect and an
    open pixel before ``</body>`` (or at the end)."""

    def rewrite(match: re.Match[str]) -> str:
        target = html.unescape(match.group(3))
        tracked = html.escape(click_url(base_url, message_id, target, secret), quote=True)
        return f"{match.group(1)}{match.group(2)}{tracked}{match.group(2)}"

    out = _LINK.sub(rewrite, html_text)
    pixel = (
        f'<img src="{html.escape(open_url(base_url, message_id))}" width="1" height="1" '
        'alt="" style="display:none">'
    )
    found = list(_BODY_END.finditer(out))
    if not found:
        return out + pixel
    at = found[-1].start()
    return out[:at] + pixel + out[at:]


def record_open(con: duckdb.DuckDBPyConnection, message_id: str, ts: datetime) -> bool:
    """Record that ``message_id`` was opened; False when it was already recorded."""
    return _record(con, message_id, "message_opened", f"msg:{message_id}:opened", ts, {})


def record_click(con: duckdb.DuckDBPyConnection, message_id: str, url: str, ts: datetime) -> str:
    """Record a click on ``url`` in ``message_id`` (once per link); return the target.

    The caller checks the signature first (:func:`verify_click`).
    """
    _record(con, message_id, "message_clicked", click_event_id(message_id, url), ts, {"url": url})
    return url


def outcome(
    con: duckdb.DuckDBPyConnection, message_id: str, extra: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    """The customer a message went to and the properties of an outcome event about it."""
    rows = con.execute(
        "SELECT customer_id, automation, channel, variant FROM outbox WHERE message_id = ?",
        [message_id],
    ).fetchall()
    if not rows:
        raise NotFound(f"no message {message_id!r} in the outbox")
    customer_id, automation, channel, variant = rows[0]
    props = {
        "message_id": message_id,
        "automation": automation,
        "channel": channel,
        "variant": variant,
        **extra,
    }
    return str(customer_id), props


def click_event_id(message_id: str, url: str) -> str:
    """One click event per message and link."""
    return f"msg:{message_id}:clicked:{hashlib.sha1(url.encode()).hexdigest()[:8]}"


def _record(
    con: duckdb.DuckDBPyConnection,
    message_id: str,
    kind: str,
    event_id: str,
    ts: datetime,
    extra: dict[str, str],
) -> bool:
    customer_id, props = outcome(con, message_id, extra)
    inserted = con.execute(
        """
        INSERT INTO events (event_id, customer_id, type, ts, properties)
        SELECT ?, ?, ?, ?, ?
        WHERE NOT EXISTS (SELECT 1 FROM events WHERE event_id = ?)
        """,
        [event_id, customer_id, kind, ts, json.dumps(props), event_id],
    ).fetchall()
    return bool(inserted and inserted[0][0])
