"""Writing charts: self-contained HTML, or PNG images rendered by Kaleido in Chromium.

The PNG checks decode the file with a small PNG reader of their own (the PNG spec, W3C 2003:
chunks with CRCs, zlib-compressed scanlines, five filter types), so they see pixels, not just
a file that starts with the right bytes.
"""

from __future__ import annotations

import shutil
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from clm.charts import experiments as charts
from clm.charts import write
from clm.errors import ChartError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
BLUE = (0x00, 0x72, 0xB2)  # PALETTE[0]: the forest plot's first metric and the cumulative lines
can_render = pytest.mark.skipif(
    shutil.which("chromium") is None and shutil.which("google-chrome") is None,
    reason="no Chrome or Chromium to render PNG charts",
)


def _unfilter(kind: int, line: list[int], prev: list[int], bpp: int) -> list[int]:
    """One scanline without its filter (PNG spec §9.2: None, Sub, Up, Average, Paeth)."""
    if kind == 0:
        return line
    if kind == 2:
        return [(a + b) & 255 for a, b in zip(line, prev, strict=True)]
    out = list(line)
    for x in range(len(out)):
        left = out[x - bpp] if x >= bpp else 0
        if kind == 1:
            out[x] = (out[x] + left) & 255
        elif kind == 3:
            out[x] = (out[x] + ((left + prev[x]) >> 1)) & 255
        else:
            up, upleft = prev[x], prev[x - bpp] if x >= bpp else 0
            p = left + up - upleft
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - upleft)
            guess = left if pa <= pb and pa <= pc else up if pb <= pc else upleft
            out[x] = (out[x] + guess) & 255
    return out


def decode_png(data: bytes) -> npt.NDArray[np.uint8]:
    """The pixels (height × width × 3 or 4) of an 8-bit RGB(A), non-interlaced PNG."""
    assert data[:8] == SIGNATURE
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert header is not None and kind == b"IEND"
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    assert len(raw) == height * (stride + 1)
    prev, rows = [0] * stride, []
    for y in range(height):
        start = y * (stride + 1)
        prev = _unfilter(raw[start], list(raw[start + 1 : start + 1 + stride]), prev, bpp)
        rows.append(prev)
    return np.array(rows, dtype=np.uint8).reshape(height, width, bpp)


def test_the_decoder_reads_a_hand_made_png() -> None:
    """The oracle's oracle: a 2 × 2 image written by hand with the Sub and Up filters."""
    raw = bytes([1, 10, 20, 30, 5, 5, 5, 2, 1, 1, 1, 0, 0, 0])  # Sub row, then Up row

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    data = SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
    pixels = decode_png(data + chunk(b"IEND", b""))
    assert pixels.tolist() == [[[10, 20, 30], [15, 25, 35]], [[11, 21, 31], [15, 25, 35]]]


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
    pixels = decode_png(path.read_bytes())
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
    assert decode_png((tmp_path / "effects.png").read_bytes()).shape[:2] == (600, 1200)
