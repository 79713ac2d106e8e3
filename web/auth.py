"""Who is asking: the session key in the signed cookie, checked against its `UserSession` row on every
request (alliance/core/sessions.py) and turned into a Principal, once per request."""

from __future__ import annotations

import secrets

from starlette.requests import Request

from alliance.core import sessions
from alliance.core.access import Principal, principal_for
from alliance.core.errors import AllianceError
from alliance.core.models import User
from alliance.core.sessions import SessionEnd, SessionLimits
from alliance.notifications.inbox import unread_count

SESSION_KEY = "sid"


class LoginRequired(AllianceError):
    pass


def session_limits(request: Request) -> SessionLimits:
    settings = request.app.state.settings
    return SessionLimits.from_seconds(settings.session_idle_seconds, settings.session_absolute_seconds)


async def current_principal(request: Request) -> Principal | None:
    if hasattr(request.state, "principal"):
        return request.state.principal
    principal = None
    request.state.session_id = None
    key = request.session.get(SESSION_KEY)
    if key:
        session = await sessions.live_session(str(key), session_limits(request))
        if session is None:
            # Ended, idle, expired or unknown: the cookie must not carry the key on, whatever route
            # (e.g. /language) re-signs it. The CSRF token stays: this page's forms carry it.
            _forget_login(request, keep_csrf=True)
        else:
            request.state.session_id = session.id
            principal = await principal_for(session.user)
    request.state.principal = principal
    # The header's inbox count: one indexed query, for whole pages only (not HTMX pieces).
    request.state.inbox_unread = 0
    if principal is not None and request.method == "GET" and "hx-request" not in request.headers:
        request.state.inbox_unread = await unread_count(principal)
    return principal


async def require_principal(request: Request) -> Principal:
    principal = await current_principal(request)
    if principal is None:
        raise LoginRequired()
    return principal


def current_session_id(request: Request) -> int | None:
    """The session row of this request (after `current_principal`)."""
    return getattr(request.state, "session_id", None)


async def start_session(request: Request, user: User) -> None:
    language = request.session.get("lang")
    request.session.clear()
    key = await sessions.open_session(
        user,
        session_limits(request),
        address=client_address(request),
        user_agent=request.headers.get("user-agent", ""),
    )
    request.session.update({SESSION_KEY: key, "csrf": secrets.token_urlsafe(32)})
    if user.language or language:
        request.session["lang"] = user.language or language
    request.scope["csrf_token"] = request.session["csrf"]


def _forget_login(request: Request, *, keep_csrf: bool = False) -> None:
    kept = {name: request.session[name] for name in ("lang", "csrf") if name in request.session}
    if not keep_csrf:
        kept.pop("csrf", None)
    request.session.clear()
    request.session.update(kept)


async def end_session(request: Request) -> None:
    """Logout: end the session row (the cookie alone no longer opens anything) and clear the cookie."""
    await current_principal(request)
    if session_id := current_session_id(request):
        await sessions.end_session(session_id, SessionEnd.LOGOUT)
    _forget_login(request)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
