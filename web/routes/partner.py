from __future__ import annotations

from datetime import date

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core.access import Action, get_visible, require
from alliance.core.codes import DeliveryMode, FlagCode, NeedCode, PartnerStatus
from alliance.core.errors import InvalidInput
from alliance.core.models import Region
from alliance.notifications.notifications import messages_to
from alliance.partners.applications import application_form_of, save_application, service_region_codes
from alliance.partners.models import Project
from alliance.partners.offerings import OfferingForm, offerings_of, projects_for_year, save_offering
from alliance.partners.review import partner_history
from web.auth import require_principal
from web.htmx_hooks import hx_redirect
from web.jobs import enqueue_quietly
from web.routes.join import application_form
from web.templating import render


async def _profile_context(partner, principal) -> dict:
    from web.routes.join import form_choices

    return {
        "partner": partner,
        "values": application_form_of(partner, await service_region_codes(partner)),
        "errors": {},
        "saved": False,
        "whole": partner.status == PartnerStatus.PENDING,
        **await form_choices(),
    }


async def profile(request: Request) -> Response:
    principal = await require_principal(request)
    partner = await get_visible(principal, Action.VIEW_PARTNER, principal.partner_id or 0)
    await partner.fetch_related("region")
    context = await _profile_context(partner, principal)
    context["history"] = await partner_history(principal, partner.id)
    # The in-app messages to this user (decisions on the application, requests for changes).
    context["messages"] = await messages_to(principal)
    return render(request, "partner/profile.html", context)


async def profile_submit(request: Request) -> Response:
    """The partner's admin saves its profile, or (pending) edits and resubmits its application."""
    principal = await require_principal(request)
    require(principal, Action.EDIT_PARTNER_PROFILE)
    values = application_form(await request.form())
    partner = await get_visible(principal, Action.EDIT_PARTNER_PROFILE, principal.partner_id or 0)
    try:
        partner = await save_application(principal, values)
    except InvalidInput as invalid:
        await partner.fetch_related("region")
        context = await _profile_context(partner, principal)
        context |= {"values": values, "errors": invalid.errors}
        return render(request, "partner/profile.html", context, block="form", status_code=422)
    await partner.fetch_related("region")
    context = await _profile_context(partner, principal)
    context["saved"] = True
    return render(request, "partner/profile.html", context, block="form")


async def offerings(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.VIEW_OFFERINGS)
    return render(request, "partner/offerings.html", {"offerings": await offerings_of(principal)})


def _offering_form(form: FormData) -> OfferingForm:
    codes = " ".join(str(value) for value in form.getlist("region_codes"))
    return OfferingForm(
        title=str(form.get("title", "")),
        description=str(form.get("description", "")),
        need=str(form.get("need", "")),
        project_id=str(form.get("project_id", "")),
        eligibility_flags=tuple(str(value) for value in form.getlist("eligibility_flags")),
        base_lat=str(form.get("base_lat", "")),
        base_lon=str(form.get("base_lon", "")),
        radius_km=str(form.get("radius_km", "")),
        region_codes=tuple(code for code in codes.replace(",", " ").split() if code),
        monthly_capacity=str(form.get("monthly_capacity", "0")),
        delivery_mode=str(form.get("delivery_mode", DeliveryMode.HOME_VISIT)),
        active=form.get("active") == "on",
    )


async def _project_choices(request: Request, values: OfferingForm) -> list[Project]:
    """The projects this partner's offering may name, and the one it names already (even retired)."""
    principal = await require_principal(request)
    choices = await projects_for_year(date.today().year, principal.partner_id)
    current = values.project_id
    if current.isdigit() and int(current) not in {project.id for project in choices}:
        named = await Project.get_or_none(id=int(current))
        if named is not None:
            choices.append(named)
    return choices


async def _editor(
    request: Request, values: OfferingForm, errors: dict, offering_id: int | None, status: int = 200
):
    return render(
        request,
        "partner/offering_form.html",
        {
            "values": values,
            "errors": errors,
            "offering_id": offering_id,
            "need_codes": list(NeedCode),
            "flag_codes": list(FlagCode),
            "delivery_modes": list(DeliveryMode),
            "projects": await _project_choices(request, values),
        },
        block="form",
        status_code=status,
    )


async def offering_new(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.EDIT_OFFERINGS)
    return await _editor(request, OfferingForm(), {}, None)


async def offering_edit(request: Request) -> Response:
    principal = await require_principal(request)
    offering = await get_visible(principal, Action.EDIT_OFFERINGS, request.path_params["offering_id"])
    region_codes = await Region.filter(offerings__id=offering.id).values_list("code", flat=True)
    values = OfferingForm(
        title=offering.title,
        description=offering.description,
        need=str(offering.need_id),
        project_id=str(offering.project_id or ""),
        eligibility_flags=tuple(offering.eligibility_flags or ()),
        base_lat="" if offering.base_lat is None else str(offering.base_lat),
        base_lon="" if offering.base_lon is None else str(offering.base_lon),
        radius_km="" if offering.radius_km is None else str(offering.radius_km),
        region_codes=tuple(region_codes),
        monthly_capacity=str(offering.monthly_capacity),
        delivery_mode=str(offering.delivery_mode),
        active=offering.active,
    )
    return await _editor(request, values, {}, offering.id)


async def offering_save(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.EDIT_OFFERINGS)
    offering_id = request.path_params.get("offering_id")
    values = _offering_form(await request.form())
    try:
        offering = await save_offering(principal, values, offering_id)
    except InvalidInput as invalid:
        return await _editor(request, values, invalid.errors, offering_id, status=422)
    # Its area, need or capacity may have changed: the worker re-matches the requests it concerns.
    await enqueue_quietly(request.app, "match_offering_job", offering.id)
    return hx_redirect("/partner/offerings", request)


routes = [
    Route("/partner", profile, methods=["GET"], name="partner_profile"),
    Route("/partner", profile_submit, methods=["POST"], name="partner_profile_submit"),
    Route("/partner/offerings", offerings, methods=["GET"], name="offerings"),
    Route("/partner/offerings/new", offering_new, methods=["GET"], name="offering_new"),
    Route("/partner/offerings/new", offering_save, methods=["POST"], name="offering_create"),
    Route("/partner/offerings/{offering_id:int}/edit", offering_edit, methods=["GET"], name="offering_edit"),
    Route(
        "/partner/offerings/{offering_id:int}/edit", offering_save, methods=["POST"], name="offering_update"
    ),
]
