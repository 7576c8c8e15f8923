"""API keys: created once, stored only as hashes, each with a role.

Roles, from least to most: ``ingest`` may only send events (the key a public web
page carries), ``read`` may also read profiles and segments, ``admin`` may do
everything (scoring runs, the dashboard). A key is ``clm_<role>_<key id>_<secret>``;
the file ``.clm/keys.json`` in the workspace keeps its id, name, role, creation
time, revocation and the SHA-256 of the whole key, never the key. The file is
written atomically and read again by a running server when it changes, so
``clm keys create`` and ``clm keys revoke`` take effect without a restart (within
:data:`RECHECK_SECONDS`: a server looks at the file's time at most that often, and
remembers the keys it has verified since, so a request costs neither a ``stat`` nor a
hash).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from clm.errors import ConfigError, NotFound

Role = Literal["ingest", "read", "admin"]
ROLES: tuple[Role, ...] = ("ingest", "read", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}
STATE_DIR = ".clm"
KEYS_FILE = "keys.json"
RECHECK_SECONDS = 0.1  # how often a server looks whether the keys file changed
REMEMBERED = 1_024  # verified tokens kept (an attacker's random tokens cannot grow it)


@dataclass(frozen=True)
class ApiKey:
    """What is stored of a key."""

    key_id: str
    name: str
    role: Role
    created_at: str
    sha256: str
    revoked_at: str | None = None

    def allows(self, needed: Role) -> bool:
        """Whether this key's role is at least ``needed``."""
        return self.revoked_at is None and RANK[self.role] >= RANK[needed]


def state_dir(root: Path) -> Path:
    """The workspace's private folder (keys, server state), created 0700."""
    folder = root / STATE_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only, atomically (temp file, then rename)."""
    temp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


class KeyStore:
    """The keys of a workspace (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.path = state_dir(root) / KEYS_FILE
        self._stamp: tuple[int, int] | None = None
        self._by_hash: dict[str, ApiKey] = {}
        self._checked = -math.inf  # time.monotonic() of the last look at the file
        self._verified: dict[str, ApiKey | None] = {}  # token → key, since that look

    def keys(self) -> list[ApiKey]:
        if not self.path.exists():
            return []
        data = json.loads(self.path.read_text(encoding="utf-8"))
        return [ApiKey(**k) for k in data["keys"]]

    def _save(self, keys: list[ApiKey]) -> None:
        write_private(self.path, json.dumps({"keys": [asdict(k) for k in keys]}, indent=2))
        self._checked = -math.inf  # this process sees its own change at once

    def create(self, role: str, name: str | None = None) -> tuple[ApiKey, str]:
        """A new key; returns what is stored and the key itself (shown once)."""
        if role not in ROLES:
            raise ConfigError(f"role {role!r}: use one of {', '.join(ROLES)}")
        key_id = secrets.token_hex(4)
        key = f"clm_{role}_{key_id}_{secrets.token_urlsafe(24)}"
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        stored = ApiKey(key_id, name or f"{role} key {key_id}", role, now, digest(key))
        self._save([*self.keys(), stored])
        return stored, key

    def revoke(self, key_id: str) -> ApiKey:
        keys = self.keys()
        match = [k for k in keys if k.key_id == key_id or k.name == key_id]
        if not match:
            raise NotFound(f"no API key with id or name {key_id!r}; see `clm keys list`")
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        revoked = [
            ApiKey(**{**asdict(k), "revoked_at": k.revoked_at or now}) if k in match else k
            for k in keys
        ]
        self._save(revoked)
        return next(k for k in revoked if k.key_id == match[0].key_id)

    def verify(self, key: str) -> ApiKey | None:
        """The stored key for ``key`` if it exists and is not revoked (constant-time)."""
        now = time.monotonic()
        if now - self._checked >= RECHECK_SECONDS:
            self._checked = now
            self._reload()
        try:
            return self._verified[key]
        except KeyError:
            pass
        hashed = digest(key)
        stored = self._by_hash.get(hashed)
        if stored is not None and (
            stored.revoked_at is not None or not hmac.compare_digest(stored.sha256, hashed)
        ):
            stored = None
        if len(self._verified) >= REMEMBERED:
            self._verified.clear()
        self._verified[key] = stored
        return stored

    def _reload(self) -> None:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            self._by_hash, self._stamp, self._verified = {}, None, {}
            return
        stamp = (info.st_mtime_ns, info.st_size)
        if stamp != self._stamp:
            self._by_hash = {k.sha256: k for k in self.keys()}
            self._stamp = stamp
            self._verified = {}
