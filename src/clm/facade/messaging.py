"""The outbox and the channels: delivery, banners, opens and clicks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from clm.errors import NotFound
from clm.facade.base import WorkspaceBase
from clm.ingest import tracking

if TYPE_CHECKING:
    from clm.automation.outbox import DeliveryStats


class Messaging(WorkspaceBase):
    """Outbox and channel methods of the facade."""

    def outbox(
        self,
        *,
        status: str | None = None,
        automation: str | None = None,
        customer_id: str | None = None,
        channel: str | None = None,
        limit: int = 100,
        with_content: bool = False,
    ) -> list[dict[str, Any]]:
        """Messages in the outbox, newest first, with their status and last error."""
        from clm.automation import outbox

        return outbox.messages(
            self.con,
            status=status,
            automation=automation,
            customer_id=customer_id,
            channel=channel,
            limit=limit,
            with_content=with_content,
        )

    def deliver(self, now: datetime | None = None, *, limit: int | None = None) -> DeliveryStats:
        """Send every message due at ``now`` (default: the current time, UTC) on the
        channels configured in ``clm.toml``; messages of an unconfigured channel wait."""
        from clm.automation import outbox
        from clm.automation.channels import opened

        when = now or datetime.now(UTC).replace(tzinfo=None)
        with opened(self.settings.channels, self.root) as channels:
            return outbox.deliver_configured(
                self.con, channels, when, self.settings.channels, limit=limit
            )

    def outbox_requeue(self, message_ids: list[str]) -> int:
        """Queue unknown or failed messages again; return how many were requeued."""
        from clm.automation import outbox

        return outbox.requeue(self.con, message_ids)

    def banner(
        self, customer_id: str, placement: str, now: datetime | None = None
    ) -> dict[str, Any] | None:
        """The live banner of a customer for a placement (records an impression), or None."""
        from clm.automation.outbox import banner_for

        return banner_for(
            self.con, customer_id, placement, now or datetime.now(UTC).replace(tzinfo=None)
        )

    def tracking_secret(self) -> bytes:
        """The key that signs click-tracking links (``.clm/tracking.key``)."""
        from clm.automation.tracking import workspace_secret

        return workspace_secret(self.root)

    def record_open(self, message_id: str, ts: datetime | None = None) -> bool:
        """Record an open of a message (once); False when it was already recorded. Under
        `clm serve` the event goes through the live stream (triggers and profiles see it)."""
        from clm.automation.tracking import record_open

        when = ts or datetime.now(UTC).replace(tzinfo=None)
        if self.stream is not None:
            return self._live_outcome(
                message_id, "message_opened", f"msg:{message_id}:opened", when, {}
            )
        return record_open(self.con, message_id, when)

    def record_click(
        self, message_id: str, url: str, signature: str, ts: datetime | None = None
    ) -> str:
        """Check a click link's signature, record the click (once per link), return the
        target. A link we did not sign raises :class:`NotFound` (no open redirect)."""
        from clm.automation import tracking

        if not tracking.verify_click(self.tracking_secret(), message_id, url, signature):
            raise NotFound(f"no such tracked link in message {message_id!r}")
        when = ts or datetime.now(UTC).replace(tzinfo=None)
        if self.stream is not None:
            event_id = tracking.click_event_id(message_id, url)
            self._live_outcome(message_id, "message_clicked", event_id, when, {"url": url})
            return url
        return tracking.record_click(self.con, message_id, url, when)

    def _live_outcome(
        self, message_id: str, kind: str, event_id: str, when: datetime, extra: dict[str, str]
    ) -> bool:
        from clm.automation.tracking import outcome

        customer_id, props = outcome(self.con, message_id, extra)
        record = tracking.EventRecord(
            event_id, customer_id, None, kind, tracking.micros(when), properties=props
        )
        return self._live().accept([record]) > 0
