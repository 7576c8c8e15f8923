"""Opens and clicks: signed links, an open pixel, events recorded once."""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest

from clm import NotFound, Workspace
from clm.automation import tracking
from clm.automation.outbox import enqueue
from tests.automation.factory import T0, message

SECRET = b"k" * 32


def hrefs(html: str) -> list[str]:
    """The href of every link, unescaped, read by the standard library's HTML parser."""
    found: list[str] = []

    class Links(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "a":
                found.extend(v or "" for k, v in attrs if k == "href")

    Links().feed(html)
    return found


def test_links_are_rewritten_and_the_pixel_goes_before_the_body_end() -> None:
    html = (
        "<html><body><a class='x' href='https://a.example/p?q=1&amp;r=2'>A</a> "
        '<A HREF="http://b.example/">B</A> <a href="mailto:x@y.example">M</a> '
        '<a href="#top">T</a></body></html>'
    )
    out = tracking.tracking_links(html, "m1", "https://t.example/", SECRET)
    links = hrefs(out)
    assert links[2:] == ["mailto:x@y.example", "#top"]
    targets = []
    for link in links[:2]:
        parsed = urlsplit(link)
        assert (parsed.netloc, parsed.path) == ("t.example", "/t/c/m1")
        query = parse_qs(parsed.query)
        # the signature is HMAC-SHA256(message_id \n url), computed here independently
        mac = hmac.new(SECRET, f"m1\n{query['u'][0]}".encode(), hashlib.sha256)
        assert query["s"] == [mac.hexdigest()[:32]]
        targets.append(query["u"][0])
    assert targets == ["https://a.example/p?q=1&r=2", "http://b.example/"]
    assert out.endswith(
        '<img src="https://t.example/t/o/m1.gif" width="1" height="1" alt="" '
        'style="display:none"></body></html>'
    )
    assert tracking.tracking_links("<p>hi</p>", "m1", "https://t.example", SECRET).startswith(
        "<p>hi</p><img"
    )


def test_verify_refuses_other_targets_and_other_messages() -> None:
    good = tracking.signature(SECRET, "m1", "https://a.example/")
    assert tracking.verify_click(SECRET, "m1", "https://a.example/", good)
    assert not tracking.verify_click(SECRET, "m1", "https://evil.example/", good)
    assert not tracking.verify_click(SECRET, "m2", "https://a.example/", good)
    assert not tracking.verify_click(b"other", "m1", "https://a.example/", good)


def test_the_workspace_secret_is_made_once_and_private(ws: Workspace) -> None:
    first = ws.tracking_secret()
    assert len(first) == 32 and ws.tracking_secret() == first
    mode = (ws.root / ".clm" / "tracking.key").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_opens_and_clicks_are_events_recorded_once(ws: Workspace) -> None:
    msg = message(1)
    enqueue(ws.con, [msg])
    mid = msg.message_id
    assert ws.record_open(mid, T0) is True
    assert ws.record_open(mid, T0 + timedelta(minutes=5)) is False
    url = "https://shop.example/beauty?c=1"
    sig = tracking.signature(ws.tracking_secret(), mid, url)
    for minutes in (1, 2):
        assert ws.record_click(mid, url, sig, T0 + timedelta(minutes=minutes)) == url
    other = "https://shop.example/other"
    ws.record_click(mid, other, tracking.signature(ws.tracking_secret(), mid, other), T0)
    rows = ws.con.execute(
        "SELECT event_id, customer_id, type, ts, properties FROM events ORDER BY event_id"
    ).fetchall()
    sha = hashlib.sha1(url.encode()).hexdigest()[:8]
    assert [r[0] for r in rows] == sorted(
        [
            f"msg:{mid}:opened",
            f"msg:{mid}:clicked:{sha}",
            f"msg:{mid}:clicked:{hashlib.sha1(other.encode()).hexdigest()[:8]}",
        ]
    )
    click = next(r for r in rows if r[0] == f"msg:{mid}:clicked:{sha}")
    assert click[1:4] == ("C1", "message_clicked", T0 + timedelta(minutes=1))
    assert json.loads(click[4]) == {
        "message_id": mid,
        "automation": "beauty-points",
        "channel": "email",
        "variant": "A",
        "url": url,
    }


def test_unsigned_links_and_unknown_messages_are_not_found(ws: Workspace) -> None:
    msg = message(1)
    enqueue(ws.con, [msg])
    with pytest.raises(NotFound, match="no such tracked link"):
        ws.record_click(msg.message_id, "https://evil.example/", "0" * 32, T0)
    with pytest.raises(NotFound, match="no message 'nope'"):
        ws.record_open("nope", T0)
    assert ws.con.execute("SELECT count(*) FROM events").fetchall() == [(0,)]
