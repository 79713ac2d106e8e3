"""One-time messages across a redirect ("The visit is scheduled."), kept in the signed session."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from web.htmx_hooks import hx_redirect


def flash(request: Request, message: str) -> None:
    request.session["flash"] = message


def take_flash(request: Request) -> str:
    """The message left for this page, once."""
    return request.session.pop("flash", "") if "flash" in request.session else ""


def go(request: Request, location: str, message: str) -> Response:
    """Leave `message` for the next page and send the browser there (HX-Redirect or a 303)."""
    flash(request, message)
    return hx_redirect(location, request)
