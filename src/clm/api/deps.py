"""What every route needs: the server's state, and who is calling (typed dependencies,
as in the full-stack FastAPI template's ``api/deps.py``).

A caller proves a key the way the tracking SDKs send it: HTTP Basic with the key as
user name (Segment's server libraries), a Bearer token, or, for the tracking calls
of a browser (which cannot set headers on a beacon), ``writeKey`` in the body.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections import Counter
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from clm.api.keys import RANK, ApiKey, KeyStore, Role
from clm.api.limits import RateLimiter, retry_after
from clm.config import ServerSection
from clm.errors import ClmError, DatabaseUnavailable, InvalidMessage, NotFound, WorkspaceError
from clm.workspace import Workspace


@dataclass
class ServerState:
    """Everything the routes share: the workspace, its keys, limits and counters."""

    ws: Workspace
    keys: KeyStore
    settings: ServerSection
    local_token: str  # the admin token of the local CLI (in .clm/serve.json, 0600)
    limiter: RateLimiter
    scheduler: Any = None  # clm.automation.scheduler.Scheduler, when automations run here
    responses: Counter[int] = field(default_factory=Counter)

    def verify(self, token: str) -> ApiKey | None:
        """The key a token proves, the local CLI's token included."""
        if token and hmac.compare_digest(token.encode(), self.local_token.encode()):
            return ApiKey("local", "local clm command", "admin", "", "")
        return self.keys.verify(token)

    def rate(self, role: Role) -> float:
        return float(getattr(self.settings.rate_limits, role))


async def server_state(request: Request) -> ServerState:
    """The server's state (a coroutine: FastAPI runs a plain function in a worker thread)."""
    state: ServerState = request.app.state.clm
    return state


State = Annotated[ServerState, Depends(server_state)]


def presented_token(request: Request) -> str | None:
    """The key in the Authorization header (Basic user name, or Bearer), if any."""
    return token_of(request.headers.get("authorization", ""))


def token_of(header: str) -> str | None:
    """The key in an Authorization header's value (Basic user name, or Bearer), if any."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user or password or None
    return None


def authorize(state: ServerState, token: str | None, needed: Role, cost: float = 1.0) -> ApiKey:
    """The caller's key if it may do what ``needed`` allows; else 401, 403 or 429."""
    if not token:
        raise HTTPException(
            401,
            "an API key is required (Basic auth user name, or a Bearer token)",
            headers={"WWW-Authenticate": 'Basic realm="clm", Bearer'},
        )
    key = state.verify(token)
    if key is None:
        raise HTTPException(
            401,
            "unknown or revoked API key",
            headers={"WWW-Authenticate": 'Basic realm="clm", Bearer'},
        )
    if RANK[key.role] < RANK[needed]:
        raise HTTPException(
            403, f"this needs a key with the {needed} role; this key has {key.role}"
        )
    wait = state.limiter.take(key.key_id, state.rate(key.role), cost)
    if wait > 0:
        raise HTTPException(
            429, "rate limit exceeded for this key", headers={"Retry-After": retry_after(wait)}
        )
    return key


def reader(needed: Role) -> object:
    """A dependency: the caller's key, at least ``needed``."""

    async def check(request: Request, state: State) -> ApiKey:
        return authorize(state, presented_token(request), needed)

    return Depends(check)


def error_answer(exc: ClmError) -> tuple[int, dict[str, Any]]:
    """The status and body that answer a :class:`~clm.errors.ClmError`."""
    if isinstance(exc, NotFound):
        return 404, {"detail": str(exc)}
    if isinstance(exc, InvalidMessage):
        return 422, {"detail": str(exc), "field": exc.field}
    if isinstance(exc, WorkspaceError):
        return 409, {"detail": str(exc)}
    if isinstance(exc, DatabaseUnavailable):
        return 503, {"detail": str(exc)}
    return 400, {"detail": str(exc)}


def error_headers(exc: ClmError) -> dict[str, str]:
    """The headers that go with :func:`error_answer`'s: a 503 says when to come back."""
    if isinstance(exc, DatabaseUnavailable):
        return {"Retry-After": retry_after(exc.retry_after)}
    return {}


ReadKey = Annotated[ApiKey, reader("read")]
AdminKey = Annotated[ApiKey, reader("admin")]
