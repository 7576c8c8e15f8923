"""`clm demo` tells the whole story: import, score, automate, measure (the README's first
command, at a small size)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from clm import Workspace
from clm.cli import app


@pytest.mark.slow
def test_the_demo_automates_and_measures(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", str(target), "--customers", "1500"])
    assert result.exit_code == 0, result.output
    assert "Automations by incremental profit" in result.output
    with Workspace.open(target) as ws:
        runs = [r["as_of"] for r in ws.status()["scoring_runs"]]
        assert runs == ["2026-08-31", "2026-10-01", "2026-10-17", "2026-10-31"]
        sent = ws.outbox(status="sent", limit=100_000)
        files = list((target / "sent" / "email").glob("*.eml"))
        assert len(files) == sum(m["channel"] == "email" for m in sent) > 0
        kinds = [d["kind"] for d in ws.why("C-SEED-0001", "beauty-double-points")]
        assert kinds[:1] == ["enrolled"] and "sent" in kinds
        ranking = ws.report_automations()["automations"]
        assert {r["automation"] for r in ranking} >= {"beauty-double-points", "welcome"}
