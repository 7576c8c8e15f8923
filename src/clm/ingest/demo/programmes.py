"""The demo's seed programmes (issue 6): automation files the demo world starts with.

(a) ``beauty-double-points``, (b) ``premium-card``, (c) ``beauty-follow-up`` and
``premium-follow-up``, (d) ``welcome``, (e) ``win-back``, (f) ``first-purchase``. They are
shipped as YAML next to this module and copied into a demo workspace's
``definitions/automations`` (a file the user already has there is left alone).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

FOLDER = "automations"


def files() -> dict[str, str]:
    """File name -> text of every seed programme."""
    folder = resources.files("clm.ingest.demo").joinpath(FOLDER)
    return {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".yaml")
    }


def install(root: Path) -> list[str]:
    """Copy the seed programmes into ``root/definitions/automations``; return the names
    of the files written (existing files are kept)."""
    target = root / "definitions" / "automations"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files().items():
        path = target / name
        if not path.exists():
            path.write_text(text, encoding="utf-8")
            written.append(name)
    return written
