"""The partner API (bearer tokens, JSON) and the page where a partner admin manages its tokens.

The API shows the same matched requests with the same privacy as the claim board and claims through
the same service; errors are RFC 9457 problem details (web/problems.py) with 401, 403, 404, 409, 422
or 429, and the contract is served at /api/v1/openapi.json (web/api_contracts.py). A token of a
pending, suspended or closed partner, or one made by a person since deactivated, gets 403 with the
reason (`access.lifecycle_refusal`); each token has its own rate, shared by every web process
through Redis (429 with Retry-After)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from alliance.cases.eligibility import EligibilityLimited, check_by_id_number
from alliance.core import audit
from alliance.core.access import Action, Principal, allows, lifecycle_refusal, require
from alliance.core.codes import EligibilityChannel
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
from web.api_contracts import partner_document
from web.api_models import (
    ClaimBody,
    ClaimResult,
    EligibilityAnswer,
    EligibilityBody,
    ReleaseBody,
    ReleaseResult,
    RequestPath,
    RequestsPage,
    RequestsQuery,
)
from web.auth import client_address, require_principal
from web.jobs import enqueue_quietly, redis_client
from web.openapi import answer, answering_invalid, validated, validated_json
from web.problems import FieldProblem, invalid, problem
from web.templating import render


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


def _unauthorized(request: Request) -> Response:
    return problem(
        request, 401, "unauthorized", _("Send a valid partner API token: Authorization: Bearer <token>.")
    )


def _too_many(request: Request, limited: _RateLimited) -> Response:
    return problem(
        request,
        429,
        "rate_limited",
        _("Too many requests with this token: at most {limit} a minute. Try again in {seconds} s.").format(
            limit=limited.per_minute, seconds=limited.retry_after_seconds
        ),
        retry_after=limited.retry_after_seconds,
        headers={"Retry-After": str(limited.retry_after_seconds)},
    )


def _limited(handler):
    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except _RateLimited as limited:
            return _too_many(request, limited)

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return answering_invalid(guarded)


def _refusal(request: Request, principal: Principal) -> Response:
    if not principal.active:
        code = "token_creator_deactivated"
    else:
        code = f"organisation_{principal.partner_status or 'unknown'}"
    return problem(request, 403, code, lifecycle_refusal(principal) or _("This token may not do that."))


async def _api_principal(request: Request, action: Action) -> Principal | Response:
    """The token's principal when it may do `action`; otherwise the 401 or 403 answer to send."""
    principal = await _token_principal(request)
    if principal is None:
        return _unauthorized(request)
    if not allows(principal, action):
        return _refusal(request, principal)
    return principal


def _domain_invalid(request: Request, refused: InvalidInput, location: str) -> Response:
    return invalid(
        request,
        [FieldProblem(location=location, field=name, detail=text) for name, text in refused.errors.items()],
    )


async def api_requests(request: Request) -> Response:
    """Open requests matched to your offerings, best match first, a page at a time."""
    principal = await _api_principal(request, Action.VIEW_BOARD)
    if isinstance(principal, Response):
        return principal
    query = validated(RequestsQuery, dict(request.query_params), "query")
    try:
        items, cursor = await board_after(
            principal, need=str(query.need or ""), limit=query.limit, cursor=query.cursor
        )
    except InvalidInput as refused:
        return _domain_invalid(request, refused, "query")
    return answer(RequestsPage(requests=[item.as_json() for item in items], next_cursor=cursor))


