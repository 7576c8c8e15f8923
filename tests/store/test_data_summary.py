"""The automation pages' cache key changes with every change they show."""

from __future__ import annotations

import os
from datetime import datetime

from clm import Workspace


def test_automations_signature_changes_with_what_the_pages_show(ws: Workspace) -> None:
    seen = [ws.automations_signature()]
    assert ws.automations_signature() == seen[0]  # stable while nothing changes

    def changed() -> None:
        now = ws.automations_signature()
        assert now not in seen
        seen.append(now)

    t = datetime(2026, 11, 1, 9)
    ws.con.execute(
        "INSERT INTO enrolments (enrolment_id, automation, version, customer_id, occurrence, "
        "arm, enrolled_at, state) VALUES ('e1', 'welcome', 1, 'C1', 'o1', 'treatment', ?, "
        "'active')",
        [t],
    )
    changed()
    ws.con.execute("UPDATE enrolments SET converted_at = ? WHERE enrolment_id = 'e1'", [t])
    changed()
    ws.con.execute("UPDATE enrolments SET ended_at = ? WHERE enrolment_id = 'e1'", [t])
    changed()
    ws.con.execute(
        "INSERT INTO decisions (decision_id, ts, automation, customer_id, kind, recorded_at) "
        "VALUES ('d1', ?, 'welcome', 'C1', 'enrolled', ?)",
        [t, t],
    )
    changed()
    ws.con.execute(
        "INSERT INTO events (event_id, customer_id, type, ts) VALUES ('m1', 'C1', "
        "'message_opened', ?)",
        [t],
    )
    changed()
    folder = ws.root / "definitions" / "automations"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "welcome.yaml").write_text("name: welcome\n")
    changed()
    os.utime(folder / "welcome.yaml", ns=(1, 1))
    changed()
    ws.con.execute("INSERT INTO automation_states VALUES ('welcome', 'paused', ?)", [t])
    changed()
