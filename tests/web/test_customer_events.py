"""The customer page reads a profile's events once (``ws.customer_events``): the view,
the timeline and ``why`` over that read give what they give over the events table."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from clm import Workspace
from clm.errors import NotFound
from tests.automation.test_measure import OFFER
from tests.automation.world import automation, events, people, purchases, quiet_settings


def _profiles(ws: Workspace) -> list[str]:
    """Customers with and without linked visitor ids, visitors who never identified,
    an id that is both, and a random sample of the rest."""
    linked = ws.con.execute(
        "SELECT customer_id FROM identities GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 5"
    ).fetchall()
    visitors = ws.con.execute(
        "SELECT DISTINCT anonymous_id FROM events WHERE customer_id IS NULL AND anonymous_id "
        "NOT IN (SELECT anonymous_id FROM identities) ORDER BY 1 LIMIT 5"
    ).fetchall()
    anonymous_of_customers = ws.con.execute(
        "SELECT anonymous_id FROM identities ORDER BY 1 LIMIT 3"
    ).fetchall()
    everyone = [r[0] for r in ws.con.execute("SELECT customer_id FROM profiles").fetchall()]
    sample = random.Random(3).sample(sorted(everyone), 12)
    found = [r[0] for r in linked + visitors + anonymous_of_customers] + sample
    assert len(linked) == 5 and len(visitors) == 5
    return found


def test_view_and_timeline_over_one_read_equal_those_over_the_table(
    world_root: tuple[Path, str],
) -> None:
    root, seed = world_root
    with Workspace.open(root) as ws:
        anonymous_history = 0
        for pid in [seed, *_profiles(ws)]:
            with ws.customer_events(pid) as own:
                n = ws.con.execute(f"SELECT count(*) FROM {own} WHERE customer_id IS NULL")
                anonymous_history += n.fetchall()[0][0] > 0
                assert ws.customer(pid, own) == ws.customer(pid)
                assert ws.customer_timeline(pid, 500, own) == ws.customer_timeline(pid, 500)
                assert ws.customer_timeline(pid, 3, own) == ws.customer_timeline(pid, 3)
                assert ws.why(pid, None, own) == ws.why(pid)
        assert anonymous_history >= 5  # visitors, and customers' linked visits
        with ws.customer_events("nobody") as own, pytest.raises(NotFound):
            ws.customer("nobody", own)
        names = ws.con.execute(
            "SELECT count(*) FROM duckdb_views() WHERE view_name LIKE '_clm_own_events_%'"
        ).fetchall()
        assert names[0][0] == 0  # unregistered when the block ends


def test_why_over_one_read_equals_why_over_the_table(ws: Workspace) -> None:
    ids = [f"p{i}" for i in range(12)]
    people(ws, [(c, f"{c}@example.com", None, "UTC", True, None) for c in ids])
    quiet_settings(ws)
    automation(ws, "offer", OFFER)
    events(ws, [(c, "ping", "2024-03-01T10:00:00") for c in ids])
    purchases(ws, [(c, "2024-03-03T10:00:00", 20.0) for c in ids[:4]])
    ws.run("2024-03-10", since="2024-03-01")
    sent = ws.con.execute("SELECT message_id, customer_id FROM decisions WHERE kind = 'sent'")
    for message, customer in sent.fetchall()[:5]:
        for kind in ("message_opened", "message_clicked"):
            ws.con.execute(
                "INSERT INTO events (event_id, customer_id, type, ts, properties) "
                "VALUES (uuid()::VARCHAR, ?, ?, TIMESTAMP '2024-03-02', ?)",
                [customer, kind, json.dumps({"message_id": message})],
            )
    stories = 0
    for customer in ids:
        with ws.customer_events(customer) as own:
            assert ws.why(customer, None, own) == ws.why(customer)
            assert ws.why(customer, "offer", own) == ws.why(customer, "offer")
            stories += any(r["kind"] == "message_opened" for r in ws.why(customer, None, own))
    assert stories == 5
