"""Which of a request's events the event stream has taken before (:mod:`clm.ingest.stream`).

The live state is bounded, so the stream checks event ids itself, exactly: an id accepted
but not written yet is in a set (the pending ids), the latest ids written in a bounded one
(:mod:`clm.ingest.recent_ids`), every other id seen in a Bloom filter
(:mod:`clm.profiles.bloom`) whose "maybe" is settled by the database (a request repeating
an older event, or a rare false "maybe", costs one lookup). A refused event's id is not
stored: only the same refused record sent again is a repeat
(:class:`clm.ingest.quarantine.RefusedEvents`).
"""

from __future__ import annotations

from collections.abc import Callable, Container

from clm.ingest.quarantine import RefusedEvents
from clm.ingest.tracking import EventRecord, Record
from clm.profiles.bloom import Bloom, hashes_of


def fresh(
    records: list[Record],
    *,
    pending: Container[str],
    recent: Container[str],
    seen: Bloom,
    refused: RefusedEvents,
    stored: Callable[[list[str]], set[str]],
) -> tuple[list[Record], int]:
    """The records but repeated events, and the number of repeats. An event repeats one
    taken before when its id is pending, written lately, earlier in the request or stored
    (a "maybe" of ``seen`` that ``stored`` settles), or when it is a refused record sent
    again (that record only: another one with its id in the same request is taken). Read
    the pending ids first: an id leaves them only once its write committed and it is in
    the recent ids, so the database has it by then."""
    again = (
        [isinstance(r, EventRecord) and refused.is_repeat(r) for r in records] if refused else []
    )
    events = [r.event_id for r in records if isinstance(r, EventRecord)]
    repeats = {e for e in events if e in pending or e in recent}
    maybe = seen.contains_many(hashes_of(events))
    asked = [e for e, m in zip(events, maybe, strict=True) if m and e not in repeats]
    if asked:
        repeats |= stored(asked)
    out: list[Record] = []
    ids: set[str] = set()
    duplicates = 0
    for n, record in enumerate(records):
        if isinstance(record, EventRecord):
            eid = record.event_id
            if eid in repeats or eid in ids or (again and again[n]):
                duplicates += 1
                continue
            ids.add(eid)
        out.append(record)
    return out, duplicates
