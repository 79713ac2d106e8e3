from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core.access import Action, get_visible, require
from alliance.core.codes import FlagCode, NeedCode, PartnerStatus
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.households.reference import rules_by_flag, set_flag_need_rules
from alliance.notifications.notifications import delivery_job_id
from alliance.partners.review import partners_for_review, set_partner_status
from web.auth import require_principal
from web.jobs import enqueue_quietly
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


async def partner_status(request: Request) -> Response:
    principal = await require_principal(request)
    form = await request.form()
    wanted = str(form.get("status", ""))
    if wanted not in (PartnerStatus.APPROVED, PartnerStatus.SUSPENDED):
        raise InvalidInput({"status": _("Choose approve or suspend.")})
    notification_ids = await set_partner_status(
        principal, request.path_params["partner_id"], PartnerStatus(wanted)
    )
    for notification_id in notification_ids:
        await enqueue_quietly(
            request.app, "deliver_notification", notification_id, job_id=delivery_job_id(notification_id)
        )
    partner = await get_visible(principal, Action.REVIEW_PARTNERS, request.path_params["partner_id"])
    await partner.fetch_related("region")
    return render(request, "admin/_partner_row.html", {"partner": partner, "just_changed": True})


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
    Route("/admin/partners/{partner_id:int}/status", partner_status, methods=["POST"], name="partner_status"),
]
