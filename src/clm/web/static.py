"""Static files of the dashboard: its CSS and JavaScript, and Plotly's JavaScript from
the installed ``plotly`` package (no CDN: the pages work offline).

Files are read once, served with a content hash as version (``?v=``) and a year of
caching, gzip-compressed once when the browser accepts it (Plotly's bundle shrinks
from about 4.7 MB to 1.4 MB).
"""

from __future__ import annotations

import gzip
import hashlib
from functools import cache
from pathlib import Path

import plotly
from fastapi.responses import PlainTextResponse, Response

HERE = Path(__file__).parent / "static"
TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
PLOTLY = "plotly.min.js"
ASSETS = ("style.css", "app.js", "favicon.svg", PLOTLY)


def _path(name: str) -> Path:
    if name == PLOTLY:
        return Path(plotly.__file__).parent / "package_data" / PLOTLY
    return HERE / name


@cache
def _content(name: str) -> bytes:
    if name == PLOTLY and not _path(name).exists():
        from plotly.offline import get_plotlyjs

        return str(get_plotlyjs()).encode()
    return _path(name).read_bytes()


@cache
def _gzipped(name: str) -> bytes:
    return gzip.compress(_content(name), compresslevel=6, mtime=0)


@cache
def version(name: str) -> str:
    """A short content hash of an asset, for cache-busting URLs."""
    return hashlib.sha256(_content(name)).hexdigest()[:12]


def response(name: str, accept_encoding: str) -> Response:
    """The asset ``name`` (404 for anything else), compressed if the client accepts gzip."""
    if name not in ASSETS:
        return PlainTextResponse("not found", status_code=404)
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "ETag": f'"{version(name)}"',
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    media = TYPES[Path(name).suffix]
    if "gzip" in accept_encoding.lower():
        headers["Content-Encoding"] = "gzip"
        return Response(_gzipped(name), media_type=media, headers=headers)
    return Response(_content(name), media_type=media, headers=headers)
