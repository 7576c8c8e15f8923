"""The seed programmes on a small demo world: the seed customer's story, and the rules."""

from __future__ import annotations

from datetime import datetime

import pytest

from clm import Workspace
from clm.ingest import demo


@pytest.mark.slow  # builds a demo world: about 20 s
def test_seed_programmes_on_the_demo_world(ws: Workspace) -> None:
    ws.config_set("clv.enabled", "false")
    demo.build(ws, n_profiles=2_000, seed=11)
    ws.score("2026-08-31")  # the baseline: known before the first run's window
    ws.score("2026-10-17")  # then two runs inside it: transitions and crossings
    stats = ws.run("2026-11-05", since="2026-10-16")
    assert not stats.problems
    seed = ws.con.execute(
        "SELECT automation, not_before, detail FROM decisions "
        "WHERE customer_id = ? AND kind = 'sent'",
        [demo.SEED_CUSTOMER_ID],
    ).fetchall()
    # rising beauty interest, known the day after the run of 10-17, sent at 08:00 in Berlin
    assert ("beauty-double-points", datetime(2026, 10, 18, 6, 0)) in [(a, t) for a, t, _ in seed]
    enrolled = dict(
        ws.con.execute("SELECT automation, count(*) FROM enrolments GROUP BY 1").fetchall()
    )
    assert {"win-back", "first-purchase", "premium-card", "beauty-double-points"} <= set(enrolled)
    unconsented = ws.con.execute(
        """
        SELECT count(*) FROM decisions d
        WHERE d.kind = 'sent' AND d.channel IN ('email', 'sms', 'push') AND NOT EXISTS (
            SELECT 1 FROM consents c WHERE c.customer_id = d.customer_id
              AND c.channel = d.channel AND c.granted
              AND c.ts = (SELECT max(ts) FROM consents c2 WHERE c2.customer_id = c.customer_id
                          AND c2.channel = c.channel))
        """
    ).fetchall()[0][0]
    to_control = ws.con.execute(
        "SELECT count(*) FROM decisions d JOIN enrolments e USING (enrolment_id) "
        "WHERE d.kind = 'sent' AND e.arm <> 'treatment'"
    ).fetchall()[0][0]
    assert unconsented == 0 and to_control == 0
    text = [r["text"] for r in ws.why(demo.SEED_CUSTOMER_ID, "beauty-double-points")]
    assert "interest in beauty started rising as of 2026-10-17" in text[0]
