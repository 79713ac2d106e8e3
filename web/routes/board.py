"""The claim board and the request page: a partner's open matched requests (list and map), claiming
in place, the claims it holds, transfers; a coordinator's requests with assign, move and close."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from alliance.core.access import Action, Principal, require
from alliance.core.codes import CloseReason, NeedCode, RequestStatus
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.core.privacy import BAND_LIMITS_KM
from alliance.core.timeutil import to_local
from alliance.matching.assignment import assign_request
from alliance.matching.board import (
    BoardFilters,
    RegionRequestFilters,
    board_page,
    board_regions,
    contact_details,
    held_by_others,
    held_requests,
    incoming_transfers,
    outgoing_transfers,
    region_requests,
    request_page,
)
from alliance.matching.claims import (
    CapacityExhausted,
    ClaimConflict,
    ClaimsPaused,
    InvalidTransition,
    claim_request,
    close_request,
    release_claim,
)
from alliance.matching.transfers import TransferOutcome, ask_transfer, decide_transfer
from alliance.notifications.notifications import delivery_job_id
from web.auth import client_address, require_principal
from web.flash import go, take_flash
from web.htmx_hooks import hx_retarget, hx_trigger, is_htmx, wants_fragment
from web.jobs import enqueue_quietly
from web.params import MAX_ID, bounded_int, page_param
from web.templating import render


def _number(value: str | None, kind: type = float) -> float | int | None:
    try:
        found = kind(value) if value not in (None, "") else None
    except ValueError:
        return None
    # Bounded: a number past the database's integer range must not reach the query.
    return found if found is None or 0 <= found <= MAX_ID else None


def _band_limit(value: str | None) -> float | None:
    # Only the band limits: a free "within x km" filter would let a partner bisect distances.
    found = _number(value)
    return found if found in BAND_LIMITS_KM else None


def _board_filters(request: Request) -> BoardFilters:
    params = request.query_params
    need = params.get("need", "")
    return BoardFilters(
        need=need if need in NeedCode.__members__ else "",
        region_code=params.get("region", "").strip()[:12],
        max_distance_km=_band_limit(params.get("distance")),
        min_priority=_number(params.get("priority"), int),  # type: ignore[arg-type]
        page=page_param(params),
    )


async def _board_context(request: Request, principal: Principal, **extra: object) -> dict:
    filters = _board_filters(request)
    view = "map" if request.query_params.get("view") == "map" else "list"
    return {
        "page": await board_page(principal, filters),
        "view": view,
        "regions": await board_regions(principal),
        "need_codes": list(NeedCode),
        "distance_limits": BAND_LIMITS_KM,
        "tile_url": request.app.state.settings.tile_url or "",
        "query": _query_string(filters, view),
        "filter_query": _query_string(filters, ""),
        **extra,
    }


def _query_string(filters: BoardFilters, view: str) -> str:
    values = {
        "need": filters.need,
        "region": filters.region_code,
        "distance": "" if filters.max_distance_km is None else f"{filters.max_distance_km:g}",
        "priority": "" if filters.min_priority is None else str(filters.min_priority),
        "view": view,
    }
    return urlencode({key: value for key, value in values.items() if value})


async def board(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.VIEW_BOARD)
    return render(request, "board/board.html", await _board_context(request, principal), block="results")


async def _deliver(request: Request, notification_ids: list[int]) -> None:
    for notification_id in notification_ids:
        await enqueue_quietly(
            request.app, "deliver_notification", notification_id, job_id=delivery_job_id(notification_id)
        )


async def _rematch(request: Request, request_id: int) -> None:
    # Back in the pool: the matching engine finds it its partners again (the nightly run is the net).
    await enqueue_quietly(request.app, "match_requests_job", [request_id])


def _came_from_board(request: Request) -> bool:
    return request.headers.get("HX-Target", "").startswith("request-")


async def claim(request: Request) -> Response:
    """Claim in place: the board row becomes the claimed row (with the contact details) or says
    who was faster. Without JavaScript: the request page, or the board with the message."""
    principal = await require_principal(request)
    require(principal, Action.CLAIM_REQUESTS)
    request_id = request.path_params["request_id"]
    form = await request.form()
    offering = str(form.get("offering_id", ""))
    try:
        result = await claim_request(principal, request_id, bounded_int(offering))
    except (ClaimConflict, CapacityExhausted, ClaimsPaused) as lost:
        return await _claim_lost(request, principal, request_id, lost)
    except NotFound:
        if not wants_fragment(request):
            raise
        # Gone from this partner's matches since the board was drawn (claimed and re-matched):
        # the same words whether it exists or not, so nothing leaks.
        return render(request, "board/_row_lost.html", {"request_id": request_id, "gone": True})
    if wants_fragment(request) and _came_from_board(request):
        contact = await contact_details(principal, request_id, client_address(request))
        response = render(
            request,
            "board/_row_claimed.html",
            {"request_id": request_id, "result": result, "contact": contact},
        )
        return hx_trigger(response, "request-claimed", {"id": request_id})
    return RedirectResponse(f"/requests/{request_id}", status_code=303)


async def _claim_lost(request: Request, principal: Principal, request_id: int, lost: Exception) -> Response:
    context = {
        "request_id": request_id,
        "by": getattr(lost, "by", None),
        "full": isinstance(lost, CapacityExhausted),
        "gone": False,
        "paused": lost.message if isinstance(lost, ClaimsPaused) else "",
    }
    if wants_fragment(request):
        # 200, not 409: HTMX swaps only successful answers, and this is an answer, not an error.
        return render(request, "board/_row_lost.html", context)
    return render(
        request,
        "board/board.html",
        await _board_context(request, principal, lost=context),
        status_code=409,
    )


async def claims_page(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.HOLD_REQUESTS)
    return render(
        request,
        "board/claims.html",
        {
            "message": take_flash(request),
            "held": await held_requests(principal),
            "incoming": await incoming_transfers(principal),
            "outgoing": await outgoing_transfers(principal),
            "others": await held_by_others(principal),
        },
    )


async def request_detail(
    request: Request, *, message: str = "", errors: dict | None = None, status: int = 200
):
    principal = await require_principal(request)
    detail = await request_page(principal, request.path_params["request_id"], client_address(request))
    return render(
        request,
        "board/request.html",
        {
            "detail": detail,
            "close_reasons": list(CloseReason),
            "message": message,
            "errors": errors or {},
        },
        status_code=status,
    )


async def _after_change(request: Request, message: str, location: str = "") -> Response:
    """Back to the request page, or `location` (a 303 for a plain form; HTMX gets the page too and
    swaps <main>)."""
    if is_htmx(request) and not location:
        response = await request_detail(request, message=message)
        return hx_retarget(response, "main", "innerHTML")
    return go(request, location or f"/requests/{request.path_params['request_id']}", message)


async def request_view(request: Request) -> Response:
    message = take_flash(request)
    return await request_detail(request, message=message)


async def _refused(request: Request, error: Exception, field: str = "") -> Response:
    if isinstance(error, InvalidInput):
        errors = error.errors
    elif isinstance(error, CapacityExhausted):
        errors = {field or "form": _("That offering has no places left this month.")}
    elif isinstance(error, ClaimConflict):
        errors = {field or "form": _("Already claimed by {partner}.").format(partner=error.by or "—")}
    else:
        errors = {field or "form": getattr(error, "message", str(error))}
    response = await request_detail(request, errors=errors, status=422)
    if is_htmx(request):
        # htmx swaps 4xx only when told to: this page is the answer, with the errors in it.
        response.status_code = 200
        hx_retarget(response, "main", "innerHTML")
    return response


async def release(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.HOLD_REQUESTS)
    form = await request.form()
    request_id = request.path_params["request_id"]
    try:
        await release_claim(principal, request_id, str(form.get("reason", "")))
    except (InvalidInput, InvalidTransition) as refused:
        return await _refused(request, refused, "reason")
    await _rematch(request, request_id)
    # Not back to the request: once released it may no longer be matched to us (re-matching decides).
    return await _after_change(request, _("Released: the request is back in the pool."), "/board/claims")


async def close(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.CLOSE_REQUESTS)
    form = await request.form()
    try:
        await close_request(
            principal,
            request.path_params["request_id"],
            str(form.get("reason", "")),
            str(form.get("note", "")),
        )
    except (InvalidInput, InvalidTransition) as refused:
        return await _refused(request, refused, "close_reason")
    return await _after_change(request, _("The request is closed."))


async def assign(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.ASSIGN_REQUESTS)
    form = await request.form()
    offering = str(form.get("offering_id", ""))
    try:
        offering_id = bounded_int(offering)
        if offering_id is None:
            raise InvalidInput({"offering_id": _("Choose an offering.")})
        await assign_request(
            principal, request.path_params["request_id"], offering_id, str(form.get("reason", ""))
        )
    except (InvalidInput, InvalidTransition, CapacityExhausted) as refused:
        return await _refused(request, refused, "offering_id")
    return await _after_change(request, _("Assigned."))


async def transfer(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.CLAIM_REQUESTS)
    form = await request.form()
    try:
        outcome = await ask_transfer(
            principal,
            request.path_params["request_id"],
            str(form.get("reason", "")),
        )
    except (InvalidInput, InvalidTransition) as refused:
        return await _refused(request, refused, "transfer_reason")
    await _deliver(request, outcome.notification_ids)
    return await _after_change(
        request, _("Asked. The holder has until {due} to answer.").format(due=_due(outcome))
    )


def _due(outcome: TransferOutcome) -> str:
    local = to_local(outcome.transfer.due_at)
    return local.strftime("%Y-%m-%d %H:%M") if local else ""


async def decide(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.DECIDE_TRANSFERS)
    form = await request.form()
    approve = str(form.get("decision", "")) == "approve"
    try:
        outcome = await decide_transfer(
            principal, request.path_params["transfer_id"], approve, str(form.get("note", ""))
        )
    except (InvalidTransition, CapacityExhausted) as refused:
        message = getattr(refused, "message", None) or _("The asking partner has no places left this month.")
        return render(
            request, "board/_transfer_row.html", {"message": message, "transfer": None}, status_code=200
        )
    await _deliver(request, outcome.notification_ids)
    if wants_fragment(request):
        await outcome.transfer.fetch_related("to_partner", "request")
        return render(request, "board/_transfer_row.html", {"transfer": outcome.transfer, "message": ""})
    return RedirectResponse("/board/claims", status_code=303)


def _region_filters(request: Request) -> RegionRequestFilters:
    params = request.query_params
    status, need = params.get("status", ""), params.get("need", "")
    return RegionRequestFilters(
        status=status if status in RequestStatus.__members__.values() else "",
        need=need if need in NeedCode.__members__ else "",
        page=page_param(params),
    )


async def requests_list(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.ASSIGN_REQUESTS)
    return render(
        request,
        "board/requests.html",
        {
            "result": await region_requests(principal, _region_filters(request)),
            "statuses": list(RequestStatus),
            "need_codes": list(NeedCode),
        },
        block="results",
    )


routes = [
    Route("/board", board, methods=["GET"], name="board"),
    Route("/board/claims", claims_page, methods=["GET"], name="board_claims"),
    Route("/requests", requests_list, methods=["GET"], name="requests"),
    Route("/requests/{request_id:int}", request_view, methods=["GET"], name="request"),
    Route("/requests/{request_id:int}/claim", claim, methods=["POST"], name="request_claim"),
    Route("/requests/{request_id:int}/release", release, methods=["POST"], name="request_release"),
    Route("/requests/{request_id:int}/close", close, methods=["POST"], name="request_close"),
    Route("/requests/{request_id:int}/assign", assign, methods=["POST"], name="request_assign"),
    Route("/requests/{request_id:int}/transfer", transfer, methods=["POST"], name="request_transfer"),
    Route("/transfers/{transfer_id:int}/decide", decide, methods=["POST"], name="transfer_decide"),
]
