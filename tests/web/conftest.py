"""A demo world served by a real uvicorn server on 127.0.0.1, and a headless chromium.

The world is built once per module (a few thousand profiles, three scoring runs a
month apart so that migration and history have data); the server runs a test
FastAPI app that includes the dashboard router, in a background thread.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from clm import Workspace
from clm.ingest import demo
from clm.web import create_router
from clm.web.router import WARM_UP
from clm.web.users import UserStore

ADMIN_KEY = "test-admin-key-0123456789"
USER, PASSWORD = "ana", "correct horse battery"


@dataclass
class Served:
    """A running dashboard: its base URL, workspace folder and the demo's seed customer."""

    url: str
    root: Path
    seed_customer: str
    stats_calls: list[int]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def workspace_opener(ws: Workspace) -> Any:
    """``open_workspace`` as ``clm serve`` gives it: a Workspace on a fresh DuckDB cursor."""

    @contextlib.contextmanager
    def open_workspace() -> Iterator[Workspace]:
        cursor = ws.con.cursor()
        try:
            yield Workspace(ws.root, ws.settings, cursor)
        finally:
            cursor.close()

    return open_workspace


@contextlib.contextmanager
def serve(root: Path, seed_customer: str) -> Iterator[Served]:
    """Serve the dashboard of the workspace at ``root`` until the block ends."""
    ws = Workspace.open(root)
    calls: list[int] = []

    def stats() -> dict[str, Any]:
        calls.append(1)
        return {"events_per_second": 1234.5, "events_total": 98765, "errors": 0}

    app = FastAPI()
    app.include_router(create_router(workspace_opener(ws), lambda k: k == ADMIN_KEY, stats))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", root, seed_customer, calls)
    finally:
        server.should_exit = True
        thread.join(10)
        for other in threading.enumerate():  # the dashboard's start-up work, if still going
            if other.name == WARM_UP:
                other.join(30)
        ws.close()


def build_world(root: Path, n_profiles: int = 2_000) -> str:
    """A demo world scored at three dates a month apart (oldest first, so each run's
    history refers to the one before); returns the seed customer's id."""
    with Workspace.init(root, name="dashboard-test") as ws:
        world = demo.build(ws, n_profiles, seed=5)
        for days in (60, 30):
            ws.score(world.as_of - timedelta(days=days))
        ws.score(world.as_of)  # scored again after the earlier dates: its history is theirs
        UserStore(root).create(USER, PASSWORD)
        return world.seed_customer_id


@pytest.fixture(scope="session")
def world_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The demo world, built once per test session and only read by the tests."""
    root = tmp_path_factory.mktemp("dashboard") / "ws"
    return root, build_world(root)


@pytest.fixture(scope="module")
def served(world_root: tuple[Path, str]) -> Iterator[Served]:
    with serve(*world_root) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield chromium
        chromium.close()


ALL_CHARTS_DRAWN = (
    "() => [...document.querySelectorAll('[data-figure]')]"
    ".every(el => el.querySelector('svg.main-svg'))"
)


class Console:
    """Console errors, uncaught exceptions and failed requests of a page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on(
            "response",
            lambda r: self.errors.append(f"{r.status} {r.url}") if r.status >= 404 else None,
        )


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(page: Any, served: Served, password: str = PASSWORD, path: str = "/") -> None:
    page.goto(served.url + path)
    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")


def shoot(page: Any, folder: Path, name: str) -> None:
    target = folder / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    copy_to = os.environ.get("CLM_SCREENS")
    if copy_to:
        Path(copy_to).mkdir(parents=True, exist_ok=True)
        shutil.copy(target, Path(copy_to) / target.name)
