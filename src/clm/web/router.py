"""The dashboard as a FastAPI router: sign-in, pages and static files.

:func:`create_router` is the contract with ``clm serve`` (see the module
docstring of :mod:`clm.web`). Page handlers are plain ``def`` functions (FastAPI
runs them in its thread pool); each opens the workspace through
``open_workspace``, builds its context from facade calls and renders a Jinja2
template. Population pages are cached per set of scoring runs: a run's scores
never change once it is stored, so a page is recomputed only after a new run.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from clm.errors import ClmError, NotFound
from clm.store import data_summary
from clm.web import automation_pages, customer_page, pages, static
from clm.web.charts import segment_colour
from clm.web.format import FILTERS
from clm.web.session import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    Signer,
    load_secret,
    new_nonce,
)
from clm.web.users import UserStore

OpenWorkspace = Callable[[], contextlib.AbstractContextManager[Any]]
NAV = (
    ("dash_overview", "Overview"),
    ("dash_categories", "Categories"),
    ("dash_customers", "Customers"),
    ("dash_automations", "Automations"),
    ("dash_experiments", "Experiments"),
    ("dash_data", "Data"),
)
CACHE_ENTRIES = 64  # pages kept per router (a category page per category, the Data page...)
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
}


@dataclass(frozen=True)
class Viewer:
    """Who looks at a page: a signed-in user (with a CSRF token) or the admin API key."""

    name: str
    csrf: str | None


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("clm.web", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.globals["segment_colour"] = segment_colour
    env.filters["figure_json"] = lambda fig: json.dumps(fig, default=str, separators=(",", ":"))
    return env


log = logging.getLogger(__name__)
WARM_UP = "clm-dashboard-warm-up"  # the start-up thread's name (join it before closing)


class Dashboard:
    """The state behind the router: workspace access, users, signing key, page cache."""

    def __init__(
        self,
        open_workspace: OpenWorkspace,
        verify_admin_token: Callable[[str], bool],
        server_stats: Callable[[], dict[str, Any]] | None,
    ) -> None:
        self.open_workspace = open_workspace
        self.verify_admin_token = verify_admin_token
        self.server_stats = server_stats
        self.env = _environment()
        self._root: Path | None = None
        self._signer: Signer | None = None
        self._cache: dict[str, tuple[Any, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    # -- workspace, users, key ---------------------------------------------------------------

    def root(self) -> Path:
        if self._root is None:
            with self.open_workspace() as ws:
                self._root = Path(ws.root)
        return self._root

    def users(self) -> UserStore:
        return UserStore(self.root())

    def signer(self) -> Signer:
        if self._signer is None:
            self._signer = Signer(load_secret(self.root()))
        return self._signer

    # -- who is looking ---------------------------------------------------------------------

    def viewer(self, request: Request) -> Viewer | Response:
        """The viewer, or the response for a stranger (401 for a bad key, else to sign-in)."""
        header = request.headers.get("authorization")
        if header:
            scheme, _, key = header.partition(" ")
            if scheme.lower() == "bearer" and key.strip() and self.verify_admin_token(key.strip()):
                return Viewer("admin API key", None)
            return PlainTextResponse(
                "invalid API key", status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        token = request.cookies.get(SESSION_COOKIE)
        session = self.signer().read_session(token) if token else None
        if session is not None and self.users().exists(session.user):
            return Viewer(session.user, self.signer().csrf_token(session.nonce))
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        login = self.url(request, "dash_login")
        return RedirectResponse(f"{login}?next={quote(target, safe='')}", status_code=303)

    # -- rendering --------------------------------------------------------------------------

    def url(self, request: Request, route: str, **params: Any) -> str:
        return str(request.url_for(route, **params).path)

    def render(
        self,
        request: Request,
        template: str,
        viewer: Viewer | None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        def url(route: str, **params: Any) -> str:
            return self.url(request, route, **params)

        def asset(name: str) -> str:
            return f"{url('dash_static', name=name)}?v={static.version(name)}"

        nav = [{"key": key, "label": label, "url": url(key)} for key, label in NAV]
        html = self.env.get_template(template).render(
            viewer=viewer, url=url, static=asset, nav=nav, **context
        )
        return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)

    def page(
        self,
        request: Request,
        template: str,
        active: str,
        build: Callable[[Any], dict[str, Any]],
        cache_key: str | None = None,
    ) -> Response:
        """Check the viewer, build the context from the workspace, render the template;
        the ``Server-Timing`` header tells how long building and rendering took."""
        who = self.viewer(request)
        if not isinstance(who, Viewer):
            return who
        started = time.perf_counter()
        response = self._page(request, template, active, build, cache_key, who)
        elapsed = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"page;dur={elapsed:.1f}"
        return response

    def _page(
        self,
        request: Request,
        template: str,
        active: str,
        build: Callable[[Any], dict[str, Any]],
        cache_key: str | None,
        who: Viewer,
    ) -> Response:
        try:
            with self.open_workspace() as ws:
                context = self._cached(ws, cache_key, build) if cache_key else build(ws)
        except NotFound as exc:
            return self.render(
                request, "error.html", who, 404, active=active, message=str(exc), not_found=True
            )
        except ClmError as exc:
            return self.render(
                request, "error.html", who, 400, active=active, message=str(exc), not_found=False
            )
        if "redirect" in context:
            return RedirectResponse(context["redirect"], status_code=303)
        return self.render(request, template, who, active=active, **context)

    def _cached(self, ws: Any, key: str, build: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        """``build(ws)`` once per set of scoring runs (stored runs never change); the Data
        page once per state of the events, imports and runs; the automation pages once
        per state of the automations' files and tables."""
        if key == "data":
            signature: tuple[Any, ...] = ws.data_signature()
        elif key in ("automations", "experiments"):
            signature = ws.automations_signature()
        else:
            signature = tuple((r["run_id"], r["finished_at"]) for r in ws.runs())
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] == signature:
            return hit[1]
        value = build(ws)
        with self._lock:
            self._cache.pop(key, None)
            self._cache[key] = (signature, value)
            while len(self._cache) > CACHE_ENTRIES:  # the oldest first: dicts keep order
                del self._cache[next(iter(self._cache))]
        return value


