"""The ids of the latest events written, exactly, in a bounded first-in first-out set.

A client that did not see an answer sends the same event again, usually within seconds
(Segment's SDKs retry with backoff). The event stream finds such a repeat here without
asking the database; an id that has left this set is still found, by the Bloom filter
and the database (:mod:`clm.ingest.stream`). The set holds at most ``capacity`` ids, so
its memory does not grow with the events.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

CAPACITY = 200_000


class RecentIds:
    """The last ``capacity`` ids added (each id added once), exactly."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._ids: set[str] = set()
        self._order: deque[str] = deque()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add_many(self, ids: Iterable[str]) -> None:
        """Remember ids (new ones: an id already held is not added again), forgetting the
        oldest beyond the capacity."""
        for event_id in ids:
            if event_id not in self._ids:
                self._ids.add(event_id)
                self._order.append(event_id)
                if len(self._order) > self.capacity:
                    self._ids.discard(self._order.popleft())
