"""The FastAPI application of ``clm serve``: the API routes, the web dashboard (at ``/``),
errors as 4xx, a log without personal data, CORS for the browser SDKs, and OpenAPI docs
at ``/docs``."""

from __future__ import annotations

import logging
import time
from typing import Any

import duckdb
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clm import __version__
from clm.api import messages, profiles, tracking
from clm.api.deps import ServerState, error_answer, error_headers
from clm.errors import ClmError, DatabaseUnavailable
from clm.store import database
from clm.web import create_router

log = logging.getLogger("clm.http")


def create_app(state: ServerState) -> FastAPI:
    """The application over one served workspace."""
    app = FastAPI(
        title="clm",
        version=__version__,
        summary="Customer lifecycle management: event API, live profiles and segments.",
    )
    app.state.clm = state
    app.include_router(tracking.router)
    app.include_router(profiles.router)
    app.include_router(profiles.admin)
    app.include_router(messages.router)
    app.include_router(
        create_router(
            lambda: state.ws.reader(),
            lambda token: (key := state.verify(token)) is not None and key.allows("admin"),
            lambda: profiles.server_stats(state),
        )
    )
    routes = {r.path: r for r in app.routes if isinstance(r, APIRoute) and r.path in tracking.PATHS}
    app.add_middleware(tracking.FastPath, state=state, routes=routes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=state.settings.cors_origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
    )
    app.add_middleware(AccessLog, state=state)
    app.add_exception_handler(ClmError, _clm_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(duckdb.Error, _database_error)  # type: ignore[arg-type]

    @app.get("/v1/health", tags=["server"], summary="Liveness (no key needed)")
    def health() -> dict[str, Any]:
        return {"status": "ok", "workspace": state.ws.settings.workspace.name}

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


class AccessLog:
    """One line per request with the route's template, never its ids or query; counts the
    answers by status. A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` costs a
    task and a stream per request, which dominated small tracking calls."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        clock = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.state.responses[status] += 1
            if log.isEnabledFor(logging.INFO):
                route = getattr(scope.get("route"), "path", "(no route)")
                elapsed = (time.perf_counter() - clock) * 1e3
                log.info("%s %s %d %.1f ms", scope["method"], route, status, elapsed)


def _clm_error(_request: Request, exc: ClmError) -> JSONResponse:
    status, body = error_answer(exc)
    return JSONResponse(body, status, error_headers(exc))


def _database_error(request: Request, exc: duckdb.Error) -> JSONResponse:
    """A database error on a route's path (a profile, a listing, the status): 503 with
    ``Retry-After`` when the database's operation failed (:data:`database.TRANSIENT`),
    else 500; the log and the answer name the error's kind only, never the query or its
    values (they may hold personal data)."""
    route = getattr(request.scope.get("route"), "path", "(no route)")
    if isinstance(exc, database.TRANSIENT):
        log.error(
            "%s %s: the database failed (%s); answered 503", request.method, route, _kind(exc)
        )
        return _clm_error(request, DatabaseUnavailable())
    log.error("%s %s: a database error (%s); answered 500", request.method, route, _kind(exc))
    return JSONResponse({"detail": "internal error; see the server's log"}, 500)


def _kind(exc: BaseException) -> str:
    return type(exc).__name__


def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming the field (``query.limit``), without echoing the input."""
    problems = [
        {"field": ".".join(str(p) for p in err["loc"]), "reason": err["msg"]}
        for err in exc.errors()
    ]
    first = problems[0] if problems else {"field": "body", "reason": "invalid"}
    return JSONResponse(
        {
            "detail": f"{first['field']}: {first['reason']}",
            "field": first["field"],
            "problems": problems,
        },
        422,
    )


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated schema, with the tracking bodies (read by hand, not by FastAPI)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, summary=app.summary, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in tracking.MODELS.values():
        generated = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
        components.update(generated.pop("$defs", {}))
        components[model.__name__] = generated
    app.openapi_schema = schema
    return schema
