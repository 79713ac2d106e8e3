"""At the door: the volunteer's visit page (check in by card, code or GPS; check out with the service
record and the risk check), the household's printable visit card, and a coordinator's oversight
(far-away check-ins to review, check-in on a volunteer's behalf, unconfirmed visits, corrections).

The check-in and check-out posts answer JSON to the page's script (which queues them offline and
sends them later with their original time) and a redirect to a plain form post without JavaScript.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from alliance.core import audit
from alliance.core.access import Action, require
from alliance.core.codes import RiskAspect, RiskLevel
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.matching.claims import InvalidTransition
from alliance.visits import cards, checkins, service_records
from alliance.visits.cards import CardRefused
from web.auth import client_address, require_principal
from web.flash import go, take_flash
from web.jobs import relay_outbox
from web.params import bounded_int
from web.redirects import safe_local_path
from web.templating import render


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _sent_at(value: object) -> datetime | None:
    """The time an offline page recorded (ISO 8601 with its zone), or None for "now"."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput({"at": _("The recorded time could not be read.")}) from None


def _refusal(error: Exception) -> dict[str, str]:
    if isinstance(error, InvalidInput):
        return dict(error.errors)
    if isinstance(error, CardRefused):
        return {"card": error.message}
    return {"form": str(error)}


# --- the volunteer's visit page -------------------------------------------------------------------


async def _door(request: Request, *, errors: dict[str, str] | None = None, values=None, status: int = 200):
    principal = await require_principal(request)
    page = await checkins.door_page(principal, request.path_params["visit_id"])
    await audit.viewed(
        principal,
        "visit.door_view",
        ("visit", page.visit.id),
        households=[page.household.id],
        address=client_address(request),
    )
    return render(
        request,
        "door/visit.html",
        {
            "page": page,
            "errors": errors or {},
            "values": values or {},
            "message": take_flash(request),
            # One key a rendering: the same form sent twice is the same check-in (or check-out).
            "client_key": secrets.token_urlsafe(16),
            "aspects": list(RiskAspect),
            "levels": list(RiskLevel),
        },
        status_code=status,
    )


async def door_view(request: Request) -> Response:
    return await _door(request)


async def check_in(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.CHECK_IN)
    visit_id = request.path_params["visit_id"]
    form = await request.form()
    method = str(form.get("method", "card"))
    try:
        at = _sent_at(form.get("at"))
        if method == "gps":
            accuracy = str(form.get("accuracy", "")).strip()
            outcome = await checkins.check_in_by_gps(
                principal,
                visit_id,
                form.get("lat"),  # type: ignore[arg-type]
                form.get("lon"),  # type: ignore[arg-type]
                accuracy_m=float(accuracy) if accuracy.replace(".", "", 1).isdigit() else None,
                client_key=str(form.get("client_key", "")),
                at=at,
            )
        else:
            outcome = await checkins.check_in_by_card(
                principal,
                visit_id,
                request.app.state.settings.secret_key,
                token=str(form.get("token", "")),
                code=str(form.get("code", "")),
                client_key=str(form.get("client_key", "")),
                at=at,
            )
    except (InvalidInput, CardRefused, InvalidTransition) as refused:
        if _wants_json(request):
            status = 400 if isinstance(refused, InvalidInput) else 409
            return JSONResponse({"ok": False, "errors": _refusal(refused)}, status_code=status)
        return await _door(request, errors=_refusal(refused), status=422)
    if outcome.needs_review:
        message = _("Checked in. You are farther from the home than usual: a coordinator will look at it.")
    elif outcome.created:
        message = _("Checked in. Thank you for coming.")
    else:
        message = _("You were already checked in.")
    if _wants_json(request):
        return JSONResponse(
            {"ok": True, "created": outcome.created, "needs_review": outcome.needs_review, "message": message}
        )
    return go(request, f"/volunteer/visits/{visit_id}", message)


def _risk_fields(form) -> dict[str, tuple[str, str]]:
    return {
        aspect.value: (
            str(form.get(f"risk_{aspect.value}", "")),
            str(form.get(f"risk_{aspect.value}_note", "")),
        )
        for aspect in RiskAspect
    }


async def check_out(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.CHECK_IN)
    visit_id = request.path_params["visit_id"]
    form = await request.form()
    try:
        outcome = await service_records.check_out(
            principal,
            visit_id,
            client_key=str(form.get("client_key", "")),
            at=_sent_at(form.get("at")),
            service=str(form.get("service", "")),
            duration_minutes=form.get("duration_minutes", ""),
            persons_served=form.get("persons_served", ""),
            notes=str(form.get("notes", "")),
            risks=_risk_fields(form),
        )
    except (InvalidInput, InvalidTransition) as refused:
        if _wants_json(request):
            status = 400 if isinstance(refused, InvalidInput) else 409
            return JSONResponse({"ok": False, "errors": _refusal(refused)}, status_code=status)
        return await _door(request, errors=_refusal(refused), values=dict(form), status=422)
    if outcome.job_ids:
        await relay_outbox(request.app, outcome.job_ids)
    message = (
        _("Service recorded. The household has been sent a code to confirm it.")
        if outcome.created
        else _("This service was already recorded.")
    )
    if _wants_json(request):
        return JSONResponse({"ok": True, "created": outcome.created, "message": message})
    return go(request, f"/volunteer/visits/{visit_id}", message)


