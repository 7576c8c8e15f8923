"""Plotly figures of clm's results, shared by the CLI reports and the dashboard.

Every function builds a :class:`plotly.graph_objects.Figure` from a JSON-friendly
report; :func:`write` saves it by the file's extension: ``.html`` as a self-contained
page (Plotly's JavaScript embedded, so the file opens offline), ``.png`` as an image
rendered by Kaleido (the ``png`` extra) in a headless Chrome or Chromium.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import plotly.graph_objects as go

from clm.errors import ChartError

# Okabe & Ito (2008), a palette that colour-blind readers can tell apart.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
HTML = frozenset({".html", ".htm"})
#: The size of a PNG whose figure does not set its own width or height (pixels).
PNG_WIDTH, PNG_HEIGHT = 1200, 600


def write(figure: go.Figure, path: Path) -> None:
    """Save ``figure`` as ``.html`` (self-contained) or ``.png`` (by the path's extension).

    Raises
    ------
    ChartError
        Another extension; or, for ``.png``, Kaleido is not installed or finds no Chrome
        or Chromium (``BROWSER_PATH`` names the browser's executable if it is not on the
        ``PATH``). Nothing is written then.
    """
    suffix = path.suffix.lower()
    if suffix in HTML:
        figure.write_html(path, include_plotlyjs=True, full_html=True)
    elif suffix == ".png":
        path.write_bytes(png(figure))
    else:
        raise ChartError(f"{path}: charts are written as .html or .png files")


def png(figure: go.Figure) -> bytes:
    """``figure`` rendered as PNG bytes, at its layout's size (else 1200 × 600 pixels)."""
    if importlib.util.find_spec("kaleido") is None:
        raise ChartError(
            "PNG charts need the kaleido package (pip install 'clm[png]'); "
            "or write the chart as .html"
        )
    width = figure.layout.width or PNG_WIDTH
    height = figure.layout.height or PNG_HEIGHT
    try:
        data: bytes = _render(figure, width, height)
    except RuntimeError as exc:  # Plotly's wording of Kaleido's ChromeNotFoundError
        if "Chrome" not in str(exc):
            raise
        where = os.environ.get("BROWSER_PATH")
        hint = (
            f"BROWSER_PATH={where} is not a browser"
            if where
            else "none was found on the PATH; install one (Debian: apt-get install chromium) "
            "or set BROWSER_PATH to its executable"
        )
        raise ChartError(f"PNG charts need Chrome or Chromium: {hint}") from None
    return data


def _render(figure: go.Figure, width: int, height: int, attempts: int = 3) -> bytes:
    """Kaleido's render; a page whose scripts had not loaded yet (its ``JavascriptError``
    "kaleido_scopes is not defined", seen on a busy machine after earlier renders in the
    same process) is tried again, up to ``attempts`` times."""
    for _ in range(attempts - 1):
        try:
            return bytes(figure.to_image(format="png", width=width, height=height, scale=1))
        except RuntimeError as exc:
            if type(exc).__name__ != "JavascriptError":
                raise
    return bytes(figure.to_image(format="png", width=width, height=height, scale=1))
