"""The facade: one :class:`Workspace` behind the CLI, the HTTP API and Python users.

A workspace is a folder holding ``clm.toml`` (settings), ``clm.duckdb`` (all
data) and ``definitions/`` (automations and segments as files). Every face of
clm calls these methods; none of them talks to the database directly.

The methods live in :mod:`clm.facade`, one module per area (imports, scores, live,
messaging, automations, dashboard); this class puts them together and adds opening,
closing and the settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any

from clm import config
from clm.config import ENV_VAR, Settings
from clm.errors import (
    ServedElsewhere,
    WorkspaceError,
    WorkspaceExists,
    WorkspaceNotFound,
)
from clm.facade.automations import Automations
from clm.facade.base import DEFINITIONS
from clm.facade.dashboard import Dashboard
from clm.facade.imports import Imports
from clm.facade.live import Live
from clm.facade.messaging import Messaging
from clm.facade.scores import Scores
from clm.store import database, serving


def default_path() -> Path:
    """``$CLM_WORKSPACE``, else the current folder."""
    return Path(os.environ.get(ENV_VAR) or ".")


class Workspace(Imports, Scores, Live, Messaging, Automations, Dashboard):
    """A clm workspace: open it, import data, score, and read the results.

    Use :meth:`init` to create one and :meth:`open` to open one; close it with
    :meth:`close` or use it as a context manager.
    """

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def init(cls, path: str | Path, name: str | None = None) -> Workspace:
        """Create a workspace in ``path`` (created if missing) and open it."""
        root = Path(path)
        if (root / config.CONFIG_FILE).exists():
            raise WorkspaceExists(f"{root} already holds a clm workspace ({config.CONFIG_FILE})")
        root.mkdir(parents=True, exist_ok=True)
        for folder in ("automations", "segments", "templates"):
            (root / DEFINITIONS / folder).mkdir(parents=True, exist_ok=True)
        settings = Settings()
        settings.workspace.name = name or root.resolve().name
        config.save(root, settings)
        return cls.open(root)

    @classmethod
    def open(cls, path: str | Path | None = None) -> Workspace:
        """Open the workspace in ``path`` (default: ``$CLM_WORKSPACE`` or the current folder)."""
        root = Path(path) if path is not None else default_path()
        if not (root / config.CONFIG_FILE).exists():
            raise WorkspaceNotFound(
                f"{root} is not a clm workspace (no {config.CONFIG_FILE}); "
                f"create one with `clm init {root}`"
            )
        settings = config.load(root)
        try:
            con = database.connect(
                root / database.DB_FILE,
                memory_limit=settings.engine.memory_limit,
                threads=settings.engine.threads,
            )
        except WorkspaceError as exc:
            server = serving.served(root)
            if server is None:
                raise
            raise ServedElsewhere(
                f"the workspace {root} is served by `clm serve` (process {server.pid}) at "
                f"{server.url}; use its HTTP API, or stop it first",
                server.url,
            ) from exc
        database.migrate(con)
        return cls(root, settings, con)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- settings --------------------------------------------------------------------------

    def config_get(self, key: str) -> Any:
        """The value of a dotted setting such as ``rfm.window_days``."""
        return config.get_value(self.settings, key)

    def config_set(self, key: str, value: str) -> Any:
        """Set a dotted setting from its text form, validate, save; return the new value."""
        self.settings = config.set_value(self.settings, key, value)
        config.save(self.root, self.settings)
        return config.get_value(self.settings, key)

    def config_list(self) -> dict[str, Any]:
        return config.flatten(self.settings)
