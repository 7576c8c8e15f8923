"""Real servers on 127.0.0.1 for the channel tests: SMTP (aiosmtpd) and HTTP (http.server)."""

from __future__ import annotations

import email
import json
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: Message


@dataclass
class SmtpSink:
    """An aiosmtpd handler that keeps every accepted message.

    ``on_data`` runs when a message's final dot arrives, before the server answers;
    ``refuse_rcpt`` makes RCPT TO answer with that reply.
    """

    received: list[Received] = field(default_factory=list)
    on_data: Callable[[int], None] | None = None
    refuse_rcpt: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        with self.lock:
            self.received.append(
                Received(
                    str(envelope.mail_from),
                    list(envelope.rcpt_tos),
                    email.message_from_bytes(content),
                )
            )
            n = len(self.received)
        if self.on_data is not None:
            self.on_data(n)
        return "250 2.0.0 Ok: queued"

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def by_message_id(self) -> Counter[str]:
        with self.lock:
            return Counter(str(r.message["Message-ID"]) for r in self.received)


@contextmanager
def smtp_server(
    sink: SmtpSink,
    port: int | None = None,
    logins: dict[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
) -> Iterator[int]:
    """Run ``sink`` behind a real SMTP server on 127.0.0.1; yields the port.

    ``tls`` offers STARTTLS and refuses mail before it.
    """
    port = port or free_port()
    kwargs: dict[str, Any] = {}
    if tls is not None:
        kwargs.update(tls_context=tls, require_starttls=True)
    if logins is not None:

        def authenticate(
            server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and logins.get(data.login.decode()) == data.password.decode()
            )
            return AuthResult(success=ok, handled=False)

        # PLAIN only: aiosmtpd's LOGIN stalls after smtplib falls back to it on a refusal
        kwargs.update(
            authenticator=authenticate,
            auth_require_tls=tls is not None,
            auth_exclude_mechanism=["LOGIN"],
        )
    controller = Controller(sink, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@dataclass
class HttpRequest:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class HttpSink:
    """Answers POSTs from a script of status codes (200 when it runs out)."""

    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    requests: list[HttpRequest] = field(default_factory=list)
    on_request: Callable[[int], None] | None = None  # runs before the answer
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 200


@contextmanager
def http_server(sink: HttpSink) -> Iterator[str]:
    """Run ``sink`` behind a real HTTP server on 127.0.0.1; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            if len(raw) < length:  # the client died mid-body: nothing arrived (a real
                return  # server drops an incomplete request; a crash test killed one)
            with sink.lock:
                sink.requests.append(
                    HttpRequest(self.path, dict(self.headers.items()), json.loads(raw or b"null"))
                )
                n = len(sink.requests)
            if sink.on_request is not None:
                sink.on_request(n)
            if sink.delay:
                time.sleep(sink.delay)
            status = sink.next_status()
            body = json.dumps({"id": f"prov-{len(sink.requests)}"}).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
