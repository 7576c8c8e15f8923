"""``clm serve --host 0.0.0.0`` (or ``::``) writes a URL the local ``clm`` can reach into
``.clm/serve.json`` (issue 5 review, item 11)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from clm import Workspace
from clm.store.serving import local_url
from tests.api import server


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("0.0.0.0", "http://127.0.0.1:8000"),
        ("", "http://127.0.0.1:8000"),
        ("::", "http://[::1]:8000"),
        ("::1", "http://[::1]:8000"),
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("shop.example", "http://shop.example:8000"),
    ],
)
def test_local_url(host: str, url: str) -> None:
    assert local_url(host, 8000) == url


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_a_wildcard_host_writes_a_reachable_url(tmp_path: Path, host: str) -> None:
    if host == "::" and not _ipv6_loopback():
        pytest.skip("no IPv6 loopback on this machine")
    root = tmp_path / "ws"
    Workspace.init(root).close()
    port = server.free_port()
    log = (tmp_path / "serve.log").open("ab")
    process = subprocess.Popen(
        [server.clm_executable(), "serve", "-w", str(root), "--port", str(port), "--host", host],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
    )
    try:
        serve_file = root / ".clm" / "serve.json"
        deadline = time.monotonic() + server.STARTUP_SECONDS
        while not serve_file.exists() and time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)
        url = json.loads(serve_file.read_text())["url"]
        assert url == local_url(host, port)
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        status = subprocess.run(
            [server.clm_executable(), "status", "-w", str(root), "--json"],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
        )
        assert status.returncode == 0, status.stderr
        assert '"server"' in status.stdout
    finally:
        server.stop(process)
        log.close()
