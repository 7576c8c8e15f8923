"""``clm serve`` caps DuckDB's memory unless the workspace sets a limit itself."""

from __future__ import annotations

import os
from pathlib import Path

from clm import Workspace
from clm.api.server import SERVE_MEMORY_FLOOR, limit_memory, machine_memory, serve_memory_limit


def _limit_bytes(ws: Workspace) -> int:
    row = ws.con.execute(
        "SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'"
    ).fetchone()
    assert row is not None
    number, unit = str(row[0]).split()
    return int(float(number) * {"MiB": 2**20, "GiB": 2**30, "KiB": 2**10}[unit])


def test_serving_caps_duckdb_memory_when_unset(ws: Workspace) -> None:
    assert ws.settings.engine.memory_limit == ""
    before = _limit_bytes(ws)
    limit_memory(ws)
    want = serve_memory_limit()
    assert want == max(SERVE_MEMORY_FLOOR, int(machine_memory() * 0.25))
    # DuckDB shows the limit to two or three digits ("5.5 GiB"); its own default is 80%
    assert abs(_limit_bytes(ws) - want) < 0.02 * want < before - want


def test_a_configured_limit_is_kept(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "ws").close()
    toml = tmp_path / "ws" / "clm.toml"
    text = toml.read_text()
    assert 'memory_limit = ""' in text
    toml.write_text(text.replace('memory_limit = ""', 'memory_limit = "1GB"'))
    ws = Workspace.open(tmp_path / "ws")
    try:
        assert abs(_limit_bytes(ws) - 1000**3) < 2**20  # applied when opened
        limit_memory(ws)
        assert abs(_limit_bytes(ws) - 1000**3) < 2**20
    finally:
        ws.close()


def test_a_container_limit_below_the_ram_is_the_machine_memory(tmp_path: Path) -> None:
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    v2, v1, absent = tmp_path / "memory.max", tmp_path / "limit_in_bytes", tmp_path / "none"
    v2.write_text("max\n")  # cgroup v2 without a limit
    v1.write_text(f"{ram * 4}\n")  # cgroup v1 without a limit: a huge number
    assert machine_memory((v2, v1, absent)) == ram
    v2.write_text(f"{4 * 2**30}\n")  # a container of 4 GiB
    assert machine_memory((v2, v1, absent)) == min(ram, 4 * 2**30)
    assert serve_memory_limit(4 * 2**30) == 2**30  # a quarter
    assert serve_memory_limit(2 * 2**30) == SERVE_MEMORY_FLOOR  # never below 1 GiB
