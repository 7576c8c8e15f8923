"""Properties of delivery under any sequence of channel answers (hypothesis).

A scripted channel answers each send from a drawn sequence; deliver runs again and
again as time passes. Whatever the answers, a message is sent at most once, each
try is counted, the waits double, and every message ends sent, failed or unknown.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from clm.automation.channels.base import OutgoingMessage, RetryPolicy, SendResult, Status
from clm.automation.outbox import deliver, enqueue, messages
from clm.store.database import connect, migrate
from tests.automation.factory import T0, message

ANSWERS: list[Status] = ["sent", "retry", "retry", "failed", "unknown"]


@dataclass
class Scripted:
    """Answers from a list (then "sent"); logs every send."""

    answers: list[Status]
    retry: RetryPolicy
    name: str = "email"
    log: list[tuple[str, Status, datetime]] = field(default_factory=list)
    now: datetime = T0

    def send(self, message: OutgoingMessage) -> SendResult:
        status = self.answers.pop(0) if self.answers else "sent"
        self.log.append((message.message_id, status, self.now))
        return SendResult(status, f"scripted {status}")


def fresh() -> duckdb.DuckDBPyConnection:
    con = connect(Path(":memory:"))
    migrate(con)
    return con


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 6),
    answers=st.lists(st.sampled_from(ANSWERS), max_size=30),
    retries=st.integers(0, 3),
    backoff=st.sampled_from([0.0, 30.0, 60.0]),
    step_seconds=st.sampled_from([10, 45, 300]),
)
def test_any_answers_keep_the_outbox_invariants(
    n: int, answers: list[Status], retries: int, backoff: float, step_seconds: int
) -> None:
    con = fresh()
    enqueue(con, [message(i) for i in range(n)])
    channel = Scripted(list(answers), RetryPolicy(retries, backoff))
    now = T0
    for _ in range(200):
        channel.now = now
        deliver(con, {"email": channel}, now)
        if not messages(con, status="retrying") and not messages(con, status="queued"):
            break
        now += timedelta(seconds=step_seconds)
    rows = {r["message_id"]: r for r in messages(con, limit=100)}
    assert {r["status"] for r in rows.values()} <= {"sent", "failed", "unknown"}

    tries = Counter(mid for mid, _, _ in channel.log)
    sent_events = dict(
        con.execute(
            "SELECT properties->>'message_id', count(*) FROM events "
            "WHERE type = 'message_sent' GROUP BY 1"
        ).fetchall()
    )
    for mid, row in rows.items():
        history = [(s, t) for m, s, t in channel.log if m == mid]
        statuses = [s for s, _ in history]
        assert row["attempts"] == tries[mid] == len(history)
        # nothing after a final answer: sent, failed and unknown end the story
        assert all(s == "retry" for s in statuses[:-1])
        assert statuses.count("sent") == sent_events.get(mid, 0) == (row["status"] == "sent")
        if row["status"] == "failed":
            assert statuses[-1] == "failed" or statuses == ["retry"] * (retries + 1)
        if row["status"] == "unknown":
            assert statuses[-1] == "unknown"
        assert len(history) <= retries + 1
        # the wait after the k-th retry is at least backoff * 2**(k-1)
        for k in range(1, len(history)):
            waited = (history[k][1] - history[k - 1][1]).total_seconds()
            assert waited >= backoff * 2 ** (k - 1)
    con.close()
