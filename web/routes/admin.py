from __future__ import annotations

import logging
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core.access import Action, get_visible, require
from alliance.core.codes import FlagCode, NeedCode, PartnerStatus, Role
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.models import Region, User
from alliance.core.password_resets import issue_reset_link
from alliance.core.timeutil import utc_now
from alliance.events.partner_lifecycle import LifecycleOutcome, change_partner_status
from alliance.households.reference import rules_by_flag, set_flag_need_rules
from alliance.matching.claims import lift_claims_pause
from alliance.notifications.notifications import delivery_job_id
from alliance.partners.applications import request_changes
from alliance.partners.review import next_statuses, partner_history, partners_for_review
from web.auth import client_address, require_principal
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
    request: Request,
    partner_id: int,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    extra: dict | None = None,
) -> Response:
    principal = await require_principal(request)
    partner = await get_visible(principal, Action.REVIEW_PARTNERS, partner_id)
    await partner.fetch_related("region")
    return render(
        request,
        "admin/partner.html",
        {
            "partner": partner,
            "service_regions": await Region.filter(partners_serving__id=partner.id).order_by("path"),
            "admins": await User.filter(partner_id=partner.id, role=Role.PARTNER_ADMIN, is_active=True),
            **(extra or {}),
            "history": await partner_history(principal, partner.id),
            "next_statuses": next_statuses(partner),
            "claims_paused": partner.claims_paused_until is not None
            and partner.claims_paused_until > utc_now(),
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
            "{name} is now {status}: {released} claims went back to the board, {cancelled} visits and "
            "{events} events were called off and their households told."
        ).format(
            name=outcome.partner.name,
            status=label(status),
            released=len(outcome.released_request_ids),
            cancelled=len(outcome.cancelled_visit_ids),
            events=len(outcome.cancelled_event_ids),
        )
    return _("{name} is now {status}.").format(name=outcome.partner.name, status=label(status))


async def partner_changes(request: Request) -> Response:
    """Send a pending application back to the applicant with what to change."""
    principal = await require_principal(request)
    require(principal, Action.REVIEW_PARTNERS)
    partner_id = request.path_params["partner_id"]
    form = await request.form()
    try:
        partner = await request_changes(principal, partner_id, str(form.get("note", "")))
    except InvalidInput as invalid:
        return await _partner_page(request, partner_id, invalid.errors, 422)
    return go(
        request,
        f"/admin/partners/{partner_id}",
        _("{name} is asked for changes; its admin sees your note on the organisation's page.").format(
            name=partner.name
        ),
    )


async def partner_admin_link(request: Request) -> Response:
    """A new set-password link for one of the partner's admins, shown to the reviewer to hand over."""
    principal = await require_principal(request)
    require(principal, Action.REVIEW_PARTNERS)
    partner_id = request.path_params["partner_id"]
    partner = await get_visible(principal, Action.REVIEW_PARTNERS, partner_id)
    form = await request.form()
    user_id = str(form.get("user_id", ""))
    admin = await User.get_or_none(
        id=int(user_id) if user_id.isdigit() else 0, partner_id=partner.id, role=Role.PARTNER_ADMIN
    )
    if admin is None:
        return await _partner_page(request, partner_id, {"user_id": _("Choose one of its admins.")}, 422)
    settings = request.app.state.settings
    issued = await issue_reset_link(
        principal,
        admin.id,
        settings.secret_key,
        timedelta(seconds=settings.password_reset_seconds),
        address=client_address(request),
    )
    response = await _partner_page(
        request, partner_id, extra={"issued": issued, "link": str(request.base_url).rstrip("/") + issued.path}
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def partner_claims_resume(request: Request) -> Response:
    """Lift a claim-churn pause early, with a reason (the coordinator checked with the organisation)."""
    principal = await require_principal(request)
    require(principal, Action.REVIEW_PARTNERS)
    partner_id = request.path_params["partner_id"]
    form = await request.form()
    try:
        partner, job_ids = await lift_claims_pause(principal, partner_id, str(form.get("resume_reason", "")))
    except InvalidInput as invalid:
        return await _partner_page(
            request, partner_id, {"resume_reason": " ".join(invalid.errors.values())}, 422
        )
    await relay_outbox(request.app, job_ids)
    return go(
        request,
        f"/admin/partners/{partner_id}",
        _("{name} may claim requests again; its staff are told.").format(name=partner.name),
    )


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
    Route(
        "/admin/partners/{partner_id:int}/claims-resume",
        partner_claims_resume,
        methods=["POST"],
        name="partner_claims_resume",
    ),
    Route(
        "/admin/partners/{partner_id:int}/changes", partner_changes, methods=["POST"], name="partner_changes"
    ),
    Route(
        "/admin/partners/{partner_id:int}/admin-link",
        partner_admin_link,
        methods=["POST"],
        name="partner_admin_link",
    ),
]
