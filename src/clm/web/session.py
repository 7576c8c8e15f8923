"""Signed session cookies and CSRF tokens for the dashboard.

A session token is ``<payload>.<signature>``: the payload is the URL-safe base64
of ``name|expires|nonce`` and the signature its HMAC-SHA256 (RFC 2104) under the
workspace secret, a random 32-byte key in ``<workspace>/.clm/secret`` created
with mode 0600 on first use. Nothing secret is in the cookie; changing the
secret file signs everyone out.

CSRF: every form carries a token that is the HMAC of a per-browser nonce (the
session's nonce once signed in, the ``clm_login`` cookie's before), so a page of
another site cannot post a valid form (the cookies are also ``SameSite=Lax``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from clm.web.users import STATE_DIR

SECRET_FILE = "secret"
SESSION_COOKIE = "clm_session"
LOGIN_COOKIE = "clm_login"
SESSION_SECONDS = 12 * 3600


def load_secret(root: Path) -> bytes:
    """The workspace's signing key, created (mode 0600) if it does not exist yet."""
    path = Path(root) / STATE_DIR / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return bytes.fromhex(path.read_text().strip())
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


@dataclass(frozen=True)
class Session:
    """Who is signed in, until when, and the nonce their CSRF tokens derive from."""

    user: str
    expires: int
    nonce: str


class Signer:
    """Signs and checks session tokens and CSRF tokens with one key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, purpose: str, text: str) -> str:
        digest = hmac.new(self._key, f"{purpose}|{text}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def session_token(self, user: str, now: float | None = None) -> str:
        expires = int((now if now is not None else time.time()) + SESSION_SECONDS)
        text = f"{user}|{expires}|{secrets.token_urlsafe(12)}"
        payload = base64.urlsafe_b64encode(text.encode()).decode()
        return f"{payload}.{self._mac('session', payload)}"

    def read_session(self, token: str, now: float | None = None) -> Session | None:
        """The session of a valid, unexpired token; None for anything else."""
        payload, _, signature = token.partition(".")
        if not hmac.compare_digest(signature, self._mac("session", payload)):
            return None
        try:
            user, expires, nonce = base64.urlsafe_b64decode(payload).decode().split("|")
            ends = int(expires)
        except ValueError:
            return None
        if ends <= (now if now is not None else time.time()):
            return None
        return Session(user, ends, nonce)

    def csrf_token(self, nonce: str) -> str:
        return self._mac("csrf", nonce)

    def check_csrf(self, nonce: str | None, token: str | None) -> bool:
        if not nonce or not token:
            return False
        return hmac.compare_digest(token, self.csrf_token(nonce))


def new_nonce() -> str:
    return secrets.token_urlsafe(16)
