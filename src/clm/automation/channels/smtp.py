"""Email over SMTP (:mod:`smtplib`): one connection per sending thread, kept open across a
delivery run (``channels.email.concurrency`` threads; a new transaction follows the
last one's reply on the same connection, RFC 5321 §3.3).

Each message is ``multipart/alternative`` (text, then HTML; written by
:mod:`clm.automation.channels.mime`) with a deterministic
``Message-ID: <{message_id}@{sender domain}>``, so a receiver can recognize a repeat.

The SMTP transaction is driven step by step (MAIL, RCPT, DATA, the content) so that
the *point of no return* is exactly the final ``.`` line: a server discards a
transaction whose connection drops before it (RFC 5321 §3.8), so everything up to
there can be retried safely. ``point_of_no_return()`` is called just before that line
is written; if the connection then breaks before the server's reply, the message may
or may not have arrived (RFC 1047) and the result is ``unknown``.

Replies: 2xx sent; 4xx (and connection problems before the point of no return) retry;
5xx failed, with the server's code and text (never the message or the address).
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime, parseaddr
from typing import Literal

from clm.automation.channels import mime
from clm.automation.channels.base import OutgoingMessage, RetryPolicy, SendResult
from clm.automation.tracking import tracking_links

_LEADING_DOT = re.compile(rb"(?m)^\.")


class SmtpFailure(Exception):
    """A reply that ends the transaction; ``status`` says what it means for the message."""

    def __init__(self, status: Literal["retry", "failed"], detail: str) -> None:
        super().__init__(detail)
        self.status: Literal["retry", "failed"] = status
        self.detail = detail


def _nothing() -> None:
    return None


class SmtpChannel:
    """Sends email through one SMTP server (``channels.email`` settings)."""

    name = "email"
    after_crash: Literal["hold"] = "hold"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str = "",
        password: str = "",
        starttls: bool = False,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        track_base_url: str = "",
        secret: bytes = b"",
        concurrency: int = 1,
        max_per_second: float = 0.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.concurrency, self.max_per_second = concurrency, max_per_second
        self.username, self._password = username, password
        self.starttls, self.timeout = starttls, timeout
        self.retry = retry or RetryPolicy()
        self.track_base_url, self._secret = track_base_url, secret
        self.envelope_sender = parseaddr(sender)[1] or sender
        self.domain = self.envelope_sender.rpartition("@")[2] or "clm.localhost"
        self._local = threading.local()  # one connection per sending thread
        self._open: set[smtplib.SMTP] = set()
        self._open_lock = threading.Lock()

    # -- the message -------------------------------------------------------------------

    def message_id_header(self, message_id: str) -> str:
        return f"<{message_id}@{self.domain}>"

    def payload(self, message: OutgoingMessage) -> bytes:
        """The MIME message as bytes (:mod:`clm.automation.channels.mime`): headers, the
        text part and the HTML part."""
        content = message.content
        html = content.get("html")
        if html and self.track_base_url:
            html = tracking_links(html, message.message_id, self.track_base_url, self._secret)
        headers = [
            ("From", mime.address(self.sender)),
            ("To", mime.address(str(content["to"]))),
            ("Subject", mime.header_text(str(content["subject"]))),
            ("Date", format_datetime(datetime.now(UTC))),
            ("Message-ID", self.message_id_header(message.message_id)),
        ]
        text = content.get("text")
        return mime.render(
            headers,
            None if text is None else str(text),
            str(html) if html else None,
            message.message_id,
        )

    # -- sending -----------------------------------------------------------------------

    def send(self, message: OutgoingMessage) -> SendResult:
        return self.send_staged(message, _nothing)

    def send_staged(
        self, message: OutgoingMessage, point_of_no_return: Callable[[], None]
    ) -> SendResult:
        to = parseaddr(str(message.content.get("to", "")))[1]
        if "@" not in to:
            return SendResult("failed", "no valid recipient address in the message")
        try:
            payload = self.payload(message)
        except (ValueError, KeyError) as exc:
            return SendResult("failed", f"cannot build the email: {type(exc).__name__}")
        for _ in range(2):  # a kept connection may have been closed by the server: reconnect
            reused = self._smtp is not None
            try:
                smtp = self._connection()
                self._envelope(smtp, to, payload)
            except SmtpFailure as exc:
                return SendResult(exc.status, exc.detail)
            except smtplib.SMTPServerDisconnected as exc:
                self._drop()
                if reused:
                    continue
                return SendResult("retry", self._unreachable(exc))
            except smtplib.SMTPException as exc:  # before OSError: it is one
                self._drop()
                return SendResult("retry", f"SMTP error: {type(exc).__name__}: {str(exc)[:200]}")
            except ssl.SSLError as exc:
                self._drop()
                return SendResult(
                    "retry",
                    f"TLS with the SMTP server {self.host}:{self.port} failed "
                    f"({type(exc).__name__}); check the server's certificate",
                )
            except OSError as exc:
                self._drop()
                if reused:
                    continue
                return SendResult("retry", self._unreachable(exc))
            return self._finish(smtp, point_of_no_return)
        return SendResult("retry", f"the SMTP server {self.host}:{self.port} closed the connection")

    def _envelope(self, smtp: smtplib.SMTP, to: str, payload: bytes) -> None:
        """MAIL, RCPT, DATA and the content without the final dot line."""
        self._expect(smtp, smtp.mail(self.envelope_sender), (250,), "MAIL FROM")
        self._expect(smtp, smtp.rcpt(to), (250, 251), "RCPT TO")
        self._expect(smtp, smtp.docmd("DATA"), (354,), "DATA")
        data = _LEADING_DOT.sub(b"..", payload)
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        smtp.send(data)

    def _finish(self, smtp: smtplib.SMTP, point_of_no_return: Callable[[], None]) -> SendResult:
        try:
            point_of_no_return()
        except BaseException:
            self._drop()  # the server holds an unfinished DATA: drop it, it discards it
            raise
        try:
            smtp.send(b".\r\n")
            code, reply = smtp.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            return SendResult(
                "unknown",
                f"the connection broke after the message was handed over ({type(exc).__name__})",
            )
        text = reply.decode(errors="replace")
        if 200 <= code < 300:
            return SendResult("sent", provider_id=text[:200] or None)
        status: Literal["retry", "failed"] = "retry" if 400 <= code < 500 else "failed"
        return SendResult(status, f"the server refused the message: {code} {text[:200]}")

    def _expect(
        self, smtp: smtplib.SMTP, answer: tuple[int, bytes], ok: tuple[int, ...], step: str
    ) -> None:
        code, reply = answer
        if code in ok:
            return
        if code == -1 or code == 421:
            raise smtplib.SMTPServerDisconnected(f"{step}: {code}")
        try:
            smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()
        status: Literal["retry", "failed"] = "failed" if 500 <= code < 600 else "retry"
        text = reply.decode(errors="replace")[:200]
        raise SmtpFailure(status, f"{step} refused: {code} {text}")

    @property
    def _smtp(self) -> smtplib.SMTP | None:
        """This thread's connection, if it has one."""
        smtp: smtplib.SMTP | None = getattr(self._local, "smtp", None)
        return smtp

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            # The content and the final dot go in two writes (the mark sits between them):
            # without TCP_NODELAY, Nagle's algorithm holds the dot until the server's delayed
            # ACK, some 40 ms per message.
            if smtp.sock is not None:
                smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            smtp.ehlo()
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self._password)
        except smtplib.SMTPAuthenticationError as exc:
            smtp.close()
            raise SmtpFailure(
                "retry",
                f"the SMTP server refused the login ({exc.smtp_code}); check "
                "channels.email.username and the password in channels.email.password_env",
            ) from exc
        except BaseException:
            smtp.close()
            raise
        self._local.smtp = smtp
        with self._open_lock:
            self._open.add(smtp)
        return smtp

    def _unreachable(self, exc: BaseException) -> str:
        return f"cannot reach the SMTP server {self.host}:{self.port} ({type(exc).__name__})"

    def _drop(self) -> None:
        """Close this thread's connection (without QUIT)."""
        smtp = self._smtp
        if smtp is not None:
            self._local.smtp = None
            with self._open_lock:
                self._open.discard(smtp)
            smtp.close()

    def close(self) -> None:
        """Say QUIT on every open connection and close them (after the sending threads
        are done)."""
        with self._open_lock:
            connections, self._open = list(self._open), set()
        for smtp in connections:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            finally:
                smtp.close()
        self._local = threading.local()
