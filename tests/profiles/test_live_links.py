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