async def api_claim(request: Request) -> Response:
    """Claim a matched request: exactly one of any number of simultaneous claims wins."""
    principal = await _api_principal(request, Action.CLAIM_REQUESTS)
    if isinstance(principal, Response):
        return principal
    request_id = validated(RequestPath, request.path_params, "path").request_id
    body = validated_json(ClaimBody, await request.body(), empty={})
    try:
        result = await claim_request(principal, request_id, body.offering_id)
    except ClaimConflict as lost:
        if lost.by:
            return problem(
                request, 409, "already_claimed", _("Another claim won: {by}.").format(by=lost.by), by=lost.by
            )
        return problem(
            request,
            409,
            "not_open",
            _("The request is no longer open ({status}).").format(status=lost.status),
            request_status=str(lost.status),
        )
    except CapacityExhausted:
        return problem(
            request, 409, "capacity_exhausted", _("Your matched offerings have no places left this month.")
        )
    except ClaimsPaused as paused:
        seconds = max(1, int((paused.until - utc_now()).total_seconds()))
        return problem(
            request,
            429,
            "claims_paused",
            paused.message,
            paused_until=paused.until.isoformat(),
            retry_after=seconds,
            headers={"Retry-After": str(seconds)},
        )
    except InvalidInput as refused:
        return _domain_invalid(request, refused, "body")
    except NotFound as missing:
        await _api_refused(request, principal, missing)
        return problem(request, 404, "not_found", _("Not found, or not matched to your organisation."))
    except PermissionDenied as denied:
        await _api_refused(request, principal, denied)
        return problem(request, 403, "forbidden", denied.reason or _("This token may not do that."))
    contact = await contact_details(principal, request_id, client_address(request))
    return answer(
        ClaimResult(
            request_id=result.request.id,
            status=str(result.request.status),
            offering_id=result.offering.id,
            partner=result.partner.name,
            household=contact.as_json(),
        )
    )


async def api_release(request: Request) -> Response:
    """Give a claimed request back to the pool, with a reason."""
    principal = await _api_principal(request, Action.HOLD_REQUESTS)
    if isinstance(principal, Response):
        return principal
    request_id = validated(RequestPath, request.path_params, "path").request_id
    body = validated_json(ReleaseBody, await request.body())
    try:
        released = await release_claim(principal, request_id, body.reason)
    except InvalidInput as refused:
        return _domain_invalid(request, refused, "body")
    except InvalidTransition as refused:
        return problem(request, 409, "not_claimed", refused.message)
    except NotFound as missing:
        await _api_refused(request, principal, missing)
        return problem(request, 404, "not_found", _("Your organisation does not hold this request."))
    except PermissionDenied as denied:
        await _api_refused(request, principal, denied)
        return problem(request, 403, "forbidden", denied.reason or _("This token may not do that."))
    await enqueue_quietly(request.app, "match_requests_job", [request_id])
    return answer(ReleaseResult(request_id=released.id, status=str(released.status)))


async def api_eligibility(request: Request) -> Response:
    """Whether a person qualifies for one of the partner's offerings: yes/no, condition, until when."""
    principal = await _token_principal(request)
    if principal is None:
        return _unauthorized(request)
    if not allows(principal, Action.CHECK_ELIGIBILITY):
        # A pending, suspended or closed partner's check is refused, and the refusal kept.
        await _api_refused(request, principal, PermissionDenied(Action.CHECK_ELIGIBILITY))
        return _refusal(request, principal)
    body = validated_json(EligibilityBody, await request.body())
    try:
        checked = await check_by_id_number(
            principal, body.offering_id, body.id_number, EligibilityChannel.API, client_address(request)
        )
    except InvalidInput as refused:
        return _domain_invalid(request, refused, "body")
    except NotFound as missing:
        await _api_refused(request, principal, missing)
        return problem(
            request, 404, "offering_not_found", _("Not one of your organisation's active offerings.")
        )
    except EligibilityLimited as limited:
        return problem(
            request,
            429,
            "eligibility_rate_limited",
            limited.message,
            retry_after=limited.retry_after_seconds,
            headers={"Retry-After": str(limited.retry_after_seconds)},
        )
    return answer(
        EligibilityAnswer(
            eligible=checked.eligible,
            result=str(checked.result),
            condition=checked.condition,
            valid_until=checked.valid_until,
            offering_id=checked.offering_id,
            checked_at=checked.checked_at,
            check_id=checked.check_id,
        )
    )


async def api_document(request: Request) -> Response:
    """This API's OpenAPI 3.1 document."""
    return JSONResponse(partner_document())


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
    Route("/api/v1/openapi.json", api_document, methods=["GET"], name="api_partner_openapi"),
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
    Route(
        "/api/v1/partner/eligibility",
        _limited(api_eligibility),
        methods=["POST"],
        name="api_partner_eligibility",
    ),
]
