"""Response promises (issue 18, item 4): the cockpit's page of promises kept and the late requests, and
the coordinator's page setting the region's promises."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core import audit
from alliance.core.access import Action, require
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.timeutil import LOCAL_TZ, aware
from alliance.notifications.outbox import add_job
from alliance.targets import promises, scopes
from web.auth import client_address, require_principal
from web.flash import go, take_flash
from web.jobs import relay_outbox
from web.routes.cockpit import _query, _scope, _year
from web.routes.exports import start_export
from web.templating import render


async def promises_page(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.VIEW_TARGETS)
    scope = await _scope(request, principal)
    year = _year(request)
    # The figures come from the scope's snapshot; none yet or a stale one: a worker is asked for it
    # (one job per scope and ten minutes) and the page says so, or how old its figures are.
    snapshot = await promises.snapshot_of(scope, year)
    if snapshot is None or promises.is_stale(snapshot):
        job_id = promises.snapshot_job_id(scope.region_code, year)
        await add_job("refresh_promises", scope.region_code or "", year, job_id=job_id)
        await relay_outbox(request.app, [job_id])
    report = await promises.report_from_snapshot(scope, year, snapshot) if snapshot else None
    await audit.viewed(
        principal,
        "promises.view",
        households=sorted({row.household_id for row in report.late}) if report else [],
        address=client_address(request),
    )
    return render(
        request,
        "cockpit/promises.html",
        {
            "report": report,
            "scope": scope,
            "figures_as_of": aware(snapshot.computed_at).astimezone(LOCAL_TZ) if snapshot else None,
            "trail": await scopes.region_breadcrumb(principal, scope),
            "query": _query(scope, year),
            "year": year,
            "label": label,
            "can_set": principal.role == "coordinator",
        },
    )


async def _export(request: Request, kind: str) -> Response:
    principal = await require_principal(request)
    require(principal, Action.VIEW_TARGETS)
    scope = await _scope(request, principal)
    return await start_export(request, principal, kind, {"year": _year(request), "region": scope.region_code})


async def export_csv(request: Request) -> Response:
    return await _export(request, "promises_csv")


async def export_xlsx(request: Request) -> Response:
    return await _export(request, "promises_xlsx")


async def _settings(request: Request, *, errors=None, values=None, status: int = 200) -> Response:
    principal = await require_principal(request)
    region, effective, own = await promises.region_promises(principal)
    return render(
        request,
        "cockpit/promise_settings.html",
        {
            "region": region,
            "effective": effective,
            "own": own,
            "needs": [(need.value, label(need.value)) for need in promises.NEEDS],
            "defaults": (promises.DEFAULT_FIRST_CONTACT_DAYS, promises.DEFAULT_SERVICE_DAYS),
            "errors": errors or {},
            "values": values,
            "message": take_flash(request),
        },
        status_code=status,
    )


async def settings_view(request: Request) -> Response:
    return await _settings(request)


async def settings_save(request: Request) -> Response:
    principal = await require_principal(request)
    form = await request.form()
    values = {
        f"{need.value}_{part}": str(form.get(f"{need.value}_{part}", ""))
        for need in promises.NEEDS
        for part in ("contact", "service")
    }
    try:
        await promises.set_region_promises(principal, values)
    except InvalidInput as refused:
        return await _settings(request, errors=dict(refused.errors), values=values, status=422)
    return go(request, "/cockpit/promises/settings", _("Response promises saved."))


routes = [
    Route("/cockpit/promises", promises_page, methods=["GET"], name="cockpit_promises"),
    Route(
        "/cockpit/promises/export.csv", export_csv, methods=["GET", "POST"], name="cockpit_promises_export"
    ),
    Route(
        "/cockpit/promises/export.xlsx",
        export_xlsx,
        methods=["GET", "POST"],
        name="cockpit_promises_export_xlsx",
    ),
    Route("/cockpit/promises/settings", settings_view, methods=["GET"], name="promise_settings"),
    Route("/cockpit/promises/settings", settings_save, methods=["POST"], name="promise_settings_save"),
]
