"""The ``clm`` commands that work through a running ``clm serve``.

While a server holds the workspace's database, ``clm score``, ``clm status``,
``clm segments`` and ``clm customer`` send their request to it (with the token of its
serve file, :mod:`clm.store.serving`) and print the answer as they would print their
own; other commands say that the workspace is served and where.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import pandas as pd

from clm.errors import ClmError, NotFound, ServedElsewhere
from clm.progress import Progress
from clm.scores import reports
from clm.scores.calibration import Calibration
from clm.store.serving import Served, served
from clm.workspace import Workspace

if TYPE_CHECKING:
    from clm.scores.pipeline import ScoringRun

TIMEOUT = httpx.Timeout(10.0, read=3600.0)  # a scoring run can take long


class RemoteWorkspace:
    """The workspace methods those commands use, answered by the server."""

    def __init__(self, server: Served) -> None:
        self.server = server
        self._client = httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {server.token}"},
            timeout=TIMEOUT,
        )

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            answer = self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ClmError(f"the server at {self.server.url} did not answer: {exc}") from exc
        if answer.status_code == 404:
            raise NotFound(str(_detail(answer) or "not found"))
        if answer.status_code >= 400:
            detail = _detail(answer) or f"HTTP {answer.status_code} {answer.reason_phrase}"
            raise ClmError(f"the server at {self.server.url} refused: {detail}")
        try:
            return answer.json()
        except ValueError:
            raise ClmError(
                f"the server at {self.server.url} answered HTTP {answer.status_code} with "
                f"something other than JSON ({answer.headers.get('content-type', 'no type')}); "
                "is it a clm server?"
            ) from None

    def status(self) -> dict[str, Any]:
        info: dict[str, Any] = self._call("GET", "/v1/admin/status")
        return info

    def score(
        self,
        as_of: date | str | None = None,
        *,
        engine: str | None = None,
        progress: Progress | None = None,
    ) -> ScoringRun:
        from clm.scores.pipeline import ScoringRun

        if progress is not None:
            progress.phase(f"scoring through the server at {self.server.url}")
        body = {"as_of": str(as_of) if as_of else None, "engine": engine}
        r = self._call("POST", "/v1/admin/score", body)
        return ScoringRun(
            r["run_id"],
            date.fromisoformat(r["as_of"]),
            r["window_days"],
            r["engine"],
            r["n_profiles"],
            r["n_buyers"],
            r["seconds"],
            Calibration.from_json(json.dumps(r["calibration"])),
        )

    def _segments(self) -> dict[str, Any]:
        answer: dict[str, Any] = self._call("GET", "/v1/admin/segments")
        return answer

    def segments(self) -> pd.DataFrame:
        frame = pd.DataFrame.from_records(self._segments()["segments"])
        return frame.astype(object).where(frame.notna(), None)  # JSON null stays None

    def phases(self) -> pd.DataFrame:
        return reports.phase_table(self.segments())

    def latest_run(self) -> tuple[int, date]:
        answer = self._segments()
        return int(answer["run_id"]), date.fromisoformat(answer["as_of"])

    def customer(self, customer_id: str) -> dict[str, Any]:
        view: dict[str, Any] = self._call("GET", f"/v1/profiles/{quote(customer_id, safe='')}")
        return view


def _detail(answer: httpx.Response) -> object:
    """An error answer's ``detail`` (JSON), else the start of its text; None when empty."""
    try:
        body = answer.json()
    except ValueError:
        return answer.text.strip()[:200] or None
    return body.get("detail", body) if isinstance(body, dict) else body


@contextmanager
def opened_or_served(path: Path) -> Iterator[Workspace | RemoteWorkspace]:
    """The workspace at ``path``, or its server when ``clm serve`` holds it."""
    try:
        workspace: Workspace | RemoteWorkspace = Workspace.open(path)
    except ServedElsewhere:
        server = served(path)
        if server is None:
            raise
        workspace = RemoteWorkspace(server)
    try:
        yield workspace
    finally:
        workspace.close()
