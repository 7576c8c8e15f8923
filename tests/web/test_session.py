"""Signed session tokens, CSRF tokens and the workspace secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import stat
from pathlib import Path

from clm.web.session import SESSION_SECONDS, Signer, load_secret


def test_secret_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    key = load_secret(tmp_path)
    path = tmp_path / ".clm" / "secret"
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(tmp_path) == key


def test_session_token_round_trip_and_expiry() -> None:
    signer = Signer(b"k" * 32)
    token = signer.session_token("ana", now=1_000)
    session = signer.read_session(token, now=1_000 + SESSION_SECONDS - 1)
    assert session is not None and session.user == "ana"
    assert session.expires == 1_000 + SESSION_SECONDS
    assert signer.read_session(token, now=1_000 + SESSION_SECONDS) is None


def test_signature_is_hmac_sha256_of_the_payload() -> None:
    key = b"0123456789abcdef" * 2
    payload, signature = Signer(key).session_token("ana").split(".")
    digest = hmac.new(key, f"session|{payload}".encode(), hashlib.sha256).digest()
    assert signature == base64.urlsafe_b64encode(digest).decode().rstrip("=")


def test_tampered_or_foreign_tokens_are_refused() -> None:
    signer = Signer(b"k" * 32)
    token = signer.session_token("ana")
    payload, signature = token.split(".")
    forged = base64.urlsafe_b64encode(
        base64.urlsafe_b64decode(payload).replace(b"ana", b"bob")
    ).decode()
    assert signer.read_session(f"{forged}.{signature}") is None
    assert Signer(b"x" * 32).read_session(token) is None
    assert signer.read_session("garbage") is None
    assert signer.read_session("") is None


def test_csrf_tokens_bind_to_the_nonce() -> None:
    signer = Signer(b"k" * 32)
    token = signer.csrf_token("nonce-1")
    assert signer.check_csrf("nonce-1", token)
    assert not signer.check_csrf("nonce-2", token)
    assert not signer.check_csrf(None, token)
    assert not signer.check_csrf("nonce-1", "")
    assert not Signer(b"x" * 32).check_csrf("nonce-1", token)
