"""Sign-in rules over real HTTP (a uvicorn server on 127.0.0.1, no browser)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from clm import Workspace
from clm.web.users import UserStore
from tests.web.conftest import PASSWORD, USER, Served, serve


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    UserStore(root).create(USER, PASSWORD)
    with serve(root, "none") as running:
        yield running


def signed_in(served: Served) -> httpx.Client:
    client = httpx.Client(base_url=served.url)
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    done = client.post(
        "/login",
        data={"username": USER, "password": PASSWORD, "csrf": token.group(1), "next": "/data"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/data"
    return client


def test_a_deleted_users_session_ends(served: Served) -> None:
    with contextlib.closing(signed_in(served)) as client:
        assert client.get("/data").status_code == 200
        UserStore(served.root).delete(USER)
        gone = client.get("/data")
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login")


def test_sign_out_needs_the_pages_form_token(served: Served) -> None:
    with contextlib.closing(signed_in(served)) as client:
        page = client.get("/data")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        assert client.post("/logout", data={"csrf": "forged"}).status_code == 400
        assert client.get("/data").status_code == 200  # still signed in
        out = client.post("/logout", data={"csrf": token.group(1)})
        assert out.status_code == 303
        assert "max-age=0" in out.headers["set-cookie"].lower()  # the cookie is deleted
        assert client.get("/data").status_code == 303


def test_pages_are_private_and_timed(served: Served) -> None:
    with contextlib.closing(signed_in(served)) as client:
        page = client.get("/data")
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-frame-options"] == "DENY"
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert re.fullmatch(r"page;dur=\d+\.\d", page.headers["server-timing"])
        assert client.get("/customers/../../clm.toml").status_code in (303, 404)
        assert client.get("/static/clm.toml").status_code == 404


def test_a_forged_session_cookie_is_refused(served: Served) -> None:
    with httpx.Client(base_url=served.url) as client:
        client.cookies.set("clm_session", "YW5hfDk5OTk5OTk5OTl8eA.c2lnbmF0dXJl")
        answer = client.get("/")
        assert answer.status_code == 303 and answer.headers["location"] == "/login?next=%2F"
