"""Building the live state from the workspace database when the server starts.

The database aggregates every stored event into the facts the O(1) update would have built
from them one by one (:mod:`clm.profiles.live_bulk`; :func:`replay_state` builds them the
slow way, and tests compare the two).
Identity links and profile traits come from their tables; the calibration is the
latest scoring run's (the run with the latest as-of date, as ``clm customer`` reads).
"""

from __future__ import annotations

import gc

import duckdb

from clm.config import Settings
from clm.ingest.tracking import EventRecord
from clm.profiles import live_bulk
from clm.profiles.live import Facts, LiveState, Traits
from clm.profiles.live_scores import LiveCalibration
from clm.scores.calibration import Calibration

BATCH_ROWS = 100_000
FOLD_LIMIT = 16  # orders a bounded state keeps per id (at least the 10 a view lists)
HEADROOM = 4_000_000  # keys a Bloom filter is sized for beyond the stored ones

EVENTS_SQL = """
SELECT event_id, customer_id, anonymous_id, type, epoch_us(ts) AS ts, category,
       (amount * 10000)::BIGINT AS amount, order_id
FROM events
"""


def load_state(
    con: duckdb.DuckDBPyConnection, settings: Settings, *, fold_limit: int | None = None
) -> LiveState:
    """The live state of every stored event, link and profile, aggregated by the database
    (:mod:`clm.profiles.live_bulk`). With ``fold_limit`` the state is bounded (see
    :mod:`clm.profiles.live`): it keeps that many orders per id, remembers order keys in
    a Bloom filter, and leaves the repeat check and the history to its caller."""
    act = settings.activity
    state = LiveState(dict(act.weights), act.half_life_short, act.half_life_long)
    if fold_limit is not None:
        state.fold_limit, state.window_days = fold_limit, settings.rfm.window_days
        state.latest_ts = con.sql("SELECT max(epoch_us(ts)) FROM events").fetchall()[0][0]
        state.shared = live_bulk.shared_order_keys(con)
        state.order_keys = live_bulk.order_keys(con, HEADROOM)
        state.seen = None
    customers, visitors, latest = live_bulk.facts(con, act, state.categories, state.rules())
    state.customers, state.visitors, state.latest_ts = customers, visitors, latest
    if fold_limit is None:
        state.seen = live_bulk.event_ids(con)
    _links_and_traits(con, state)
    return _settled(state)


def replay_state(con: duckdb.DuckDBPyConnection, settings: Settings) -> LiveState:
    """The same state built by applying every stored event one at a time (the reference
    :func:`load_state` is tested against)."""
    act = settings.activity
    state = LiveState(dict(act.weights), act.half_life_short, act.half_life_long)
    for batch in con.sql(EVENTS_SQL).to_arrow_reader(BATCH_ROWS):
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        for row in zip(*columns, strict=True):
            state.apply_event(EventRecord(*row))
    _links_and_traits(con, state)
    return _settled(state)


def _links_and_traits(con: duckdb.DuckDBPyConnection, state: LiveState) -> None:
    for anonymous_id, customer_id, first, last in con.execute(
        "SELECT anonymous_id, customer_id, epoch_us(first_at), epoch_us(last_at) "
        "FROM identity_links"
    ).fetchall():
        state.link_times.setdefault(str(anonymous_id), {})[str(customer_id)] = (first, last)
    for anonymous_id, customer_id, linked_at in con.execute(
        "SELECT anonymous_id, customer_id, epoch_us(linked_at) FROM identities"
    ).fetchall():
        state.set_link(str(anonymous_id), str(customer_id), linked_at)
    for customer_id, email, signup, updated in con.execute(
        "SELECT customer_id, bool_or(email IS NOT NULL), max(epoch_us(signup_at)), "
        "max(epoch_us(updated_at)) FROM profiles GROUP BY customer_id"
    ).fetchall():
        state.traits[str(customer_id)] = Traits(bool(email), signup, updated)
        state.customers.setdefault(str(customer_id), Facts())


def _settled(state: LiveState) -> LiveState:
    state.dirty.clear()
    gc.collect()
    gc.freeze()  # the loaded state is long-lived: keep the collector from rescanning it
    return state


def load_calibration(con: duckdb.DuckDBPyConnection, settings: Settings) -> LiveCalibration | None:
    """The calibration of the latest scoring run, with its lift gains; None before any run."""
    rows = con.execute(
        "SELECT r.run_id, c.payload FROM scoring_runs r JOIN calibrations c USING (run_id) "
        "ORDER BY r.as_of DESC, r.run_id DESC LIMIT 1"
    ).fetchall()
    if not rows:
        return None
    run_id, payload = int(rows[0][0]), str(rows[0][1])
    gains = {
        (str(a), str(b)): float(lift) - 1.0
        for a, b, lift in con.execute(
            "SELECT a, b, lift FROM category_relations WHERE run_id = ? AND lift > 1",
            [run_id],
        ).fetchall()
    }
    return LiveCalibration(
        run_id, Calibration.from_json(payload), gains, settings.activity.next_best
    )


def batch_segment(
    con: duckdb.DuckDBPyConnection, run_id: int, profile_id: str, kind: str
) -> dict[str, object] | None:
    """A profile's segment, previous segment and since in a scoring run."""
    column = "customer_id" if kind == "c" else "anonymous_id"
    rows = con.execute(
        f"SELECT segment, previous_segment, segment_since::VARCHAR FROM scores "
        f"WHERE run_id = ? AND {column} = ?",
        [run_id, profile_id],
    ).fetchall()
    if not rows:
        return None
    segment, previous, since = rows[0]
    return {"segment": segment, "previous_segment": previous, "segment_since": since}
