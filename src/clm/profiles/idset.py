"""The event ids an unbounded live state has applied, in 8 bytes each (its repeat check).

A live state built without a fold limit (a replay, tests) remembers every id it applied,
so a repeated ``messageId`` is ignored whenever it comes, as the database ignores it.
The server's bounded state leaves the check to the event stream instead, which needs no
memory per event (:mod:`clm.ingest.stream`: pending and recent ids, a Bloom filter and
the database). Hosted event APIs bound this with a window: Segment drops repeats
"within an approximately 24 hour look-back window", Amplitude an ``insert_id`` seen in
the last 7 days; a repeat arriving after the window would then count twice live while
the database stores it once, which clm does not allow.

An id is kept as its 64-bit hash (Python's ``hash`` of the string): the latest ids in a
``set``, older ones in sorted NumPy arrays merged in the manner of a log-structured
merge tree (each array at least twice the size of the next, so a lookup searches
``O(log n)`` arrays and each id is copied ``O(log n)`` times in all). Two different ids
with the same hash would make the second look like a repeat: with ``n`` ids stored the
chance for a new id is ``n / 2^64`` (5e-13 at 10 million).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

RECENT = 1 << 16  # ids kept in the set before they go to a sorted array

Hashes = npt.NDArray[np.int64]


class IdSet:
    """A set of event ids by hash (see the module docstring)."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._recent: set[int] = set()
        self._levels: list[Hashes] = []
        self._merge(np.unique(np.fromiter(map(hash, ids), np.int64)))

    def __contains__(self, event_id: object) -> bool:
        h = hash(event_id)
        if h in self._recent:
            return True
        for level in self._levels:
            i = int(level.searchsorted(h))
            if i < len(level) and level[i] == h:
                return True
        return False

    def contains(self, event_ids: list[str]) -> list[bool]:
        """Whether each id is in the set: one search per array for the whole list."""
        hashes = np.fromiter(map(hash, event_ids), np.int64, len(event_ids))
        found = np.fromiter((int(h) in self._recent for h in hashes), np.bool_, len(hashes))
        for level in self._levels:
            at = level.searchsorted(hashes).clip(max=len(level) - 1)
            found |= level[at] == hashes
        return [bool(f) for f in found]

    def __len__(self) -> int:
        return len(self._recent) + sum(len(level) for level in self._levels)

    def add(self, event_id: str) -> None:
        """Remember an id (the caller checked it is not in the set)."""
        self._recent.add(hash(event_id))
        if len(self._recent) >= RECENT:
            self._merge(np.sort(np.fromiter(self._recent, np.int64, len(self._recent))))
            self._recent = set()

    def hashes(self) -> Hashes:
        """Every id's hash, sorted (tests compare two sets with it)."""
        merged = np.concatenate([*self._levels, np.fromiter(self._recent, np.int64)])
        return np.sort(merged)

    def _merge(self, new: Hashes) -> None:
        """Add a sorted array, merging it with the levels not more than twice its size."""
        if not len(new):
            return
        while self._levels and len(self._levels[-1]) <= 2 * len(new):
            new = np.sort(np.concatenate((self._levels.pop(), new)), kind="stable")
        self._levels.append(new)
