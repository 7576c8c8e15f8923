"""clm: Customer Lifecycle Management.

The public API is :class:`Workspace`; everything else is reached through it.
"""

import importlib as _importlib
import typing as _typing

from clm.errors import (
    AutomationError,
    ClmError,
    ConfigError,
    DefinitionError,
    ImportFailed,
    NotFound,
    ScoringError,
    WorkspaceError,
    WorkspaceExists,
    WorkspaceNotFound,
)

if _typing.TYPE_CHECKING:
    from clm.ingest.summary import ImportSummary
    from clm.scores.clv import ClvFit
    from clm.scores.pipeline import ScoringRun
    from clm.workspace import Workspace

# The facade and its result types load on first use (PEP 562): `import clm.cli` or
# `clm --help` must not pay for DuckDB, pandas and SciPy before a command needs them.
_LAZY = {
    "ImportSummary": "clm.ingest.summary",
    "ClvFit": "clm.scores.clv",
    "ScoringRun": "clm.scores.pipeline",
    "Workspace": "clm.workspace",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'clm' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "AutomationError",
    "ClmError",
    "ClvFit",
    "ConfigError",
    "DefinitionError",
    "ImportFailed",
    "ImportSummary",
    "NotFound",
    "ScoringError",
    "ScoringRun",
    "Workspace",
    "WorkspaceError",
    "WorkspaceExists",
    "WorkspaceNotFound",
    "__version__",
]
