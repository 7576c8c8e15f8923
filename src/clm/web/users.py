"""Dashboard users: names and scrypt password hashes in ``<workspace>/.clm/users.json``.

The file holds no password, only salted hashes (scrypt, RFC 7914, through
:func:`hashlib.scrypt`); it is written atomically (a temporary file in the same
folder, then :func:`os.replace`) with mode 0600. The users file is read on every
check, so ``clm users create`` and ``clm users delete`` take effect in a running
server at once, and the CLI edits it without opening the workspace database
(which a running ``clm serve`` holds).

Format (version 1)::

    {"version": 1,
     "users": {"ana": {"hash": "scrypt$16384$8$1$<salt b64>$<key b64>",
                       "created_at": "2026-12-01T20:00:00+00:00"}}}
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clm.errors import UserError

STATE_DIR = ".clm"
USERS_FILE = "users.json"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 8
# scrypt cost: N = 2^14, r = 8, p = 1 (the RFC 7914 §2 interactive-login parameters; 16 MiB).
SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES = 2**14, 8, 1, 32


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A self-describing scrypt hash of ``password`` with a random 16-byte salt."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(key).decode()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash made by :func:`hash_password` (constant time)."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=KEY_BYTES, maxmem=64 * 2**20
    )


# A hash to check against when the user does not exist, so that an unknown name takes as
# long to refuse as a wrong password (no user enumeration by timing).
_DUMMY = hash_password(secrets.token_hex(8))


class UserStore:
    """The users of one workspace (``root`` is the workspace folder)."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / STATE_DIR / USERS_FILE

    def list(self) -> list[dict[str, Any]]:
        """Every user: name and creation time, by name."""
        users = self._read()
        return [{"name": n, "created_at": users[n]["created_at"]} for n in sorted(users)]

    def exists(self, name: str) -> bool:
        return name in self._read()

    def create(self, name: str, password: str) -> None:
        """Add a user; the name must be new and the password at least 8 characters."""
        if not NAME_PATTERN.match(name):
            raise UserError(
                f"user name {name!r} is not valid: use 1-64 letters, digits or . _ @ -, "
                "starting with a letter or digit"
            )
        if len(password) < MIN_PASSWORD:
            raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
        users = self._read()
        if name in users:
            raise UserError(f"user {name!r} already exists (delete it first to reset it)")
        users[name] = {
            "hash": hash_password(password),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self._write(users)

    def delete(self, name: str) -> None:
        users = self._read()
        if name not in users:
            raise UserError(f"no user {name!r} in {self.path}")
        del users[name]
        self._write(users)

    def verify(self, name: str, password: str) -> bool:
        """Whether the user exists and the password is theirs."""
        user = self._read().get(name)
        if user is None:
            check_password(password, _DUMMY)
            return False
        return check_password(password, str(user["hash"]))

    def _read(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            users = data["users"]
            if not isinstance(users, dict):
                raise TypeError("users is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"the users file {self.path} is not valid: {exc}") from exc
        return users

    def _write(self, users: dict[str, dict[str, Any]]) -> None:
        text = json.dumps({"version": 1, "users": users}, indent=2, sort_keys=True)
        write_private(self.path, text)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600 (its folder made 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
