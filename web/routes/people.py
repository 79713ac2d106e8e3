"""Pages of the people served and serving: a volunteer's own page and a household's own page."""

from __future__ import annotations

from datetime import date

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.cases.eligibility import checks_of_household
from alliance.core import audit
from alliance.core.access import Action, get_visible
from alliance.core.codes import ConsentScope
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import to_local, utc_now
from alliance.households.consent import consent_history
from alliance.households.models import Flag
from alliance.matching.models import ServiceRequest
from alliance.visits import checkins, service_records
from alliance.visits.dayplan import volunteer_day_plan
from alliance.visits.selectors import own_household_visits, volunteer_visits
from alliance.visits.volunteer_calendar import own_calendar_token, rotate_calendar_link
from web.auth import client_address, require_principal
from web.flash import go, take_flash
from web.templating import render


async def volunteer_home(request: Request) -> Response:
    principal = await require_principal(request)
    volunteer = await get_visible(principal, Action.VIEW_OWN_VOLUNTEER, principal.volunteer_id or 0)
    await volunteer.fetch_related("partners", "region")
    try:
        day = date.fromisoformat(request.query_params.get("day", ""))
    except ValueError:
        day = to_local(utc_now()).date()  # type: ignore[union-attr]
    token = await own_calendar_token(principal, request.app.state.settings.secret_key)
    plan = await volunteer_day_plan(principal, day)
    visits = await volunteer_visits(principal)
    # Address, maps link, how to meet the household and the service, for each stop.
    briefs = await checkins.door_pages(principal, [leg.stop.key for leg in plan.legs])
    await audit.viewed(
        principal,
        "volunteer.home_view",
        ("volunteer", volunteer.id),
        households=[brief.household.id for brief in briefs.values()],
        visits=[row.visit_id for row in visits],
        address=client_address(request),
    )
    return render(
        request,
        "volunteer/home.html",
        {
            "volunteer": volunteer,
            "visits": visits,
            "plan": plan,
            "briefs": briefs,
            "day": day,
            "calendar_url": str(request.base_url).rstrip("/") + f"/calendar/{token}.ics",
            "message": take_flash(request),
        },
    )


async def new_calendar_link(request: Request) -> Response:
    principal = await require_principal(request)
    await rotate_calendar_link(principal)
    return go(
        request,
        "/volunteer#calendar",
        _(
            "Here is your new calendar address. The old one no longer works: update your phone's subscription."
        ),
    )


async def household_home(request: Request) -> Response:
    principal = await require_principal(request)
    household = await get_visible(principal, Action.VIEW_OWN_HOUSEHOLD, principal.household_id or 0)
    await household.fetch_related("region")
    requests = (
        await ServiceRequest.filter(household_id=household.id)
        .order_by("-created_at")
        .prefetch_related("claimed_by")
    )
    flags = await Flag.filter(household_id=household.id, active=True)
    visits = await own_household_visits(principal, request.app.state.settings.secret_key)
    delivered = await service_records.delivered_services(principal, household.id)
    flash = take_flash(request)
    return render(
        request,
        "household/home.html",
        {
            "household": household,
            "requests": requests,
            "flags": flags,
            "visits": visits,
            "delivered": delivered,
            "flash": flash,
            "consent_records": await consent_history(household.id),
            "scopes": list(ConsentScope),
            "eligibility_checks": await checks_of_household(household.id),
        },
    )


routes = [
    Route("/volunteer", volunteer_home, methods=["GET"], name="volunteer_home"),
    Route("/volunteer/calendar-link", new_calendar_link, methods=["POST"], name="volunteer_calendar_link"),
    Route("/my-household", household_home, methods=["GET"], name="household_home"),
]
