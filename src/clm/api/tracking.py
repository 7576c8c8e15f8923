"""The tracking routes: Segment's HTTP Tracking API, so existing SDKs can point at clm.

``POST /v1/track``, ``/v1/identify``, ``/v1/page``, ``/v1/screen``, ``/v1/alias``,
``/v1/group``, ``/v1/batch`` and the one-letter paths the browser SDK uses
(``/v1/t``, ``/v1/i``, ``/v1/p``, ``/v1/s``, ``/v1/a``, ``/v1/g``, ``/v1/b``). Bodies are
JSON whatever the content type says (browsers send ``text/plain`` to avoid a CORS
preflight). A 200 means the message is journaled: it survives a killed server.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from clm.api.deps import State, authorize, presented_token
from clm.api.limits import TooLarge, read_body
from clm.errors import InvalidMessage
from clm.ingest import tracking

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
OK = Response(b'{"success":true}', media_type="application/json")


def _body_schema(kind: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{MODELS[kind].__name__}"}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ref}, "text/plain": {"schema": ref}},
        }
    }


async def accept(kind: str, request: Request, state: State) -> Response:
    """Read, authorize, validate and accept one tracking call."""
    limit = state.settings.max_batch_bytes if kind == "batch" else state.settings.max_body_bytes
    try:
        raw = await read_body(request, limit)
    except TooLarge as exc:
        raise HTTPException(413, str(exc)) from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return JSONResponse({"detail": "the body is not valid JSON", "field": "body"}, 400)
    cost = (
        len(data["batch"])
        if kind == "batch" and isinstance(data, dict) and isinstance(data.get("batch"), list)
        else 1
    )
    token = presented_token(request) or tracking.write_key(data)
    authorize(state, token, "ingest", float(max(cost, 1)))
    try:
        state.ws.track(kind, data)
    except InvalidMessage as exc:
        return JSONResponse({"detail": str(exc), "field": exc.field}, 422)
    except OSError:
        return JSONResponse(
            {"detail": "the event journal cannot be written; retry later"},
            503,
            headers={"Retry-After": "5"},
        )
    return OK


def _route(kind: str, path: str, *, hidden: bool = False) -> None:
    async def endpoint(request: Request, state: State) -> Response:
        return await accept(kind, request, state)

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
        },
    )


for _kind, _short in KINDS.items():
    _route(_kind, _kind)
    _route(_kind, _short, hidden=True)
