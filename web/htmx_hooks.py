"""Our "htmx-python-hooks": the one module that knows HTMX's request and response headers.

Routes never read HX-* headers themselves: they ask `is_htmx`, render with `render` (the whole page,
or only the named block when HTMX asked for a piece of it), and answer with the helpers below.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from web.redirects import safe_local_path


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def is_boosted(request: Request) -> bool:
    return request.headers.get("HX-Boosted") == "true"


def wants_fragment(request: Request) -> bool:
    """A partial swap: an HTMX request that is not a boosted full-page navigation or history restore."""
    return (
        is_htmx(request)
        and not is_boosted(request)
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def hx_target(request: Request) -> str | None:
    return request.headers.get("HX-Target")


def hx_redirect(url: str, request: Request | None = None) -> Response:
    """Send the browser to `url` (a path on this site; anything else sends it to "/"): HX-Redirect for
    HTMX, a 303 for a plain form post."""
    url = safe_local_path(url)
    if request is None or is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def hx_refresh(request: Request, url: str) -> Response:
    """Reload the whole page (HX-Refresh) for HTMX; a plain request is sent to `url`."""
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Refresh": "true"})
    return RedirectResponse(url, status_code=303)


def hx_trigger(response: Response, event: str, detail: Any = None) -> Response:
    """Fire a client-side event after the swap (e.g. to update a counter elsewhere on the page)."""
    existing = response.headers.get("HX-Trigger")
    events: dict[str, Any] = json.loads(existing) if existing else {}
    events[event] = detail if detail is not None else True
    response.headers["HX-Trigger"] = json.dumps(events, ensure_ascii=False)
    return response


def hx_retarget(response: Response, selector: str, swap: str = "innerHTML") -> Response:
    """Swap this response somewhere else than the element that asked (errors into a message area)."""
    response.headers["HX-Retarget"] = selector
    response.headers["HX-Reswap"] = swap
    return response


def vary_on_htmx(response: Response) -> Response:
    # The same URL answers a page or a fragment: caches must key on the header.
    response.headers["Vary"] = "HX-Request"
    return response


def html(content: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(content, status_code=status_code)


def hx_focus(response: Response, selector: str) -> Response:
    """After the swap, move focus to `selector` (an element of the page, e.g. "#visit-12-message") and
    announce its text: web/static/js/ui.js listens to this event (docs/accessibility.md). Without it,
    focus goes to the element marked data-focus-after-swap, else to the swapped element."""
    existing = response.headers.get("HX-Trigger-After-Settle")
    events: dict[str, Any] = json.loads(existing) if existing else {}
    events["alliance:focus"] = selector
    response.headers["HX-Trigger-After-Settle"] = json.dumps(events, ensure_ascii=False)
    return response
