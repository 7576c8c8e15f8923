"""The quarantine file and the refused events it remembers (clm.ingest.quarantine)."""

from __future__ import annotations

import json
from pathlib import Path

from clm.ingest.journal import to_journal
from clm.ingest.quarantine import QUARANTINE, RefusedEvents, keep
from clm.ingest.tracking import EventRecord, LinkRecord

BAD = EventRecord("e-1", "c-1", None, "purchase", 1_700_000_000_000_000, "shoes", 10, "o-1")


def test_the_same_record_is_a_repeat_and_another_with_its_id_is_not(tmp_path: Path) -> None:
    keep(tmp_path, to_journal(BAD), ValueError("refused"))
    keep(tmp_path, {"journal_line_ending_at": [1, 20]}, ValueError("damaged"))
    keep(tmp_path, to_journal(LinkRecord("m-1", "a-1", "c-1", 1)), ValueError("refused"))
    path = tmp_path / QUARANTINE
    assert path.stat().st_mode & 0o777 == 0o600
    with path.open("ab") as file:
        file.write(b'{"rejected_at": "2026-')  # a line cut short by a crash
    refused = RefusedEvents.load(path)
    assert len(refused) == 1  # the event only
    fixed = EventRecord("e-1", "c-1", None, "purchase", BAD.ts, "shoes", 11, "o-1")
    other = EventRecord("e-2", "c-1", None, "visit", BAD.ts)
    assert [refused.is_repeat(r) for r in (BAD, fixed, other)] == [True, False, False]
    kept = [json.loads(line) for line in path.read_text().splitlines()[:3]]
    reasons = [k["reason"] for k in kept]
    assert reasons == ["ValueError: refused", "ValueError: damaged", "ValueError: refused"]


def test_the_newest_refused_events_are_kept_within_the_capacity() -> None:
    refused = RefusedEvents(capacity=2)
    records = [EventRecord(f"e-{i}", "c-1", None, "visit", i) for i in range(3)]
    for record in records:
        refused.remember(to_journal(record))
    refused.remember(to_journal(records[1]))  # again: the newest now
    refused.remember(to_journal(EventRecord("e-3", "c-1", None, "visit", 3)))
    assert len(refused) == 2
    assert [refused.is_repeat(r) for r in records] == [False, True, False]


def test_a_retry_stamped_anew_by_its_sdk_is_the_same_record() -> None:
    def sent(at: str, **more: object) -> EventRecord:
        props = {"revenue": 1, "_extra": {"sentAt": at, "_metadata": {"try": at}, **more}}
        return EventRecord("e-9", "c-1", None, "purchase", 5, None, 10_000, None, props)

    refused = RefusedEvents()
    refused.remember(to_journal(sent("2026-12-02T10:00:00Z")))
    assert refused.is_repeat(sent("2026-12-02T10:00:07Z"))
    assert not refused.is_repeat(sent("2026-12-02T10:00:07Z", channel="web"))  # other content
