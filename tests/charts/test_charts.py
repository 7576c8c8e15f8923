"""Writing charts: self-contained HTML, or PNG images rendered by Kaleido in Chromium.

The PNG checks decode the file with Pillow, so they see pixels, not just a file that starts
with the right bytes.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from clm.charts import experiments as charts
from clm.charts import write
from clm.errors import ChartError

BLUE = (0x00, 0x72, 0xB2)  # PALETTE[0]: the forest plot's first metric and the cumulative lines
can_render = pytest.mark.skipif(
    shutil.which("chromium") is None and shutil.which("google-chrome") is None,
    reason="no Chrome or Chromium to render PNG charts",
)


def decode_png(path: Path) -> npt.NDArray[np.uint8]:
    """The pixels (height × width × 3) of a PNG file, read by Pillow (which checks the
    signature, the chunks' CRCs and the compressed scanlines as it decodes)."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def test_an_unknown_extension_is_refused(analyzed: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ChartError, match=r"\.html or \.png"):
        charts.write_effects_chart(analyzed, tmp_path / "effects.svg")
    assert not (tmp_path / "effects.svg").exists()


def test_png_without_kaleido_names_the_extra(
    analyzed: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "kaleido", None)  # what an uninstalled package looks like
    with pytest.raises(ChartError, match=r"kaleido.*clm\[png\]"):
        charts.write_effects_chart(analyzed, tmp_path / "effects.png")
    assert not (tmp_path / "effects.png").exists()


def test_png_without_a_browser_names_browser_path(
    analyzed: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("kaleido", reason="the png extra is not installed")
    missing = tmp_path / "no-chrome"
    monkeypatch.setenv("BROWSER_PATH", str(missing))
    with pytest.raises(ChartError, match=f"Chrome or Chromium: BROWSER_PATH={missing}"):
        charts.write_effects_chart(analyzed, tmp_path / "effects.png")
    assert not (tmp_path / "effects.png").exists()


@can_render
def test_automation_chart_as_png(automation: dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("kaleido", reason="the png extra is not installed")
    path = tmp_path / "automation.png"
    charts.write_automation_chart(automation, path)
    pixels = decode_png(path)
    assert pixels.shape[:2] == (800, 1200)  # the figure's height, the default width
    rgb = pixels[..., :3].reshape(-1, 3)
    colours = np.unique(rgb, axis=0)
    assert len(colours) > 100  # text, gridlines, markers, bands: not a blank page
    assert (rgb == BLUE).all(axis=1).sum() > 200  # markers and lines in the palette's blue
    white = (rgb == 255).all(axis=1).mean()
    assert 0.5 < white < 0.995  # a white plot background with something drawn on it


@can_render
def test_html_and_png_of_one_figure(analyzed: dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("kaleido", reason="the png extra is not installed")
    figure = charts.effects_figure(analyzed)
    write(figure, tmp_path / "effects.HTML")
    write(figure, tmp_path / "effects.png")
    assert "Plotly.newPlot" in (tmp_path / "effects.HTML").read_text(encoding="utf-8")
    assert decode_png(tmp_path / "effects.png").shape[:2] == (600, 1200)
