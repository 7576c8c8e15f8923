"""The tracking routes: Segment's HTTP Tracking API, so existing SDKs can point at clm.

``POST /v1/track``, ``/v1/identify``, ``/v1/page``, ``/v1/screen``, ``/v1/alias``,
``/v1/group``, ``/v1/batch`` and the one-letter paths the browser SDK uses
(``/v1/t``, ``/v1/i``, ``/v1/p``, ``/v1/s``, ``/v1/a``, ``/v1/g``, ``/v1/b``). Bodies are
JSON whatever the content type says (browsers send ``text/plain`` to avoid a CORS
preflight). A 200 means the message is journaled: it survives a killed server.

The routes are FastAPI routes (so ``/docs`` shows them), but their POSTs are answered
by :class:`FastPath`, a plain ASGI layer in front of the router that calls the same
:func:`answer`: a single event is small, and the router's matching, dependency
solving and request and response objects cost more than taking the event.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import duckdb
import orjson
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from clm.api.deps import ServerState, State, authorize, error_answer, error_headers, token_of
from clm.api.limits import TooLarge
from clm.errors import ClmError, DatabaseUnavailable, InvalidMessage
from clm.ingest import tracking
from clm.store import database

log = logging.getLogger("clm.http")
router = APIRouter(prefix="/v1", tags=["tracking"])

KINDS = {
    "track": "t",
    "identify": "i",
    "page": "p",
    "screen": "s",
    "alias": "a",
    "group": "g",
    "batch": "b",
}
MODELS: dict[str, type[Any]] = {**tracking.SINGLE, "batch": tracking.Batch}
#: Every tracking path → the kind of call it takes.
PATHS = {f"/v1/{p}": k for k, s in KINDS.items() for p in (k, s)}
OK = b'{"success":true}'
Headers = list[tuple[bytes, bytes]]
Answer = tuple[int, bytes, Headers]


class Disconnected(Exception):
    """The client went away before its body was read (nothing to answer)."""


def _body_schema(kind: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{MODELS[kind].__name__}"}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ref}, "text/plain": {"schema": ref}},
        }
    }


def _json(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> Answer:
    return (
        status,
        orjson.dumps(body),
        [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    )


async def _read(receive: Receive, limit: int, declared: bytes | None) -> bytes:
    """The request body, refusing to read past ``limit`` bytes."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def answer(state: ServerState, kind: str, headers: Headers, receive: Receive) -> Answer:
    """Read, authorize, validate and accept one tracking call: status, body, headers."""
    limit = state.settings.max_batch_bytes if kind == "batch" else state.settings.max_body_bytes
    authorization = declared = None
    for name, value in headers:
        if name == b"authorization":
            authorization = value
        elif name == b"content-length":
            declared = value
    try:
        raw = await _read(receive, limit, declared)
    except TooLarge as exc:
        return _json(413, {"detail": str(exc)})
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _json(400, {"detail": "the body is not valid JSON", "field": "body"})
    cost = (
        len(data["batch"])
        if kind == "batch" and isinstance(data, dict) and isinstance(data.get("batch"), list)
        else 1
    )
    token = (
        token_of(authorization.decode("latin-1")) if authorization else None
    ) or tracking.write_key(data)
    try:
        authorize(state, token, "ingest", float(max(cost, 1)))
        state.ws.track(kind, data)
    except HTTPException as exc:
        return _json(exc.status_code, {"detail": exc.detail}, exc.headers)
    except InvalidMessage as exc:
        return _json(422, {"detail": str(exc), "field": exc.field})
    except ClmError as exc:
        return _json(*error_answer(exc), error_headers(exc))
    except database.TRANSIENT:  # a read on the way (the stream's own: DatabaseUnavailable)
        unavailable = DatabaseUnavailable()
        return _json(*error_answer(unavailable), error_headers(unavailable))
    except duckdb.Error as exc:  # a defect: nothing taken, the log names its kind only
        log.error("%s: a database error (%s); answered 500", kind, type(exc).__name__)
        return _json(500, {"detail": "internal error; see the server's log"})
    except OSError:
        return _json(
            503,
            {"detail": "the event journal cannot be written; retry later"},
            {"Retry-After": "5"},
        )
    return 200, OK, []


def _send_answer(send: Send) -> Callable[[Answer], Awaitable[None]]:
    async def respond(result: Answer) -> None:
        status, body, headers = result
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return respond


class FastPath:
    """Answers the POSTs of the tracking routes before the router (see the module
    docstring); everything else goes on to ``app``."""

    def __init__(self, app: ASGIApp, state: ServerState, routes: Mapping[str, object]) -> None:
        self.app = app
        self.state = state
        self.routes = routes  # path → its route, for the request log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = PATHS.get(scope["path"]) if scope["type"] == "http" else None
        if kind is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        scope["route"] = self.routes.get(scope["path"])
        try:
            result = await answer(self.state, kind, scope["headers"], receive)
        except Disconnected:
            return
        await _send_answer(send)(result)


def _route(kind: str, path: str, *, hidden: bool = False) -> None:
    async def endpoint(request: Request, state: State) -> Response:
        try:
            status, body, headers = await answer(
                state, kind, request.scope["headers"], request.receive
            )
        except Disconnected:
            return Response(status_code=400)
        return Response(
            body,
            status,
            {k.decode(): v.decode() for k, v in headers},
            media_type="application/json",
        )

    endpoint.__name__ = f"{kind}_{path}"
    router.add_api_route(
        f"/{path}",
        endpoint,
        methods=["POST"],
        summary=f"{kind.capitalize()} call (Segment spec)" if not hidden else None,
        include_in_schema=not hidden,
        openapi_extra=_body_schema(kind),
        responses={
            200: {"description": "Accepted: journaled and applied to the live profiles"},
            401: {"description": "No key, or an unknown or revoked one"},
            403: {"description": "The key's role may not send events"},
            413: {"description": "The body is too large"},
            422: {"description": "An invalid message; `field` names it"},
            429: {"description": "Rate limit exceeded; see Retry-After"},
            503: {"description": "Not taken (journal or database failing); see Retry-After"},
        },
    )


for _kind, _short in KINDS.items():
    _route(_kind, _kind)
    _route(_kind, _short, hidden=True)
