"""Local receivers for the send benchmark, each run in its own process on 127.0.0.1.

``python benchmarks/receivers.py smtp PORT LOG``: an aiosmtpd server that accepts every
message and appends its ``Message-ID`` to LOG. ``python benchmarks/receivers.py http PORT
LOG``: a threading HTTP server that answers every POST with 200 and ``{"id": ...}`` and
appends its ``Idempotency-Key`` header to LOG. Both print ``ready`` once listening and
stop on SIGTERM. The logs are the benchmark's independent count of what arrived.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def smtp(port: int, log: Path) -> None:
    from aiosmtpd.controller import Controller

    sink = log.open("a", buffering=1)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            mail = message_from_bytes(envelope.original_content or envelope.content)
            sink.write(f"{mail.get('Message-ID', '')}\n")
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    _wait(controller.stop)


def http(port: int, log: Path) -> None:
    sink = log.open("a", buffering=1)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stall

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            key = self.headers.get("Idempotency-Key", "")
            with lock:
                sink.write(f"{key}\n")
            body = json.dumps({"id": key}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _wait(server.shutdown)


def _wait(stop: Any) -> None:
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print("ready", flush=True)
    done.wait()
    stop()


if __name__ == "__main__":
    kind, port, log = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    {"smtp": smtp, "http": http}[kind](port, log)
