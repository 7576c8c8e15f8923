"""The live single customer view: ``clm customer``'s content, with what events move live.

Who the profile is (traits, consent, linked visitor ids) and its lifetime value come
from the workspace database (:mod:`clm.profiles.view`); its scores, segment, event
counts, latest purchases, activity and next best categories come from the live state
(:class:`clm.profiles.live_profiles.LiveProfiles`), so they include every event
accepted so far. :func:`snapshot` reads the live state (hold the stream's lock);
:func:`complete` adds the database's parts (no lock needed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb

from clm.errors import NotFound
from clm.profiles import view
from clm.profiles.live import Key
from clm.profiles.live_load import batch_segment
from clm.profiles.live_profiles import LiveProfiles, history
from clm.profiles.live_scores import to_datetime

HIDDEN = ("has_email", "visited")  # inputs of the segment rules, not part of the view


@dataclass(frozen=True)
class Snapshot:
    """A profile's live parts, read at one moment."""

    key: Key
    part: dict[str, Any]
    change: tuple[str, date] | None
    run_id: int | None
    as_of: date
    consent: dict[str, tuple[bool, int]]


def snapshot(profiles: LiveProfiles, profile_id: str) -> Snapshot:
    """The live parts of a profile's view (a customer id, or a visitor's anonymous id)."""
    key = profiles.key_of(profile_id)
    part = profiles.live_view(key) if key is not None else None
    if key is None or part is None:
        raise NotFound(f"no customer or visitor with id {profile_id!r}")
    for name in HIDDEN:
        part["scores"].pop(name, None)
    run_id = profiles.calibration.run_id if profiles.calibration else None
    consent = dict(profiles.state.consent.get(key[1], {})) if key[0] == "c" else {}
    return Snapshot(key, part, profiles.change(key), run_id, profiles.as_of(), consent)


def complete(con: duckdb.DuckDBPyConnection, snap: Snapshot) -> dict[str, Any]:
    """The whole view: the database's parts around the live ones."""
    kind, pid = snap.key
    scores = dict(snap.part["scores"])
    batch = batch_segment(con, snap.run_id, pid, kind) if snap.run_id is not None else None
    scores["previous_segment"], scores["segment_since"] = history(
        scores["segment"], snap.change, batch, snap.as_of
    )
    who = view.identity(con, pid, "customer" if kind == "c" else "visitor")
    for channel, (granted, ts) in snap.consent.items():  # API changes not yet stored
        since = to_datetime(ts).isoformat()
        stored = who["consent"].get(channel)
        if stored is None or stored["since"] <= since:
            who["consent"][channel] = {"granted": granted, "since": since, "source": "api"}
    return {
        **who,
        **snap.part,
        "scores": scores,
        "lifetime_value": view.lifetime_value(con, pid),
        "source": "live",
    }
