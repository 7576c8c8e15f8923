"""A real ``clm serve`` process on 127.0.0.1 for the API tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

STARTUP_SECONDS = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clm_executable() -> str:
    return str(Path(sys.executable).with_name("clm"))


def start(root: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """Start ``clm serve`` and wait until it answers."""
    handle = log.open("ab")
    process = subprocess.Popen(
        [clm_executable(), "serve", "-w", str(root), "--port", str(port)],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"clm serve exited: {log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"clm serve did not answer in time: {log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop gracefully (SIGTERM, as Ctrl-C would)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running(root: Path, log: Path) -> Iterator[str]:
    """A server for the block; yields its URL."""
    port = free_port()
    process = start(root, port, log)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)