# --- the household's visit card -------------------------------------------------------------------


async def card_view(request: Request) -> Response:
    principal = await require_principal(request)
    card = await cards.visit_card(
        principal, request.path_params["household_id"], request.app.state.settings.secret_key
    )
    await audit.viewed(
        principal, "household.card_view", households=[card.household.id], address=client_address(request)
    )
    return render(request, "door/card.html", {"card": card, "message": take_flash(request)})


async def card_reissue(request: Request) -> Response:
    principal = await require_principal(request)
    household = await cards.reissue_card(principal, request.path_params["household_id"])
    return go(
        request,
        f"/households/{household.id}/card",
        _("A new card is ready to print. The old card no longer works."),
    )


# --- a coordinator's oversight ----------------------------------------------------------------------


async def oversight(request: Request, *, errors: dict[str, str] | None = None, status: int = 200) -> Response:
    principal = await require_principal(request)
    require(principal, Action.OVERSEE_VISITS)
    reviews = await checkins.check_ins_to_review(principal)
    under_way = await checkins.visits_under_way(principal)
    unconfirmed = await service_records.unconfirmed_visits(principal)
    # Names of households and volunteers.
    await audit.viewed(
        principal,
        "oversight.view",
        visits=[row.visit_id for rows in (reviews, under_way, unconfirmed) for row in rows],
        address=client_address(request),
    )
    return render(
        request,
        "door/oversight.html",
        {
            "reviews": reviews,
            "under_way": under_way,
            "unconfirmed": unconfirmed,
            "errors": errors or {},
            "message": take_flash(request),
        },
        status_code=status,
    )


async def oversight_view(request: Request) -> Response:
    return await oversight(request)


async def review(request: Request) -> Response:
    principal = await require_principal(request)
    await checkins.review_check_in(principal, request.path_params["check_in_id"])
    return go(request, "/oversight", _("The check-in is marked as reviewed."))


async def check_in_for_volunteer(request: Request) -> Response:
    principal = await require_principal(request)
    form = await request.form()
    volunteer = str(form.get("volunteer_id", ""))
    try:
        # 0 is nobody: the service checks the visit first, then says the volunteer is not booked.
        await checkins.check_in_on_behalf(
            principal,
            request.path_params["visit_id"],
            bounded_int(volunteer) or 0,
            str(form.get("reason", "")),
        )
    except (InvalidInput, InvalidTransition) as refused:
        return await oversight(request, errors=_refusal(refused), status=422)
    return go(request, "/oversight", _("Checked in on the volunteer's behalf."))


async def correct(request: Request) -> Response:
    principal = await require_principal(request)
    form = await request.form()
    try:
        await service_records.correct_record(
            principal,
            request.path_params["visit_id"],
            reason=str(form.get("reason", "")),
            persons_served=form.get("persons_served", ""),
            duration_minutes=form.get("duration_minutes", ""),
        )
    except InvalidInput as refused:
        return await oversight(request, errors=_refusal(refused), status=422)
    return go(
        request, "/oversight", _("The record is corrected; its earlier values are kept in the audit log.")
    )


# --- confirmation and rating (the household, or its community worker) -------------------------------


def _back(form) -> str:
    """Where to return: a path on this site only ("//host" or "/\\host" would leave it)."""
    return safe_local_path(str(form.get("back", "")))


async def confirm(request: Request) -> Response:
    principal = await require_principal(request)
    form = await request.form()
    back = _back(form)
    try:
        await service_records.confirm_service(
            principal, request.path_params["visit_id"], str(form.get("code", ""))
        )
    except InvalidInput as refused:
        return go(request, back, "; ".join(refused.errors.values()))
    return go(request, back, _("Thank you: the service is confirmed."))


async def rate(request: Request) -> Response:
    principal = await require_principal(request)
    form = await request.form()
    back = _back(form)
    try:
        await service_records.rate_service(
            principal, request.path_params["visit_id"], form.get("rating", ""), str(form.get("comment", ""))
        )
    except InvalidInput as refused:
        return go(request, back, "; ".join(refused.errors.values()))
    return go(request, back, _("Thank you for your rating."))


routes = [
    Route("/volunteer/visits/{visit_id:int}", door_view, methods=["GET"], name="door"),
    Route("/volunteer/visits/{visit_id:int}/check-in", check_in, methods=["POST"], name="door_check_in"),
    Route("/volunteer/visits/{visit_id:int}/check-out", check_out, methods=["POST"], name="door_check_out"),
    Route("/households/{household_id:int}/card", card_view, methods=["GET"], name="visit_card"),
    Route("/households/{household_id:int}/card/reissue", card_reissue, methods=["POST"], name="card_reissue"),
    Route("/oversight", oversight_view, methods=["GET"], name="oversight"),
    Route("/oversight/check-ins/{check_in_id:int}/review", review, methods=["POST"], name="check_in_review"),
    Route(
        "/oversight/visits/{visit_id:int}/check-in",
        check_in_for_volunteer,
        methods=["POST"],
        name="check_in_for",
    ),
    Route("/oversight/visits/{visit_id:int}/record", correct, methods=["POST"], name="record_correct"),
    Route("/service/{visit_id:int}/confirm", confirm, methods=["POST"], name="service_confirm"),
    Route("/service/{visit_id:int}/rate", rate, methods=["POST"], name="service_rate"),
]
