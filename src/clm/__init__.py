"""clm: Customer Lifecycle Management.

The public API is :class:`Workspace`; everything else is reached through it.
"""

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
from clm.ingest.summary import ImportSummary
from clm.scores.clv import ClvFit
from clm.scores.pipeline import ScoringRun
from clm.workspace import Workspace

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
