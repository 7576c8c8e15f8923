"""One rule for identity links, live and in the database (issue 5 review, item 5): links
arriving in any order, one by one or together, and a restart end in the same link."""

from __future__ import annotations

from itertools import permutations

import pytest

from clm import Workspace
from clm.ingest import identity, live_writer
from clm.ingest.tracking import LinkRecord
from clm.profiles.live import LiveState
from clm.profiles.live_load import load_state

DAY = 86_400_000_000
T0 = 1_700_000_000_000_000 // DAY * DAY

# (links as (customer, day)), the link that holds (by hand: newest wins, greater customer id
# on a tie, from the earliest time of the winning customer)
CASES = [
    ([("c1", 10), ("c2", 20), ("c1", 30)], ("c1", 10)),
    ([("c1", 10), ("c2", 10), ("c1", 5)], ("c2", 10)),
    ([("c1", 10), ("c1", 5), ("c1", 7)], ("c1", 5)),
    ([("c2", 3), ("c1", 4), ("c3", 2)], ("c1", 4)),
]


def records(anonymous_id: str, links: tuple[tuple[str, int], ...]) -> list[LinkRecord]:
    return [
        LinkRecord(f"m-{anonymous_id}-{i}", anonymous_id, c, T0 + d * DAY)
        for i, (c, d) in enumerate(links)
    ]


def stored(ws: Workspace) -> dict[str, tuple[str, int | None]]:
    rows = ws.con.execute(
        "SELECT anonymous_id, customer_id, epoch_us(linked_at) FROM identities"
    ).fetchall()
    return {str(a): (str(c), t) for a, c, t in rows}


@pytest.mark.parametrize(("links", "holds"), CASES)
def test_links_in_any_order_end_in_the_same_link_live_in_the_database_and_after_a_restart(
    ws: Workspace, links: list[tuple[str, int]], holds: tuple[str, int]
) -> None:
    want = (holds[0], T0 + holds[1] * DAY)
    live = LiveState({}, 30.0, 180.0)
    for k, order in enumerate(permutations(links)):
        one_by_one, together = f"a-{k}", f"b-{k}"
        for record in records(one_by_one, order):
            live.apply(record)
            live_writer.write(ws.con, [record], None)
        live_writer.write(ws.con, records(together, order), None)
        for record in records(together, order):
            live.apply(record)
        assert live.links[one_by_one] == want, order
        assert live.links[together] == want, order
    assert set(stored(ws).values()) == {want}
    restarted = load_state(ws.con, ws.settings)
    assert restarted.links == live.links
    assert restarted.link_times == live.link_times
    # one more link after the restart moves both the same way
    later = LinkRecord("m-late", "a-0", "c9", T0 + 40 * DAY)
    for state in (live, restarted):
        state.apply(later)
    live_writer.write(ws.con, [later], None)
    assert live.links["a-0"] == restarted.links["a-0"] == stored(ws)["a-0"]
    assert live.links["a-0"] == ("c9", T0 + 40 * DAY)
    assert identity.resolve(live.link_times["a-0"]) == ("c9", T0 + 40 * DAY)


def test_a_link_without_a_time_holds_against_timed_links(ws: Workspace) -> None:
    with ws.con.cursor() as con:
        con.execute("BEGIN TRANSACTION")
        identity.link(con, "SELECT 'a-1' AS anonymous_id, 'c1' AS customer_id, NULL AS linked_at")
        con.execute("COMMIT")
    live = load_state(ws.con, ws.settings)
    later = LinkRecord("m-1", "a-1", "c2", T0)
    live.apply(later)
    live_writer.write(ws.con, [later], None)
    assert live.links["a-1"] == stored(ws)["a-1"] == ("c1", None)
    assert load_state(ws.con, ws.settings).links["a-1"] == ("c1", None)


def test_the_newest_identify_sets_the_signup_time_whatever_the_order(ws: Workspace) -> None:
    from clm.ingest.tracking import ProfileRecord

    old = ProfileRecord("i-old", "c1", T0 + 5 * DAY, {"signup_at": T0 + 1 * DAY})
    new = ProfileRecord("i-new", "c1", T0 + 10 * DAY, {"signup_at": T0 + 2 * DAY})
    for order in ([old, new], [new, old]):
        ws.con.execute("DELETE FROM profiles")
        live = LiveState({}, 30.0, 180.0)
        for record in order:
            live.apply(record)
            live_writer.write(ws.con, [record], None)
        assert live.traits["c1"].signup_at == T0 + 2 * DAY
        assert load_state(ws.con, ws.settings).traits["c1"].signup_at == T0 + 2 * DAY
