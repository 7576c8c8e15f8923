"""The events clustered by profile give every profile the events the table gives it,
whether the copy is up to date, behind, or stale after a delete."""

from __future__ import annotations

import random
from typing import Any

import pandas as pd

from clm import Workspace
from clm.ingest import demo
from clm.profiles import clustered
from clm.profiles.search import OWN_EVENTS


def _key(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(v) for v in row.values())


def _same_for(ws: Workspace, ids: list[str]) -> int:
    """Compare the copy's rows with the table's for each id; return how many rows."""
    seen = 0
    table_sql = OWN_EVENTS.format(columns="*", events="events")
    for pid in ids:
        got = sorted(map(_key, clustered.own_events(ws.con, pid).to_pylist()))
        want = sorted(map(_key, ws.con.sql(table_sql, params=[pid]).to_arrow_table().to_pylist()))
        assert got == want, pid
        seen += len(got)
    return seen


def _ids(ws: Workspace) -> list[str]:
    customers = [r[0] for r in ws.con.execute("SELECT customer_id FROM profiles").fetchall()]
    visitors = ws.con.execute(
        "SELECT DISTINCT anonymous_id FROM events WHERE customer_id IS NULL ORDER BY 1 LIMIT 15"
    ).fetchall()
    linked = ws.con.execute(
        "SELECT customer_id FROM identities GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 5"
    ).fetchall()
    sample = random.Random(5).sample(sorted(customers), 20)
    return sample + [r[0] for r in visitors + linked] + ["nobody"]


def test_the_copy_follows_imports_appends_and_deletes(ws: Workspace) -> None:
    world = demo.build(ws, 150, seed=3)
    ids = [world.seed_customer_id, *_ids(ws)]
    assert _same_for(ws, ids) > 100  # as the demo left it (imports do not advance it)
    assert clustered.advance(ws.con)
    assert (
        ws.con.execute("SELECT count(*) FROM events_by_profile").fetchall()[0][0]
        == (ws.con.execute("SELECT count(*) FROM events").fetchall()[0][0])
    )
    assert _same_for(ws, ids) > 100
    copied = ws.con.execute("SELECT count(*) FROM events_by_profile").fetchall()[0][0]
    ws.import_events(  # an import leaves the copy behind; its rows come from the table
        pd.DataFrame({"cid": [ids[1], ids[2]], "ts": ["2024-05-02", "2024-05-03"]}),
        type="visit",
        customer="cid",
        time="ts",
    )
    assert ws.con.execute("SELECT count(*) FROM events_by_profile").fetchall()[0][0] == copied
    _same_for(ws, ids)
    ws.con.execute(  # appended after the mark: read from the table's newest rows
        "INSERT INTO events (event_id, customer_id, anonymous_id, type, ts) "
        "SELECT 'x-' || i, CASE WHEN i % 2 = 0 THEN ? END, CASE WHEN i % 2 = 1 THEN ? END, "
        "'visit', TIMESTAMP '2024-05-01' FROM range(6) t(i)",
        [ids[1], ids[21]],
    )
    _same_for(ws, ids)
    assert clustered.advance(ws.con)
    _same_for(ws, ids)
    ws.con.execute(  # deleted below the mark: the table alone, until the next advance
        "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE customer_id = ? "
        "ORDER BY rowid LIMIT 2)",
        [world.seed_customer_id],
    )
    _same_for(ws, ids)
    assert clustered.advance(ws.con)  # rebuilt
    _same_for(ws, ids)
    assert (
        ws.con.execute("SELECT count(*) FROM events_by_profile").fetchall()[0][0]
        == (ws.con.execute("SELECT count(*) FROM events").fetchall()[0][0])
    )


def test_inside_a_transaction_it_reads_and_does_not_advance(ws: Workspace) -> None:
    world = demo.build(ws, 40, seed=4)
    ws.con.execute("BEGIN TRANSACTION")
    ws.con.execute(
        "INSERT INTO events (event_id, customer_id, type, ts) "
        "VALUES ('mine', ?, 'visit', TIMESTAMP '2024-05-01')",
        [world.seed_customer_id],
    )
    assert not clustered.advance(ws.con)
    _same_for(ws, [world.seed_customer_id])  # sees its own uncommitted row
    ws.con.execute("ROLLBACK")
    _same_for(ws, [world.seed_customer_id])
