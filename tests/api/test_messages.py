"""Banners, open pixels and tracked clicks through a real ``clm serve`` (issue 6, items 6–7)."""

from __future__ import annotations

from pathlib import Path

import httpx

from clm import Workspace
from clm.api.keys import KeyStore
from clm.automation import outbox, tracking
from tests.api import server
from tests.automation.factory import T0, message


def test_banners_opens_and_clicks(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    with Workspace.init(root) as ws:
        banner = message(1, "banner", {"placement": "home", "content": {"title": "Hi"}})
        email = message(2)
        outbox.enqueue(ws.con, [banner, email])
        ws.deliver(T0)  # the banner goes live; email is not configured and waits
        secret = ws.tracking_secret()
    _, ingest = KeyStore(root).create("ingest")
    url = "https://shop.example/beauty?c=2"
    with server.running(root, tmp_path / "serve.log") as base, httpx.Client(base_url=base) as c:
        shown = c.get("/v1/banners/C1", params={"placement": "home"}, auth=(ingest, ""))
        assert shown.status_code == 200
        assert shown.json()["banner"]["content"] == {"title": "Hi"}
        assert c.get("/v1/banners/C1", params={"placement": "home"}).status_code == 401
        none = c.get("/v1/banners/C1", params={"placement": "cart"}, auth=(ingest, ""))
        assert none.json() == {"banner": None}
        for _ in range(2):
            pixel = c.get(f"/t/o/{email.message_id}.gif")
            assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
        assert c.get("/t/o/unknown.gif").status_code == 200
        signed = tracking.signature(secret, email.message_id, url)
        click = c.get(f"/t/c/{email.message_id}", params={"u": url, "s": signed})
        assert (click.status_code, click.headers["location"]) == (302, url)
        forged = c.get(
            f"/t/c/{email.message_id}", params={"u": "https://evil.example", "s": signed}
        )
        assert forged.status_code == 404
    with Workspace.open(root) as ws:
        rows = ws.con.execute(
            "SELECT type, count(*) FROM events WHERE customer_id = 'C2' GROUP BY type ORDER BY 1"
        ).fetchall()
        impressions = ws.con.execute("SELECT count(*) FROM banner_impressions").fetchall()
    assert rows == [("message_clicked", 1), ("message_opened", 1)]
    assert impressions == [(1,)]
