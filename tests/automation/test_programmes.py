"""The demo's seed programmes are valid automation files."""

from __future__ import annotations

from clm import Workspace
from clm.ingest.demo import programmes


def test_seed_programmes_validate_and_are_installed_once(ws: Workspace) -> None:
    written = programmes.install(ws.root)
    assert len(written) == 7
    valid = {a["name"]: a["trigger"] for a in ws.automations_validate()}
    assert valid == {
        "beauty-double-points": "score_crossing",
        "premium-card": "score_crossing",
        "beauty-follow-up": "no_conversion",
        "premium-follow-up": "no_conversion",
        "welcome": "event",
        "win-back": "segment_entered",
        "first-purchase": "segment_entered",
    }
    mine = ws.root / "definitions" / "automations" / "welcome.yaml"
    mine.write_text(mine.read_text().replace("priority: 80", "priority: 81"))
    assert programmes.install(ws.root) == []  # the user's edit is kept
    assert "priority: 81" in mine.read_text()
