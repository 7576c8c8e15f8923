"""Plotly figures of clm's results, shared by the CLI reports and the dashboard.

Every function builds a :class:`plotly.graph_objects.Figure` from a JSON-friendly
report; :func:`write` saves it as a self-contained HTML file (Plotly's JavaScript
embedded, so the file opens offline).
"""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go

from clm.errors import ClmError

# Okabe & Ito (2008), a palette that colour-blind readers can tell apart.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")


def write(figure: go.Figure, path: Path) -> None:
    """Save ``figure`` as a self-contained ``.html`` file."""
    if path.suffix.lower() not in {".html", ".htm"}:
        raise ClmError(f"{path}: charts are written as .html files")
    figure.write_html(path, include_plotlyjs=True, full_html=True)
