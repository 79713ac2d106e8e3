"""Regular visits (alliance/visits/regular.py): the community worker's list of due and overdue
households in route order, the visit page (check in by card or GPS, risk check, check out; the door
page's offline queue sends the same forms), and the coordinator's visiting rhythm for the region."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from alliance.core.codes import RiskAspect, RiskLevel
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.matching.claims import InvalidTransition
from alliance.visits import partner_worklist, regular
from alliance.visits.cards import CardRefused
from web.auth import client_address, require_principal
from web.flash import go, take_flash
from web.routes.door import _refusal, _risk_fields, _sent_at, _wants_json
from web.templating import render


async def my_visits(request: Request) -> Response:
    principal = await require_principal(request)
    page = await regular.my_regular_visits(principal, address=client_address(request))
    return render(
        request,
        "regular/list.html",
        {"page": page, "message": take_flash(request), "kind_label": regular.kind_label},
    )


async def _visit(request: Request, *, errors=None, values=None, status: int = 200) -> Response:
    principal = await require_principal(request)
    visit, household, risks = await regular.visit_page(
        principal, request.path_params["household_id"], address=client_address(request)
    )
    return render(
        request,
        "regular/visit.html",
        {
            "visit": visit,
            "household": household,
            "risks": risks,
            "errors": errors or {},
            "values": values or {},
            "message": take_flash(request),
            "client_key": secrets.token_urlsafe(16),
            "aspects": list(RiskAspect),
            "levels": list(RiskLevel),
        },
        status_code=status,
    )


async def visit_view(request: Request) -> Response:
    return await _visit(request)


async def check_in(request: Request) -> Response:
    principal = await require_principal(request)
    household_id = request.path_params["household_id"]
    form = await request.form()
    key = str(form.get("client_key", ""))
    try:
        at = _sent_at(form.get("at"))
        if str(form.get("method", "card")) == "gps":
            visit = await regular.check_in_by_gps(
                principal, household_id, form.get("lat"), form.get("lon"), client_key=key, at=at
            )
        else:
            visit = await regular.check_in_by_card(
                principal,
                household_id,
                request.app.state.settings.secret_key,
                token=str(form.get("token", "")),
                code=str(form.get("code", "")),
                client_key=key,
                at=at,
            )
    except (InvalidInput, CardRefused) as refused:
        if _wants_json(request):
            return JSONResponse({"ok": False, "errors": _refusal(refused)}, status_code=400)
        return await _visit(request, errors=_refusal(refused), status=422)
    message = (
        _("Checked in. You are farther from the home than usual: a coordinator will look at it.")
        if visit.needs_review
        else _("Checked in. Thank you for coming.")
    )
    if _wants_json(request):
        return JSONResponse({"ok": True, "needs_review": visit.needs_review, "message": message})
    return go(request, f"/regular-visits/households/{household_id}", message)


async def check_out(request: Request) -> Response:
    principal = await require_principal(request)
    household_id = request.path_params["household_id"]
    form = await request.form()
    try:
        outcome = await regular.check_out_at_household(
            principal,
            household_id,
            notes=str(form.get("notes", "")),
            risks=_risk_fields(form),
            at=_sent_at(form.get("at")),
        )
    except (InvalidInput, InvalidTransition) as refused:
        if _wants_json(request):
            status = 400 if isinstance(refused, InvalidInput) else 409
            return JSONResponse({"ok": False, "errors": _refusal(refused)}, status_code=status)
        return await _visit(request, errors=_refusal(refused), values=dict(form), status=422)
    message = _(
        "Visit recorded: %(opened)s follow-ups opened, %(closed)s closed, %(escalated)s escalated."
    ) % {
        "opened": len(outcome.opened),
        "closed": len(outcome.resolved),
        "escalated": len(outcome.escalated),
    }
    if _wants_json(request):
        return JSONResponse({"ok": True, "message": message})
    return go(request, "/regular-visits", message)


async def _rhythm(request: Request, *, errors=None, values=None, status: int = 200) -> Response:
    principal = await require_principal(request)
    region, effective, own = await regular.region_rhythm(principal)
    kinds = [(kind, regular.kind_label(kind)) for kind in regular.RHYTHM_KINDS]
    return render(
        request,
        "regular/rhythm.html",
        {
            "region": region,
            "effective": effective,
            "own": own,
            "kinds": kinds,
            "defaults": regular.DEFAULT_INTERVAL_DAYS,
            "errors": errors or {},
            "values": values,
            "message": take_flash(request),
        },
        status_code=status,
    )


async def rhythm_view(request: Request) -> Response:
    return await _rhythm(request)


async def rhythm_save(request: Request) -> Response:
    principal = await require_principal(request)
    form = await request.form()
    values = {kind: str(form.get(kind, "")) for kind in regular.RHYTHM_KINDS}
    try:
        await regular.set_region_rhythm(principal, values)
    except InvalidInput as refused:
        return await _rhythm(request, errors=dict(refused.errors), values=values, status=422)
    return go(request, "/regular-visits/rhythm", _("Visiting rhythm saved."))


async def partner_visits(request: Request) -> Response:
    """A responsible partner's households whose regular visit is due or overdue (to coordinate)."""
    principal = await require_principal(request)
    rows = await partner_worklist.partner_regular_visits(principal, address=client_address(request))
    return render(request, "regular/partner_list.html", {"rows": rows})


routes = [
    Route("/partner/regular-visits", partner_visits, methods=["GET"], name="partner_regular_visits"),
    Route("/regular-visits", my_visits, methods=["GET"], name="regular_visits"),
    Route("/regular-visits/rhythm", rhythm_view, methods=["GET"], name="visit_rhythm"),
    Route("/regular-visits/rhythm", rhythm_save, methods=["POST"], name="visit_rhythm_save"),
    Route("/regular-visits/households/{household_id:int}", visit_view, methods=["GET"], name="regular_visit"),
    Route(
        "/regular-visits/households/{household_id:int}/check-in",
        check_in,
        methods=["POST"],
        name="regular_check_in",
    ),
    Route(
        "/regular-visits/households/{household_id:int}/check-out",
        check_out,
        methods=["POST"],
        name="regular_check_out",
    ),
]
