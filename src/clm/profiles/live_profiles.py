"""Live profiles: the state, the calibration in use, and every profile's current segment.

:class:`LiveProfiles` answers what the server reads: one profile's live scores
(computed on read, so always current), the segment counts and the profiles of a
segment. Segments of the whole population are kept incrementally: an event marks its
profile dirty and a read re-scores only the dirty profiles, unless the as-of date
moved or a new calibration was published, when every profile is re-scored once.

Profiles are listed a page at a time in id order from sorted indexes (all profiles,
and each segment's), kept up to date as profiles enter and leave segments: a
``SortedList`` (Grant Jenks' ``sortedcontainers``) inserts and removes in O(log n) and
reads a page in O(log n + limit), where sorting the population per page was O(n log n).
"""

from __future__ import annotations

import threading
from collections import Counter
from contextlib import AbstractContextManager
from datetime import date
from typing import Any

from sortedcontainers import SortedList

from clm.profiles import live_scores
from clm.profiles.live import Key, LiveState, Traits
from clm.profiles.live_scores import LiveCalibration, to_datetime


def _signed_up(traits: Traits | None, day: date) -> bool:
    return traits is not None and (
        traits.signup_at is None or traits.signup_at < live_scores.day_end(day)
    )


class LiveProfiles:
    """The live single customer view of every profile (see the module docstring)."""

    def __init__(
        self, state: LiveState, calibration: LiveCalibration | None, window_days: int
    ) -> None:
        self.state = state
        self.calibration = calibration
        self.window_days = window_days
        self.segment_of: dict[Key, str] = {}
        self.counts: Counter[str] = Counter()
        self.changes: dict[Key, tuple[str, date]] = {}
        self._scored_for: tuple[date, int] | None = None
        self._full = threading.Lock()
        # (id, kind) of every profile in segment_of, and of each segment's: in listing order
        self._listed: SortedList = SortedList()
        self._listed_by: dict[str, SortedList] = {}

    def as_of(self) -> date:
        """The live as-of date: the latest event's date, or the calibration's if later."""
        latest = self.state.latest_ts
        day = to_datetime(latest).date() if latest is not None else None
        cal = self.calibration.as_of if self.calibration else None
        candidates = [d for d in (day, cal) if d is not None]
        return max(candidates) if candidates else date.today()

    def publish(self, calibration: LiveCalibration) -> None:
        """Use a new scoring run's calibration from now on."""
        self.calibration = calibration
        self.changes.clear()

    # -- one profile -------------------------------------------------------------------------

    def scores(
        self, key: Key, as_of: date | None = None, *, settle: bool = True
    ) -> dict[str, Any] | None:
        """RFM inputs and scores, segment and phase of a profile; None if it has no facts.
        ``settle``: first build again the ledgers a failed history read left short (a
        population's re-score does it once per chunk instead: a read that keeps failing
        is tried once per chunk, not once per profile)."""
        if settle and self.state.unsettled:
            self.state.settle()
        day = as_of or self.as_of()
        parts = self.state.facts_of(key, live_scores.day_end(day))
        traits = self.state.traits.get(key[1]) if key[0] == "c" else None
        if not any(f.counts for f in parts) and not _signed_up(traits, day):
            return None  # as in the batch: a profile has events, or signed up by the date
        inputs = live_scores.rfm_inputs(parts, traits, day, self.window_days)
        cal = self.calibration.calibration if self.calibration else None
        return {"as_of": day.isoformat(), **live_scores.scores(inputs, cal)}

    def live_view(self, key: Key) -> dict[str, Any] | None:
        """The parts of the single customer view that events move, computed now."""
        row = self.scores(key)
        if row is None:
            return None
        day = self.as_of()
        parts = self.state.facts_of(key, live_scores.day_end(day))
        cal = self.calibration
        merged = live_scores.merged_activity(
            parts, self.state.half_life_short, self.state.half_life_long
        )
        activity = live_scores.activity_rows(merged, day, cal.calibration if cal else None)
        return {
            "scores": row,
            "events": live_scores.event_counts(parts),
            "latest_purchases": live_scores.latest_purchases(parts, self.state.categories),
            "activity": [
                {
                    "scope": r.scope,
                    "activity": r.activity,
                    "trend": r.trend,
                    "affinity": r.affinity,
                    "rising": r.rising,
                    "s_short": r.s_short,
                    "s_long": r.s_long,
                    "v_short": r.v_short,
                    "v_long": r.v_long,
                }
                for r in activity
            ],
            "next_best_categories": live_scores.next_best(activity, cal) if cal else [],
        }

    def change(self, key: Key) -> tuple[str, date] | None:
        """``(previous segment, date)`` of the profile's last live segment change, if it
        changed since the calibration's run (None while the population awaits a full
        re-score: a profile view never waits for one)."""
        if self.stale():
            return None
        self.refresh()
        return self.changes.get(key)

    # -- the population ----------------------------------------------------------------------

    def _version(self) -> tuple[date, int]:
        return self.as_of(), self.calibration.run_id if self.calibration else 0

    def stale(self) -> bool:
        """Whether the as-of date or the calibration moved since every profile was scored."""
        return self._scored_for != self._version()

    def rescore_all(self, lock: AbstractContextManager[Any], step: int = 2_000) -> None:
        """Re-score every profile for a new as-of date or calibration, holding ``lock`` (the
        stream's) for ``step`` profiles at a time, so events keep flowing in between; the
        profiles that events touch meanwhile are dirty, and :meth:`refresh` re-scores them."""
        with self._full:  # one full re-score at a time
            with lock:
                if not self.stale():
                    return
                version = self._version()
                day = version[0]
                keys = list(self.state.keys(live_scores.day_end(day)))
                self.state.dirty.clear()  # from here on, events mark what to score again
            segment_of: dict[Key, str] = {}
            counts: Counter[str] = Counter()
            for i in range(0, len(keys), step):
                with lock:
                    if self._version() != version:
                        return  # moved on again: the next call starts over
                    if self.state.unsettled:
                        self.state.settle()
                    for key in keys[i : i + step]:
                        segment = self._segment(key, day)
                        if segment is not None:
                            segment_of[key] = segment
                            counts[segment] += 1
            with lock:
                if self._version() == version:
                    self.segment_of, self.counts = segment_of, counts
                    self._index()
                    self.changes.clear()
                    self._scored_for = version

    def refresh(self) -> None:
        """Bring every profile's segment up to date (all of them if the as-of date or the
        calibration changed, else the dirty ones)."""
        if self.state.unsettled:
            self.state.settle()  # first: the ledgers it builds again mark their profiles dirty
        day = self.as_of()
        version = self.calibration.run_id if self.calibration else 0
        if self._scored_for != (day, version):
            # Done only once every profile is scored: an error leaves it to do again.
            self._scored_for = None
            self.segment_of.clear()
            self.counts.clear()
            self.changes.clear()
            self._index()
            for key in list(self.state.keys(live_scores.day_end(day))):
                self._rescore(key, day, track=False, listed=False)
            self._index()
            self._scored_for = (day, version)
            self.state.dirty.clear()
            return
        for key in list(self.state.dirty):  # a key leaves the dirty set once re-scored
            self._rescore(key, day, track=True)
            self.state.dirty.discard(key)

    def _segment(self, key: Key, day: date) -> str | None:
        """The profile's segment as of ``day``; None when it is no profile of its own."""
        row = self.scores(key, day, settle=False)  # the callers settled first
        if row is None or row["segment"] is None or self._absorbed(key, day):
            return None
        return str(row["segment"])

    def _rescore(self, key: Key, day: date, *, track: bool, listed: bool = True) -> None:
        """Score one profile again; ``listed``: keep the listing indexes up to date (a full
        re-score builds them once at the end instead)."""
        after = self._segment(key, day)
        before = self.segment_of.pop(key, None)
        if before is not None:
            self.counts[before] -= 1
        if after is not None:
            self.segment_of[key] = after
            self.counts[after] += 1
            if track and before is not None and before != after:
                self.changes[key] = (before, day)
        if listed and before != after:
            entry = (key[1], key[0])
            if before is not None:
                self._listed_by[before].remove(entry)
            if after is not None:
                self._listed_by.setdefault(after, SortedList()).add(entry)
            if before is None:
                self._listed.add(entry)
            elif after is None:
                self._listed.remove(entry)

    def _index(self) -> None:
        """Build the listing indexes from ``segment_of`` (one sort per index)."""
        by: dict[str, list[tuple[str, str]]] = {}
        for (kind, pid), segment in self.segment_of.items():
            by.setdefault(segment, []).append((pid, kind))
        self._listed_by = {segment: SortedList(entries) for segment, entries in by.items()}
        self._listed = SortedList((pid, kind) for kind, pid in self.segment_of)

    def _absorbed(self, key: Key, day: date) -> bool:
        """A visitor linked to a customer by the end of ``day`` is no profile of its own."""
        end = live_scores.day_end(day)
        return key[0] == "a" and self.state.linked_by(key[1], end) is not None

    def key_of(self, profile_id: str) -> Key | None:
        """The profile of an id as of the live as-of date (:meth:`LiveState.key_of`)."""
        return self.state.key_of(profile_id, live_scores.day_end(self.as_of()))

    def segment_counts(self) -> dict[str, int]:
        self.refresh()
        return {s: n for s, n in sorted(self.counts.items()) if n > 0}

    def members(self, segment: str | None, limit: int, offset: int = 0) -> list[tuple[Key, str]]:
        """Profiles (of a segment, or all), ordered by id, a page at a time: O(log n + limit)."""
        self.refresh()
        listed = self._listed if segment is None else self._listed_by.get(segment)
        if listed is None or limit <= 0:
            return []
        page: list[tuple[Key, str]] = []
        for pid, kind in listed.islice(offset, offset + limit):
            key = (kind, pid)
            page.append((key, self.segment_of[key]))
        return page


def history(
    segment: str | None,
    change: tuple[str, date] | None,
    batch: dict[str, Any] | None,
    as_of: date,
) -> tuple[str | None, str | None]:
    """``(previous_segment, segment_since)`` of a live segment, from the live change (if
    any) and the profile's row in the calibration's run (segment, previous, since)."""
    if change is not None:
        return change[0], change[1].isoformat()
    if batch is None:
        return None, as_of.isoformat()
    if batch["segment"] == segment:
        return batch["previous_segment"], batch["segment_since"]
    return batch["segment"], as_of.isoformat()
