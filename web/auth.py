"""Who is asking: the signed session cookie turned into a Principal, once per request."""

from __future__ import annotations

import secrets

from starlette.requests import Request

from alliance.core.access import Principal, principal_for
from alliance.core.errors import AllianceError
from alliance.core.models import User


class LoginRequired(AllianceError):
    pass


def _fingerprint(user: User) -> str:
    # Changing the password changes the hash, which ends every session of the old one.
    return user.password_hash[-16:]


async def current_principal(request: Request) -> Principal | None:
    if hasattr(request.state, "principal"):
        return request.state.principal
    principal = None
    user_id = request.session.get("user_id")
    if user_id:
        user = await User.get_or_none(id=user_id, is_active=True)
        if user and secrets.compare_digest(request.session.get("auth", ""), _fingerprint(user)):
            principal = await principal_for(user)
    request.state.principal = principal
    return principal


async def require_principal(request: Request) -> Principal:
    principal = await current_principal(request)
    if principal is None:
        raise LoginRequired()
    return principal


def start_session(request: Request, user: User) -> None:
    language = request.session.get("lang")
    request.session.clear()
    request.session.update(
        {"user_id": user.id, "auth": _fingerprint(user), "csrf": secrets.token_urlsafe(32)}
    )
    if user.language or language:
        request.session["lang"] = user.language or language
    request.scope["csrf_token"] = request.session["csrf"]


def end_session(request: Request) -> None:
    language = request.session.get("lang")
    request.session.clear()
    if language:
        request.session["lang"] = language


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
