"""One real SMTP server on 127.0.0.1 for the engine's tests: the runner delivers through it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.automation.servers import SmtpSink, smtp_server

PORT_VARIABLE = "CLM_TEST_SMTP_PORT"


@pytest.fixture(scope="session", autouse=True)
def mail_server() -> Iterator[SmtpSink]:
    """The sink behind the server whose port :func:`tests.automation.world.quiet_settings`
    configures as the workspace's email channel."""
    sink = SmtpSink()
    with smtp_server(sink) as port:
        os.environ[PORT_VARIABLE] = str(port)
        try:
            yield sink
        finally:
            os.environ.pop(PORT_VARIABLE, None)
