"""Routes for what messages bring back: web banners, opens and clicks (issue 6, items 6–7).

``GET /v1/banners/{customer_id}?placement=P`` gives a page the content decided for that
placement and records an impression; an ingest key (the one a page carries) may call it.
``GET /t/o/{message_id}.gif`` (the open pixel) and ``GET /t/c/{message_id}?u=URL&s=SIG``
(the click redirect) need no key: the redirect goes only to links clm signed for that
message, so it is no open redirect.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from clm.api.deps import State, authorize, presented_token
from clm.automation.tracking import PIXEL_GIF
from clm.errors import NotFound

router = APIRouter(tags=["messages"])
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/v1/banners/{customer_id}", summary="The banner decided for a placement")
def banner(
    customer_id: str,
    request: Request,
    state: State,
    placement: Annotated[str, Query(min_length=1, max_length=200)],
) -> dict[str, Any]:
    """``{"banner": null}`` when no automation decided one for this placement."""
    authorize(state, presented_token(request), "ingest")
    with state.ws.reader() as ws:
        return {"banner": ws.banner(customer_id, placement)}


@router.get("/t/o/{message_id}.gif", summary="Open pixel", include_in_schema=False)
def opened(message_id: str, state: State) -> Response:
    with state.ws.reader() as ws, suppress(NotFound):  # a pixel answers whatever the id
        ws.record_open(message_id)
    return Response(PIXEL_GIF, media_type="image/gif", headers=NO_STORE)


@router.get("/t/c/{message_id}", summary="Tracked click: records it, then redirects")
def clicked(
    message_id: str,
    state: State,
    u: Annotated[str, Query(max_length=4096)],
    s: Annotated[str, Query(max_length=200)],
) -> Response:
    with state.ws.reader() as ws:
        target = ws.record_click(message_id, u, s)
    return RedirectResponse(target, status_code=302, headers=NO_STORE)
