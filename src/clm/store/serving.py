"""Which process serves a workspace: the ``.clm/serve.json`` file of ``clm serve``.

While ``clm serve`` runs, the file (readable by its owner only) names the process, its
URL and a token for the local ``clm`` commands, which then work through the server
(``clm score``, ``clm status``, ``clm customer``, ``clm segments``) or say that the
workspace is served there. The file goes when the server stops; a file left by a
killed server names a process that no longer runs and is ignored.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

SERVE_FILE = "serve.json"


@dataclass(frozen=True)
class Served:
    """A running server of a workspace, as its serve file says."""

    pid: int
    url: str
    token: str


def served(root: Path) -> Served | None:
    """The server holding the workspace at ``root``, if one runs."""
    path = root / ".clm" / SERVE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        pid = int(data["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, OverflowError):
        return None
    return Served(pid, str(data["url"]), str(data["token"]))


def local_url(host: str, port: int) -> str:
    """The URL a local ``clm`` reaches a server listening on ``host`` at: a wildcard
    address (``0.0.0.0``, ``::``, empty) is reached on loopback, an IPv6 literal in
    brackets (RFC 3986, section 3.2.2)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"
