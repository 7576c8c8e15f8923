"""Rich output for the CLI: progress bars, tables, numbers formatted for people."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

console = Console()
errors = Console(stderr=True)


class RichProgress:
    """A :class:`clm.progress.Progress` drawn as one Rich bar per phase."""

    def __init__(self) -> None:
        self._bars = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<30}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=errors,
            transient=False,
            disable=not errors.is_terminal,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish()
        self._bars.stop()

    def phase(self, description: str) -> None:
        self._finish()
        self._task = self._bars.add_task(description, total=1.0)

    def advance(self, fraction: float) -> None:
        if self._task is not None:
            self._bars.update(self._task, completed=max(0.0, min(fraction, 1.0)))

    def _finish(self) -> None:
        if self._task is not None:
            self._bars.update(self._task, completed=1.0)


def print_json(data: Any) -> None:
    """JSON on standard output (dates as ISO text, NaN as null)."""
    sys.stdout.write(json.dumps(_clean(data), indent=2, default=str) + "\n")


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return _clean(value.item())
    return value


def number(value: Any, digits: int = 0) -> str:
    """``12,345`` or ``12,345.67``; an empty cell for missing values."""
    if value is None or (isinstance(value, float) and value != value) or _is_na(value):
        return ""
    return f"{value:,.{digits}f}"


def _is_na(value: Any) -> bool:
    """pandas' NA, without importing pandas for commands that never load it."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and value is pandas.NA


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def table(title: str, columns: list[tuple[str, str]], rows: list[list[str]]) -> Table:
    """A Rich table; ``columns`` are ``(header, justify)`` pairs."""
    out = Table(title=title, title_justify="left", header_style="bold")
    for header, justify in columns:
        out.add_column(header, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        out.add_row(*row)
    return out


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A DataFrame as JSON-friendly records (NaN as None)."""
    return [
        {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]
