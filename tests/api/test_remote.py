"""The local CLI through a server that answers something other than JSON (a proxy's error
page, another program on the port) says so clearly (issue 5 review, item 10)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from clm.cli.remote import RemoteWorkspace
from clm.errors import ClmError, NotFound
from clm.store.serving import Served

ANSWERS = {
    "/v1/admin/status": (502, b"<html><body>Bad Gateway</body></html>"),
    "/v1/admin/segments": (200, b"<html>a web page</html>"),
    "/v1/profiles/x": (404, b""),
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code, body = ANSWERS[self.path]
        self.send_response(code)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def remote() -> Iterator[RemoteWorkspace]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    workspace = RemoteWorkspace(Served(0, f"http://127.0.0.1:{httpd.server_port}", "t"))
    try:
        yield workspace
    finally:
        workspace.close()
        httpd.shutdown()
        httpd.server_close()


def test_non_json_answers_give_a_clear_error(remote: RemoteWorkspace) -> None:
    with pytest.raises(ClmError, match=r"refused: <html><body>Bad Gateway"):
        remote.status()
    with pytest.raises(ClmError, match=r"HTTP 200 with something other than JSON \(text/html\)"):
        remote.latest_run()
    with pytest.raises(NotFound, match="not found"):
        remote.customer("x")
