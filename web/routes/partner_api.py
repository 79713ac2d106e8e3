"""The partner API (bearer tokens, JSON) and the page where a partner admin manages its tokens.

The API shows the same matched requests with the same privacy as the claim board and claims through
the same service; errors are {"error": code, ...} with 401, 403, 404, 409, 422 or 429. A token of a
pending, suspended or closed partner, or one made by a person since deactivated, gets 403 with the
reason (`access.lifecycle_refusal`); each token has its own rate, shared by every web process
through Redis (429 with Retry-After)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from alliance.core import audit
from alliance.core.access import Action, Principal, allows, lifecycle_refusal, require
from alliance.core.codes import NeedCode
from alliance.core.errors import InvalidInput, NotFound, PermissionDenied
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import utc_now
from alliance.matching.board import board_after, contact_details
from alliance.matching.claims import (
    CapacityExhausted,
    ClaimConflict,
    ClaimsPaused,
    InvalidTransition,
    claim_request,
    release_claim,
)
from alliance.partners.tokens import (
    authenticate,
    create_token,
    revoke_token,
    take_api_allowance,
    tokens_of,
)
from web.auth import client_address, require_principal
from web.jobs import enqueue_quietly, redis_client
from web.templating import render

NO_STORE = {"Cache-Control": "no-store"}


def _json(payload: object, status: int = 200) -> JSONResponse:
    return JSONResponse(payload, status_code=status, headers=NO_STORE)


def _error(status: int, code: str, message: str = "", **extra: object) -> JSONResponse:
    payload: dict[str, object] = {"error": code, **extra}
    if message:
        payload["message"] = message
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="alliance"'
    return JSONResponse(payload, status_code=status, headers=headers)


class _RateLimited(Exception):
    def __init__(self, retry_after_seconds: int, per_minute: int) -> None:
        super().__init__("rate limited")
        self.retry_after_seconds = retry_after_seconds
        self.per_minute = per_minute


async def _token_principal(request: Request) -> Principal | None:
    """The token's principal, None for a missing or bad token; _RateLimited when the token has used
    up its rate (counted only for genuine tokens, so nobody can spend another partner's rate)."""
    scheme, _sep, secret = request.headers.get("authorization", "").partition(" ")
    secret = secret.strip()
    principal = await authenticate(secret) if scheme.lower() == "bearer" and secret else None
    if principal is None:
        # Unknown, revoked, or a partner no longer approved: a refusal on the record (the token's
        # public prefix only, never the secret).
        await audit.refused(
            None,
            "api.token_refused",
            request.url.path,
            client_address(request),
            {"method": request.method, "prefix": secret[:12] if secret.startswith("alli_") else ""},
        )
        return None
    allowance = await take_api_allowance(redis_client(request.app), secret)
    if not allowance.allowed:
        raise _RateLimited(allowance.retry_after_seconds, allowance.limit_per_minute)
    return principal


async def _api_refused(request: Request, principal: Principal, error: Exception) -> None:
    await audit.refused(
        principal,
        "access.forbidden" if isinstance(error, PermissionDenied) else "access.not_found",
        request.url.path,
        client_address(request),
        {"method": request.method},
    )


def _unauthorized() -> JSONResponse:
    return _error(401, "unauthorized", _("Send a valid partner API token: Authorization: Bearer <token>."))


def _too_many(limited: _RateLimited) -> JSONResponse:
    response = _error(
        429,
        "rate_limited",
        _("Too many requests with this token: at most {limit} a minute. Try again in {seconds} s.").format(
            limit=limited.per_minute, seconds=limited.retry_after_seconds
        ),
        retry_after=limited.retry_after_seconds,
    )
    response.headers["Retry-After"] = str(limited.retry_after_seconds)
    return response


def _limited(handler):
    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except _RateLimited as limited:
            return _too_many(limited)

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded


def _refusal(principal: Principal) -> JSONResponse:
    if not principal.active:
        code = "token_creator_deactivated"
    else:
        code = f"organisation_{principal.partner_status or 'unknown'}"
    return _error(403, code, lifecycle_refusal(principal) or _("This token may not do that."))


async def _api_principal(request: Request, action: Action) -> Principal | JSONResponse:
    """The token's principal when it may do `action`; otherwise the 401 or 403 answer to send."""
    principal = await _token_principal(request)
    if principal is None:
        return _unauthorized()
    if not allows(principal, action):
        return _refusal(principal)
    return principal


async def api_requests(request: Request) -> Response:
    principal = await _api_principal(request, Action.VIEW_BOARD)
    if isinstance(principal, JSONResponse):
        return principal
    params = request.query_params
    need = params.get("need", "")
    if need and need not in NeedCode.__members__:
        return _error(422, "invalid", _("Unknown need code: {code}").format(code=need))
    limit = params.get("limit", "20")
    if not limit.isdigit() or not 1 <= int(limit) <= 100:
        return _error(422, "invalid", _("limit must be a whole number from 1 to 100."))
    try:
        items, cursor = await board_after(
            principal, need=need, limit=int(limit), cursor=params.get("cursor", "")
        )
    except InvalidInput as invalid:
        return _error(422, "invalid", "; ".join(invalid.errors.values()))
    return _json({"requests": [item.as_json() for item in items], "next_cursor": cursor})


async def api_claim(request: Request) -> Response:
    principal = await _api_principal(request, Action.CLAIM_REQUESTS)
    if isinstance(principal, JSONResponse):
        return principal
    request_id = request.path_params["request_id"]
    offering_id = None
    body = await request.body()
    if body.strip():
        try:
            payload = json.loads(body)
            offering_id = int(payload["offering_id"]) if payload.get("offering_id") is not None else None
        except (ValueError, TypeError, AttributeError, KeyError):
            return _error(422, "invalid", _('The body must be JSON, e.g. {"offering_id": 12}, or empty.'))
    try:
        result = await claim_request(principal, request_id, offering_id)
    except ClaimConflict as lost:
        if lost.by:
            return _error(409, "already_claimed", by=lost.by)
        return _error(409, "not_open", status=lost.status)
    except CapacityExhausted:
        return _error(409, "capacity_exhausted")
    except ClaimsPaused as paused:
        response = _error(429, "claims_paused", paused.message, paused_until=paused.until.isoformat())
        response.headers["Retry-After"] = str(max(1, int((paused.until - utc_now()).total_seconds())))
        return response
    except NotFound as missing:
        await _api_refused(request, principal, missing)
        return _error(404, "not_found")
    except PermissionDenied as denied:
        await _api_refused(request, principal, denied)
        return _error(403, "forbidden")
    contact = await contact_details(principal, request_id, client_address(request))
    return _json(
        {
            "request_id": result.request.id,
            "status": str(result.request.status),
            "offering_id": result.offering.id,
            "partner": result.partner.name,
            "household": contact.as_json(),
        }
    )


async def api_release(request: Request) -> Response:
    principal = await _api_principal(request, Action.HOLD_REQUESTS)
    if isinstance(principal, JSONResponse):
        return principal
    try:
        payload = json.loads(await request.body() or b"{}")
        reason = str(payload.get("reason", "")) if isinstance(payload, dict) else ""
    except ValueError:
        return _error(422, "invalid", _('The body must be JSON: {"reason": "..."}.'))
    request_id = request.path_params["request_id"]
    try:
        released = await release_claim(principal, request_id, reason)
    except InvalidInput as invalid:
        return _error(422, "invalid", "; ".join(invalid.errors.values()))
    except InvalidTransition as refused:
        return _error(409, "not_claimed", refused.message)
    except NotFound as missing:
        await _api_refused(request, principal, missing)
        return _error(404, "not_found")
    await enqueue_quietly(request.app, "match_requests_job", [request_id])
    return _json({"request_id": released.id, "status": str(released.status)})


# --- the token page ------------------------------------------------------------------------------


async def tokens_page(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_API_TOKENS)
    created = None
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        form = await request.form()
        try:
            created = await create_token(principal, str(form.get("name", "")))
        except InvalidInput as invalid:
            errors, status = invalid.errors, 422
    return render(
        request,
        "board/api_tokens.html",
        {"tokens": await tokens_of(principal), "created": created, "errors": errors},
        status_code=status,
    )


async def token_revoke(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_API_TOKENS)
    await revoke_token(principal, request.path_params["token_id"])
    return render(
        request,
        "board/api_tokens.html",
        {"tokens": await tokens_of(principal), "created": None, "errors": {}, "revoked": True},
    )


routes = [
    Route("/partner/api-tokens", tokens_page, methods=["GET", "POST"], name="api_tokens"),
    Route(
        "/partner/api-tokens/{token_id:int}/revoke", token_revoke, methods=["POST"], name="api_token_revoke"
    ),
    Route("/api/v1/partner/requests", _limited(api_requests), methods=["GET"], name="api_partner_requests"),
    Route(
        "/api/v1/partner/requests/{request_id:int}/claim",
        _limited(api_claim),
        methods=["POST"],
        name="api_partner_claim",
    ),
    Route(
        "/api/v1/partner/requests/{request_id:int}/release",
        _limited(api_release),
        methods=["POST"],
        name="api_partner_release",
    ),
]
