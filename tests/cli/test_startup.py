"""`clm --help` and the command modules load no engine, data or web library: every command
pays for DuckDB, pandas, SciPy or FastAPI only when it uses them (a CLI that takes seconds
to print its help is a worse CLI)."""

from __future__ import annotations

import json
import subprocess
import sys

from clm.cli import clv
from clm.models import bgnbd, gamma_gamma, pareto_nbd

HEAVY = ("duckdb", "pandas", "pyarrow", "ibis", "scipy", "fastapi", "httpx", "clm.workspace")


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    modules = json.loads(out.splitlines()[-1])
    return sorted({m for m in modules for h in HEAVY if m == h or m.startswith(h + ".")})


def test_importing_the_cli_loads_no_heavy_library() -> None:
    assert _loaded_after("import clm.cli.app") == []


def test_help_loads_no_heavy_library() -> None:
    code = (
        "import sys\nfrom clm.cli.app import app\nsys.argv = ['clm', '--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    )
    assert _loaded_after(code) == []


def test_the_workspace_loads_without_scipy() -> None:
    loaded = _loaded_after("from clm import Workspace")
    assert "clm.workspace" in loaded and "duckdb" in loaded  # the probe sees real imports
    assert not any(m == "scipy" or m.startswith("scipy.") for m in loaded)


def test_clv_titles_cover_every_model_name() -> None:
    assert set(clv.TITLES) == {bgnbd.NAME, pareto_nbd.NAME, gamma_gamma.NAME}