def _warm_up(open_workspace: OpenWorkspace, env: jinja2.Environment) -> None:
    """Once at start, in the background: compile the page templates (Jinja2 keeps them;
    ~70 ms for the automations page's on its first request otherwise), parse the
    automation definitions (kept per file text by ``definitions.load``, ~0.1 s), count
    the events by type (the Data page then only adds the rows stored since,
    :func:`clm.store.data_summary.events_by_type`) and bring the events clustered by
    profile up to date (:mod:`clm.profiles.clustered`; a customer page reads the events
    after its mark from the table)."""
    try:
        for name in env.list_templates(extensions=["html"]):
            env.get_template(name)
        with open_workspace() as ws:
            ws.automation_definitions()
            data_summary.events_by_type(ws.con)
            ws.cluster_events()  # the events the server's writer appended since
    except Exception as exc:  # the pages do it themselves then
        log.info("dashboard: not warmed up at start: %s", type(exc).__name__)


def _safe_next(target: str | None, default: str) -> str:
    """Only a local path is a place to go after signing in (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def create_router(
    open_workspace: OpenWorkspace,
    verify_admin_token: Callable[[str], bool],
    server_stats: Callable[[], dict[str, Any]] | None = None,
) -> APIRouter:
    """The dashboard's routes: ``/`` (overview), ``/categories``, ``/customers``,
    ``/customers/{id}``, ``/automations``, ``/experiments``, ``/data``, ``/login``,
    ``/logout`` and ``/static/{name}``; none appears in the OpenAPI schema."""
    dash = Dashboard(open_workspace, verify_admin_token, server_stats)
    threading.Thread(
        target=_warm_up, args=(open_workspace, dash.env), name=WARM_UP, daemon=True
    ).start()
    router = APIRouter(include_in_schema=False)

    @router.get("/", name="dash_overview")
    def overview(request: Request) -> Response:
        return dash.page(request, "overview.html", "dash_overview", pages.overview, "overview")

    @router.get("/categories", name="dash_categories")
    def categories(request: Request, category: str | None = None) -> Response:
        return dash.page(
            request,
            "categories.html",
            "dash_categories",
            lambda ws: pages.categories(ws, category),
            f"categories:{category}",
        )

    @router.get("/customers", name="dash_customers")
    def customers(request: Request, q: str | None = None) -> Response:
        def build(ws: Any) -> dict[str, Any]:
            context = pages.customers(ws, q)
            exact = [r for r in context["results"] or [] if r["exact"]]
            if len(exact) == 1:
                return {"redirect": dash.url(request, "dash_customer", customer_id=exact[0]["id"])}
            return context

        return dash.page(request, "customers.html", "dash_customers", build)

    @router.get("/customers/{customer_id:path}", name="dash_customer")
    def customer(request: Request, customer_id: str) -> Response:
        return dash.page(
            request,
            "customer.html",
            "dash_customers",
            lambda ws: customer_page.customer(ws, customer_id),
        )

    @router.get("/automations", name="dash_automations")
    def automations(request: Request) -> Response:
        return dash.page(
            request,
            "automations.html",
            "dash_automations",
            automation_pages.automations,
            "automations",
        )

    @router.get("/experiments", name="dash_experiments")
    def experiments(request: Request) -> Response:
        return dash.page(
            request,
            "experiments.html",
            "dash_experiments",
            automation_pages.experiments,
            "experiments",
        )

    @router.get("/data", name="dash_data")
    def data(request: Request) -> Response:
        stats = dash.server_stats

        def build(ws: Any) -> dict[str, Any]:
            cached = dash._cached(ws, "data", lambda w: pages.data(w, None))
            return {**cached, "server": stats() if stats else None}  # health is always fresh

        return dash.page(request, "data.html", "dash_data", build)

    _auth_routes(router, dash)

    @router.get("/static/{name}", name="dash_static")
    def asset(request: Request, name: str) -> Response:
        return static.response(name, request.headers.get("accept-encoding", ""))

    return router


def _auth_routes(router: APIRouter, dash: Dashboard) -> None:
    """``GET/POST /login`` and ``POST /logout``."""

    def login_page(
        request: Request,
        status_code: int = 200,
        message: str | None = None,
        next_url: str | None = None,
        username: str = "",
    ) -> HTMLResponse:
        nonce = request.cookies.get(LOGIN_COOKIE) or new_nonce()
        response = dash.render(
            request,
            "login.html",
            None,
            status_code,
            csrf=dash.signer().csrf_token(nonce),
            message=message,
            next=_safe_next(next_url, dash.url(request, "dash_overview")),
            username=username,
            no_users=not dash.users().list(),
            workspace=str(dash.root()),
        )
        response.set_cookie(
            LOGIN_COOKIE,
            nonce,
            httponly=True,
            samesite="lax",
            path="/",
            secure=request.url.scheme == "https",
        )
        return response

    @router.get("/login", name="dash_login")
    def login_form(request: Request, next: str | None = None, signed_out: int = 0) -> Response:
        return login_page(
            request, message="You are signed out." if signed_out else None, next_url=next
        )

    @router.post("/login", name="dash_login_post")
    def login(
        request: Request,
        username: str = Form(""),
        password: str = Form(""),
        csrf: str = Form(""),
        next: str = Form(""),
    ) -> Response:
        if not dash.signer().check_csrf(request.cookies.get(LOGIN_COOKIE), csrf):
            return login_page(
                request, 400, "The sign-in form has expired: please try again.", next, username
            )
        if not dash.users().verify(username, password):
            return login_page(request, 401, "Wrong user name or password.", next, username)
        target = _safe_next(next, dash.url(request, "dash_overview"))
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            dash.signer().session_token(username),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="lax",
            path="/",
            secure=request.url.scheme == "https",
        )
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return response

    @router.post("/logout", name="dash_logout")
    def logout(request: Request, csrf: str = Form("")) -> Response:
        who = dash.viewer(request)
        if (
            isinstance(who, Viewer)
            and who.csrf is not None
            and not hmac.compare_digest(csrf, who.csrf)
        ):
            return PlainTextResponse("invalid form token", status_code=400)
        response = RedirectResponse(
            dash.url(request, "dash_login") + "?signed_out=1", status_code=303
        )
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
