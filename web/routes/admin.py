from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core.access import Action, get_visible, require
from alliance.core.codes import FlagCode, NeedCode, PartnerStatus
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.households.reference import rules_by_flag, set_flag_need_rules
from alliance.notifications.notifications import delivery_job_id
from alliance.partners.review import next_statuses, partner_history, partners_for_review
from alliance.visits.partner_lifecycle import LifecycleOutcome, change_partner_status
from web.auth import require_principal
from web.flash import go, take_flash
from web.htmx_hooks import is_htmx
from web.jobs import enqueue_quietly, relay_outbox
from web.templating import render

logger = logging.getLogger(__name__)


async def partners(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.REVIEW_PARTNERS)
    status = request.query_params.get("status", "")
    status = status if status in {value.value for value in PartnerStatus} else ""
    return render(
        request,
        "admin/partners.html",
        {
            "partners": await partners_for_review(principal, status),
            "status": status,
            "statuses": list(PartnerStatus),
        },
        block="results",
    )


async def _partner_page(
    request: Request, partner_id: int, errors: dict[str, str] | None = None, status_code: int = 200
) -> Response:
    principal = await require_principal(request)
    partner = await get_visible(principal, Action.REVIEW_PARTNERS, partner_id)
    await partner.fetch_related("region")
    return render(
        request,
        "admin/partner.html",
        {
            "partner": partner,
            "history": await partner_history(principal, partner.id),
            "next_statuses": next_statuses(partner),
            "errors": errors or {},
            "message": take_flash(request),
        },
        status_code=status_code,
    )


async def partner_page(request: Request) -> Response:
    """One partner for its reviewer: its profile, its lifecycle history and the lifecycle form."""
    principal = await require_principal(request)
    require(principal, Action.REVIEW_PARTNERS)
    return await _partner_page(request, request.path_params["partner_id"])


async def partner_status(request: Request) -> Response:
    """Approve, suspend, reinstate or close, with a reason (required but for approving). From the
    list (HTMX, the row swapped in place) or the partner's page (back to it with a message)."""
    principal = await require_principal(request)
    require(principal, Action.REVIEW_PARTNERS)
    partner_id = request.path_params["partner_id"]
    form = await request.form()
    from_page = form.get("from") == "page" or not is_htmx(request)
    try:
        outcome = await change_partner_status(
            principal, partner_id, str(form.get("status", "")), str(form.get("reason", ""))
        )
    except InvalidInput as invalid:
        if from_page:
            return await _partner_page(request, partner_id, invalid.errors, 422)
        raise
    for notification_id in outcome.notification_ids:
        await enqueue_quietly(
            request.app, "deliver_notification", notification_id, job_id=delivery_job_id(notification_id)
        )
    await relay_outbox(request.app, outcome.job_ids)
    if outcome.released_request_ids:
        await enqueue_quietly(request.app, "match_requests_job", outcome.released_request_ids)
    if from_page:
        return go(request, f"/admin/partners/{partner_id}", _status_message(outcome))
    partner = await get_visible(principal, Action.REVIEW_PARTNERS, partner_id)
    await partner.fetch_related("region")
    return render(request, "admin/_partner_row.html", {"partner": partner, "just_changed": True})


def _status_message(outcome: LifecycleOutcome) -> str:
    status = outcome.partner.status
    if status in (PartnerStatus.SUSPENDED, PartnerStatus.CLOSED):
        return _(
            "{name} is now {status}: {released} claims went back to the board, {cancelled} visits were "
            "called off and their households told."
        ).format(
            name=outcome.partner.name,
            status=label(status),
            released=len(outcome.released_request_ids),
            cancelled=len(outcome.cancelled_visit_ids),
        )
    return _("{name} is now {status}.").format(name=outcome.partner.name, status=label(status))


async def need_rules(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.EDIT_NEED_RULES)
    saved = False
    if request.method == "POST":
        form = await request.form()
        # Each checkbox is named "FLAG" with the need as its value; a flag with none ticked has no needs.
        wanted = {flag.value: [str(need) for need in form.getlist(flag.value)] for flag in FlagCode}
        await set_flag_need_rules(principal, wanted)
        saved = True
    return render(
        request,
        "admin/need_rules.html",
        {"rules": await rules_by_flag(), "flags": list(FlagCode), "needs": list(NeedCode), "saved": saved},
    )


routes = [
    Route("/admin/need-rules", need_rules, methods=["GET", "POST"], name="need_rules"),
    Route("/admin/partners", partners, methods=["GET"], name="admin_partners"),
    Route("/admin/partners/{partner_id:int}", partner_page, methods=["GET"], name="admin_partner"),
    Route("/admin/partners/{partner_id:int}/status", partner_status, methods=["POST"], name="partner_status"),
]
