"""Channels: one module per way out, behind the narrow :class:`Channel` interface.

:func:`make_channels` builds every channel whose settings are complete (a channel with
a ``folder`` delivers into it: :mod:`clm.automation.channels.folder`);
:func:`missing_settings` says, per channel left out, which setting it lacks (the
outbox keeps such messages queued and shows that reason).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clm.automation.channels.banner import BannerChannel
from clm.automation.channels.base import (
    Channel,
    MemoryChannel,
    OutgoingMessage,
    RetryPolicy,
    SendResult,
    StagedChannel,
    close,
)
from clm.automation.channels.folder import FolderChannel
from clm.automation.channels.smtp import SmtpChannel
from clm.automation.channels.webhook import WebhookChannel
from clm.automation.templates import render_string
from clm.automation.tracking import workspace_secret
from clm.config import ChannelsSection, EmailChannelSection, HttpChannelSection
from clm.errors import TemplateError

__all__ = [
    "BannerChannel",
    "Channel",
    "FolderChannel",
    "MemoryChannel",
    "OutgoingMessage",
    "RetryPolicy",
    "SendResult",
    "SmtpChannel",
    "StagedChannel",
    "WebhookChannel",
    "make_channels",
    "missing_settings",
    "opened",
]

HTTP_CHANNELS = ("sms", "push", "webhook")


def missing_settings(settings: ChannelsSection) -> dict[str, str]:
    """Per unusable channel, the setting it lacks (channels absent here are usable)."""
    out: dict[str, str] = {}
    email = "" if settings.email.folder else _email_missing(settings.email)
    if email:
        out["email"] = email
    for name in HTTP_CHANNELS:
        section = getattr(settings, name)
        problem = "" if section.folder else _http_missing(name, section)
        if problem:
            out[name] = problem
    return out


def make_channels(settings: ChannelsSection, root: Path) -> dict[str, Channel]:
    """Every channel whose settings are complete (the banner channel always)."""
    missing = missing_settings(settings)
    channels: dict[str, Channel] = {"banner": BannerChannel()}
    if settings.email.folder:
        channels["email"] = FolderChannel(
            "email",
            root / settings.email.folder,
            settings.email.sender,
            concurrency=settings.email.concurrency,
            max_per_second=settings.email.max_per_second,
        )
    elif "email" not in missing:
        channels["email"] = _smtp(settings.email, root)
    for name in HTTP_CHANNELS:
        section = getattr(settings, name)
        if section.folder:
            channels[name] = FolderChannel(
                name,
                root / section.folder,
                concurrency=section.concurrency,
                max_per_second=section.max_per_second,
            )
        elif name not in missing:
            channels[name] = _webhook(name, section)
    return channels


def _smtp(email: EmailChannelSection, root: Path) -> SmtpChannel:
    return SmtpChannel(
        email.smtp_host,
        email.smtp_port,
        email.sender,
        username=email.username,
        password=os.environ.get(email.password_env, "") if email.password_env else "",
        starttls=email.starttls,
        timeout=email.timeout,
        retry=RetryPolicy(email.retries, email.backoff_seconds),
        track_base_url=email.track_base_url,
        secret=workspace_secret(root) if email.track_base_url else b"",
        concurrency=email.concurrency,
        max_per_second=email.max_per_second,
    )


def _webhook(name: str, section: HttpChannelSection) -> WebhookChannel:
    headers = dict(section.headers)
    headers.update({h: os.environ[var] for h, var in section.headers_env.items()})
    return WebhookChannel(
        name,
        section.url,
        headers=headers,
        body=section.body,
        timeout=section.timeout,
        retry=RetryPolicy(section.retries, section.backoff_seconds),
        concurrency=section.concurrency,
        max_per_second=section.max_per_second,
    )


def _email_missing(email: EmailChannelSection) -> str:
    if not email.smtp_host:
        return "channels.email.smtp_host is not set"
    if not email.sender:
        return "channels.email.sender is not set"
    if email.username and not email.password_env:
        return "channels.email.password_env is not set (channels.email.username is)"
    if email.password_env and email.password_env not in os.environ:
        return (
            f"channels.email.password_env names {email.password_env}, "
            "which is not set in the environment"
        )
    return ""


def _http_missing(name: str, section: HttpChannelSection) -> str:
    if not section.url:
        return f"channels.{name}.url is not set"
    absent = [var for var in section.headers_env.values() if var not in os.environ]
    if absent:
        return (
            f"channels.{name}.headers_env names {', '.join(sorted(absent))}, "
            "not set in the environment"
        )
    try:
        _check_templates(section.body, f"channels.{name}.body")
    except TemplateError as exc:
        return str(exc)
    return ""


def _check_templates(value: object, where: str) -> None:
    """Compile every string of a body template (a syntax error shows before any send)."""
    if isinstance(value, str):
        try:
            render_string(value, {}, where=where)
        except TemplateError as exc:
            if "syntax error" in str(exc):
                raise
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_templates(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_templates(item, f"{where}[{i}]")


@contextmanager
def opened(settings: ChannelsSection, root: Path) -> Iterator[dict[str, Channel]]:
    """:func:`make_channels`, closed on the way out (SMTP connections get their QUIT,
    HTTP clients their close) whatever happens in between."""
    channels = make_channels(settings, root)
    try:
        yield channels
    finally:
        for channel in channels.values():
            close(channel)
