"""Identity links as of a date, live and in the batch (issue 5 review, items 4 and 5): a
link counts from its time on, so scoring as of a date before it still sees the visitor
on its own; the live profiles and ``clm score`` agree on the reviewer's scenario."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from clm import Workspace
from tests.profiles.test_live import assert_same_as_batch

NOW = datetime(2011, 12, 20, tzinfo=UTC)


def purchase(message_id: str, ts: str, amount: float, **who: str) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Order Completed",
        "messageId": message_id,
        "timestamp": ts,
        "properties": {"revenue": amount},
        **who,
    }


def test_a_link_dated_after_the_as_of_date_does_not_merge_the_visitor_yet(
    ws: Workspace,
) -> None:
    stream = ws.start_stream()
    try:
        ws.track(
            "batch",
            {
                "batch": [
                    purchase("v-1", "2011-12-01T10:00:00Z", 10.0, anonymousId="a-1"),
                    purchase("c-1", "2011-12-05T10:00:00Z", 20.0, userId="c-1"),
                    purchase("o-1", "2011-11-20T10:00:00Z", 30.0, userId="c-2"),
                    {
                        "type": "identify",
                        "messageId": "i-1",
                        "userId": "c-1",
                        "anonymousId": "a-1",
                        "timestamp": "2011-12-09T10:00:00Z",
                    },
                ]
            },
            NOW,
        )
        run = ws.score()
        assert str(run.as_of) == "2011-12-05"  # the latest event's date: the link is later
        live = stream.live
        assert_same_as_batch(ws, live)
        visitor = live.scores(("a", "a-1"))
        customer = live.scores(("c", "c-1"))
        assert visitor is not None and visitor["n_orders_life"] == 1
        assert customer is not None and customer["n_orders_life"] == 1
        assert ws.live_customer("a-1")["scores"]["n_orders_life"] == 1  # the visitor itself
        # an event after the link moves the as-of date past it: now the visitor is merged
        ws.track("track", purchase("c-2", "2011-12-10T10:00:00Z", 5.0, userId="c-2"), NOW)
        run = ws.score()
        assert str(run.as_of) == "2011-12-10"
        assert_same_as_batch(ws, live)
        merged = live.scores(("c", "c-1"))
        assert merged is not None and merged["n_orders_life"] == 2
        assert live.key_of("a-1") == ("c", "c-1")
    finally:
        ws.stop_stream()


def test_an_anonymous_identify_with_an_email_makes_a_loyal_visitor_live_and_in_the_batch(
    ws: Workspace,
) -> None:
    stream = ws.start_stream()
    try:
        visit = {"anonymousId": "a-9", "messageId": "p-9", "timestamp": "2011-12-05T09:00:00Z"}
        ws.track("page", visit, NOW)
        anonymous = {
            "anonymousId": "a-9",
            "messageId": "i-9",
            "timestamp": "2011-12-05T09:01:00Z",
            "traits": {"email": "v9@example.com"},
        }
        ws.track("identify", anonymous, NOW)
        ws.track("identify", anonymous, NOW)  # a repeat adds nothing
        live = stream.live
        seen = live.scores(("a", "a-9"))
        assert seen is not None and seen["segment"] == "Loyal Visitors"
        ws.track("track", purchase("o-1", "2011-12-01T10:00:00Z", 30.0, userId="c-1"), NOW)
        ws.score()
        assert_same_as_batch(ws, live)
        # linked later the same day: the visitor's email counts for the customer
        ws.track(
            "identify",
            {"userId": "c-9", "anonymousId": "a-9", "timestamp": "2011-12-05T09:02:00Z"},
            NOW,
        )
        linked = live.scores(("c", "c-9"))
        assert linked is not None and linked["segment"] == "Loyal Visitors"
        ws.score()
        assert_same_as_batch(ws, live)
    finally:
        ws.stop_stream()
