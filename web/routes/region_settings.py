"""Region settings (alliance/visits/region_settings.py): the regions a coordinator or administrator
may set, and one region's settings with where each comes from and its history of changes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from alliance.core.access import Action, require
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.visits import region_settings
from web.auth import client_address, require_principal
from web.flash import go, take_flash
from web.jobs import enqueue_quietly
from web.templating import render


async def overview(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.SET_REGION_POLICY)
    rows, history = await region_settings.region_overview(principal)
    return render(
        request,
        "admin/region_settings.html",
        {
            "rows": rows,
            "history": history,
            "settings": region_settings.SETTINGS,
            "defaults": region_settings.defaults(),
            "shown": region_settings.shown,
            "flash": take_flash(request),
        },
    )


async def _region_page(request: Request, *, errors=None, values=None, status: int = 200) -> Response:
    principal = await require_principal(request)
    require(principal, Action.SET_REGION_POLICY)
    page = await region_settings.region_settings(principal, request.path_params["region_code"])
    return render(
        request,
        "admin/region_setting.html",
        {
            "page": page,
            "region": page.region,
            "errors": errors or {},
            "values": values,
            "flash": take_flash(request),
        },
        status_code=status,
    )


async def region_view(request: Request) -> Response:
    return await _region_page(request)


async def region_save(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.SET_REGION_POLICY)
    form = await request.form()
    code = request.path_params["region_code"]
    # Only the fields sent: a form that leaves one out leaves that setting as it is.
    values = {
        setting.key: str(form[setting.key]) for setting in region_settings.SETTINGS if setting.key in form
    }
    try:
        change = await region_settings.set_region_settings(principal, code, values, client_address(request))
    except InvalidInput as refused:
        return await _region_page(request, errors=dict(refused.errors), values=values, status=422)
    if change.offered_request_ids:
        await enqueue_quietly(request.app, "match_requests_job", change.offered_request_ids)
    if change.changed:
        message = _("Settings saved for {region}.").format(region=change.region.name)
    else:
        message = _("Nothing changed for {region}.").format(region=change.region.name)
    return go(request, f"/admin/region-settings/{change.region.code}", message)


async def old_policy_page(request: Request) -> Response:
    """The former "Region policy" page is now part of the region settings."""
    principal = await require_principal(request)
    require(principal, Action.SET_REGION_POLICY)
    return RedirectResponse("/admin/region-settings", status_code=301)


routes = [
    Route("/admin/region-settings", overview, methods=["GET"], name="region_settings"),
    Route("/admin/region-settings/{region_code}", region_view, methods=["GET"], name="region_setting"),
    Route("/admin/region-settings/{region_code}", region_save, methods=["POST"], name="region_setting_save"),
    Route("/admin/region-policy", old_policy_page, methods=["GET"], name="region_policy"),
]
