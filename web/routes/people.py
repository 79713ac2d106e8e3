"""Pages of the people served and serving: a volunteer's own page and a household's own page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.access import Action, get_visible
from alliance.models import Flag, ServiceRequest
from web.auth import require_principal
from web.templating import render


async def volunteer_home(request: Request) -> Response:
    principal = await require_principal(request)
    volunteer = await get_visible(principal, Action.VIEW_OWN_VOLUNTEER, principal.volunteer_id or 0)
    await volunteer.fetch_related("partners", "region")
    return render(request, "volunteer/home.html", {"volunteer": volunteer})


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
    return render(
        request, "household/home.html", {"household": household, "requests": requests, "flags": flags}
    )


routes = [
    Route("/volunteer", volunteer_home, methods=["GET"], name="volunteer_home"),
    Route("/my-household", household_home, methods=["GET"], name="household_home"),
]
