"""One exception tree for clm.

Every error a user can cause derives from :class:`ClmError`, so the CLI and the
HTTP API can turn it into a clear message (exit code 1, or a 4xx answer)::

    ClmError
    ├── WorkspaceError            the workspace folder, its files or its lock
    │   ├── WorkspaceNotFound
    │   ├── WorkspaceExists
    │   └── ServedElsewhere       a running `clm serve` holds it (and answers at its URL)
    ├── ConfigError               an unknown key or an invalid value in clm.toml
    ├── ImportFailed              an import that wrote nothing (bad rows, bad mapping)
    ├── NotFound                  a customer, a run or another named thing is missing
    ├── ExperimentInputError      an experiment file, column or control arm is unusable
    ├── ScoringError              scoring cannot run (no data, no calibration)
    ├── InvalidMessage            a tracking message the event API cannot take (names the field)
    ├── TemplateError             a message template that does not render (names channel, field)
    ├── AutomationError           an automation cannot run (unknown name, a bad window)
    │   └── DefinitionError       automation files break their schema (file:line each)
    ├── UserError                 a dashboard user name, password or users file is invalid
    ├── ChartError                a chart cannot be written (its format, a missing renderer)
    └── DatabaseUnavailable       the database failed a read on a request's path (retry later)

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


class InvalidMessage(ClmError):
    """A tracking message that cannot be stored; ``field`` names the offending field."""

    def __init__(self, field_path: str, reason: str) -> None:
        self.field = field_path
        self.reason = reason
        super().__init__(f"{field_path}: {reason}")


class ServedElsewhere(WorkspaceError):
    """Another process (``clm serve``) holds the workspace; ``url`` is where it answers."""

    def __init__(self, message: str, url: str) -> None:
        self.url = url
        super().__init__(message)


class TemplateError(ClmError):
    """A message template fails to render: a syntax error, an undefined value, or an
    access the sandbox refuses. The message names the channel and the field."""


@dataclass(frozen=True)
class DefinitionProblem:
    """One problem in a definition file: where it is and what is wrong."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"


class AutomationError(ClmError):
    """An automation command cannot run: an unknown automation, a window going back."""


class DefinitionError(AutomationError):
    """Automation definitions are invalid; ``problems`` name each file and line."""

    def __init__(self, problems: list[DefinitionProblem]):
        self.problems = problems
        super().__init__("invalid automation definitions:" + "".join(f"\n  {p}" for p in problems))


class UserError(ClmError):
    """A dashboard user cannot be created, found or checked; the message says why."""


class ChartError(ClmError):
    """A chart cannot be written: an unknown file type, or no PNG renderer (kaleido, Chrome)."""


class DatabaseUnavailable(ClmError):
    """The workspace database failed a read that a request needs (an I/O error, no memory,
    a lock): nothing of the request was taken, so the caller may send it again later.
    The message is the same for every cause: it never quotes the query or its values."""

    retry_after = 5  # seconds a client is asked to wait (the ``Retry-After`` of a 503)

    def __init__(self, what: str = "the database") -> None:
        super().__init__(f"{what} cannot be read right now; nothing was taken, retry later")
