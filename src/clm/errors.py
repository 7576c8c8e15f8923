"""One exception tree for clm.

Every error a user can cause derives from :class:`ClmError`, so the CLI and the
HTTP API can turn it into a clear message (exit code 1, or a 4xx answer)::

    ClmError
    ├── WorkspaceError            the workspace folder, its files or its lock
    │   ├── WorkspaceNotFound
    │   └── WorkspaceExists
    ├── ConfigError               an unknown key or an invalid value in clm.toml
    ├── ImportFailed              an import that wrote nothing (bad rows, bad mapping)
    ├── NotFound                  a customer, a run or another named thing is missing
    ├── ExperimentInputError      an experiment file, column or control arm is unusable
    ├── ScoringError              scoring cannot run (no data, no calibration)
    └── UserError                 a dashboard user name, password or users file is invalid

Expected conditions in statistics are typed results, not exceptions (see DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass


class ClmError(Exception):
    """Base class of every error clm raises on purpose."""


class WorkspaceError(ClmError):
    """The workspace folder, its database or its lock is unusable."""


class WorkspaceNotFound(WorkspaceError):
    """No clm workspace at the given path."""


class WorkspaceExists(WorkspaceError):
    """``init`` was asked to create a workspace where one already exists."""


class ConfigError(ClmError):
    """An unknown setting or an invalid value; the message names the key."""


@dataclass(frozen=True)
class BadRow:
    """One rejected input row: where it is and why it was rejected."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class ImportFailed(ClmError):
    """An import wrote nothing: the source, the mapping or some rows are invalid.

    ``bad_rows`` holds the first rejected rows (line numbers count the header
    line of a CSV file, so they match what an editor shows).
    """

    def __init__(self, message: str, bad_rows: list[BadRow] | None = None, n_bad: int = 0):
        self.bad_rows = bad_rows or []
        self.n_bad = n_bad
        detail = "".join(f"\n  {row}" for row in self.bad_rows)
        super().__init__(message + detail)


class NotFound(ClmError):
    """A customer, scoring run or other named object does not exist."""


class ExperimentInputError(ClmError):
    """An experiment file cannot be analyzed; the message names the file and the column."""


class ScoringError(ClmError):
    """Scoring cannot run: no events, no calibration, or an invalid as-of date."""


class UserError(ClmError):
    """A dashboard user cannot be created, found or checked; the message says why."""
