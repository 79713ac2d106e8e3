"""A partner admin's staff page: invitations by single-use link, roles, deactivation
(alliance/partners/staff.py). The admin reaches any partner's staff with ?partner=ID."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core import audit
from alliance.core.access import Action, require
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.partners.staff import (
    STAFF_ROLES,
    change_staff_role,
    find_staff,
    invite_staff,
    pending_invitations,
    revoke_invitation,
    set_staff_active,
    staff_of,
)
from web.auth import client_address, require_principal
from web.flash import go, take_flash
from web.templating import render


def _partner_id(request: Request) -> int | None:
    value = request.query_params.get("partner", "")
    return int(value) if value.isdigit() else None


def _back(request: Request) -> str:
    partner_id = _partner_id(request)
    return f"/partner/staff?partner={partner_id}" if partner_id else "/partner/staff"


async def _page(request: Request, errors: dict | None = None, status_code: int = 200, **extra) -> Response:
    principal = await require_principal(request)
    partner_id = _partner_id(request)
    return render(
        request,
        "partner/staff.html",
        {
            "staff": await staff_of(principal, partner_id),
            "invitations": await pending_invitations(principal, partner_id),
            "roles": list(STAFF_ROLES),
            "errors": errors or {},
            "message": take_flash(request),
            "query": f"?partner={partner_id}" if partner_id else "",
            **extra,
        },
        status_code=status_code,
    )


async def staff_page(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_STAFF)
    response = await _page(request)
    # Names of people (the organisation's staff): the listing is audited, as the accounts page is.
    await audit.record(
        principal,
        "staff.view",
        "partner",
        _partner_id(request) or principal.partner_id or "",
        {},
        client_address(request),
    )
    return response


async def invite(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_STAFF)
    form = await request.form()
    settings = request.app.state.settings
    values = {key: str(form.get(key, "")) for key in ("username", "display_name", "role")}
    try:
        invited = await invite_staff(
            principal,
            values["username"],
            values["display_name"],
            values["role"],
            settings.secret_key,
            timedelta(seconds=settings.password_reset_seconds),
            partner_id=_partner_id(request),
            address=client_address(request),
        )
    except InvalidInput as invalid:
        return await _page(request, invalid.errors, 422, values=values)
    response = await _page(
        request,
        invited=invited,
        link=str(request.base_url).rstrip("/") + invited.link.path,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def revoke(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_STAFF)
    await revoke_invitation(
        principal,
        request.path_params["invitation_id"],
        partner_id=_partner_id(request),
        address=client_address(request),
    )
    return go(request, _back(request), _("The invitation is revoked: its link no longer works."))


async def role(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_STAFF)
    form = await request.form()
    try:
        user = await change_staff_role(
            principal,
            request.path_params["staff_id"],
            str(form.get("role", "")),
            partner_id=_partner_id(request),
            address=client_address(request),
        )
    except InvalidInput as invalid:
        return await _page(request, invalid.errors, 422)
    return go(
        request,
        _back(request),
        _("{name} is now {role}.").format(name=user.display_name, role=label(user.role)),
    )


async def active(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_STAFF)
    form = await request.form()
    wanted = str(form.get("active", ""))
    await find_staff(principal, request.path_params["staff_id"], _partner_id(request))
    if wanted not in ("yes", "no"):
        raise InvalidInput({"active": _("Choose activate or deactivate.")})
    try:
        user = await set_staff_active(
            principal,
            request.path_params["staff_id"],
            wanted == "yes",
            partner_id=_partner_id(request),
            address=client_address(request),
        )
    except InvalidInput as invalid:
        return await _page(request, invalid.errors, 422)
    if user.is_active:
        message = _("{name} is active again and may log in.").format(name=user.display_name)
    else:
        message = _("{name} is deactivated: signed out everywhere, logins refused.").format(
            name=user.display_name
        )
    return go(request, _back(request), message)


routes = [
    Route("/partner/staff", staff_page, methods=["GET"], name="partner_staff"),
    Route("/partner/staff/invite", invite, methods=["POST"], name="partner_staff_invite"),
    Route(
        "/partner/staff/invitations/{invitation_id:int}/revoke",
        revoke,
        methods=["POST"],
        name="partner_staff_revoke",
    ),
    Route("/partner/staff/{staff_id:int}/role", role, methods=["POST"], name="partner_staff_role"),
    Route("/partner/staff/{staff_id:int}/active", active, methods=["POST"], name="partner_staff_active"),
]
