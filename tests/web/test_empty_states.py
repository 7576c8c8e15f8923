"""Pages of a workspace without data, and of one with a single scoring run, say what to
do next instead of failing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from clm import Workspace
from clm.web.users import UserStore
from tests.web.conftest import (
    ALL_CHARTS_DRAWN,
    PASSWORD,
    USER,
    Console,
    Served,
    serve,
    shoot,
    sign_in,
)


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("empty") / "ws"
    Workspace.init(root).close()
    UserStore(root).create(USER, PASSWORD)
    with serve(root, "none") as running:
        yield running


@pytest.fixture(scope="module")
def one_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("one-run") / "ws"
    with Workspace.init(root) as ws:
        rows = [
            (f"c{i}", datetime(2024, 1 + i % 6, 1 + i, 12), 10.0 + i, ("books", "toys")[i % 2])
            for i in range(12)
        ]
        ws.import_transactions(
            pd.DataFrame(rows, columns=["customer_id", "ts", "amount", "category"])
        )
        ws.score("2024-06-30")
    UserStore(root).create(USER, PASSWORD)
    with serve(root, "c1") as running:
        yield running


EMPTY_TEXTS = {
    "/": "No scoring run yet",
    "/categories": "No scoring run yet",
    "/customers": "No scoring run yet",
    "/automations": "No automations yet: write one in definitions/automations/NAME.yaml",
    "/experiments": "No measured experiments yet: experiments are the automations' control",
    "/data": "No imports yet",
}


def test_an_empty_workspace_says_what_to_do_next(empty: Served, page: Any, tmp_path: Path) -> None:
    console = Console(page)
    sign_in(page, empty)
    for path, text in EMPTY_TEXTS.items():
        page.goto(empty.url + path)
        assert page.get_by_text(text).first.is_visible(), path
        shoot(page, tmp_path, "empty-" + (path.strip("/") or "overview"))
    assert console.errors == []


def test_the_login_page_of_a_workspace_without_users_says_how_to_add_one(
    tmp_path: Path, page: Any
) -> None:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    with serve(root, "none") as running:
        page.goto(running.url + "/")
        assert page.get_by_text("No users yet: create one with clm users create NAME").is_visible()


def test_one_scoring_run_shows_everything_but_migration(
    one_run: Served, page: Any, tmp_path: Path
) -> None:
    console = Console(page)
    sign_in(page, one_run)
    page.wait_for_function(ALL_CHARTS_DRAWN, timeout=15_000)
    assert page.get_by_text("Only one scoring run so far").is_visible()
    assert page.locator(".sankey").count() == 0
    shoot(page, tmp_path, "one-run-overview")
    page.goto(one_run.url + "/categories")
    page.wait_for_function(ALL_CHARTS_DRAWN, timeout=15_000)
    assert page.get_by_role("heading", name="Relations (lift)").is_visible()
    page.goto(one_run.url + "/customers/c1")
    page.wait_for_function(ALL_CHARTS_DRAWN, timeout=15_000)
    assert page.get_by_role("heading", name="Customer c1").is_visible()
    assert console.errors == []
