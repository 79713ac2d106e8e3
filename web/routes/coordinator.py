from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core import audit
from alliance.core.access import Action, require
from alliance.core.codes import ConsentScope, FlagCode, NeedCode
from alliance.households.consent import consent_history
from alliance.households.selectors import (
    HouseholdFilters,
    household_detail,
    list_households,
    regions_for_filter,
    search_kind,
)
from alliance.visits import service_records
from web.auth import client_address, require_principal
from web.flash import take_flash
from web.params import page_param
from web.templating import render


def _filters(params: Mapping[str, str], *, searching: bool) -> HouseholdFilters:
    return HouseholdFilters(
        region_code=params.get("region", "").strip(),
        flag=params.get("flag", "") if params.get("flag", "") in FlagCode.__members__ else "",
        need=params.get("need", "") if params.get("need", "") in NeedCode.__members__ else "",
        # A search term (a name, a phone, an ID number) is a question about a person: it comes only
        # in a POST body, so it never lands in an address, a proxy's log or the browser's history.
        search=str(params.get("q", "")).strip()[:64] if searching else "",
        page=page_param(params),
    )


async def households(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.VIEW_HOUSEHOLDS)
    if request.method == "POST":
        form = await request.form()
        filters = _filters({name: str(value) for name, value in form.items()}, searching=True)
    else:
        filters = _filters(request.query_params, searching=False)
    result = await list_households(principal, filters)
    if filters.search:
        # Every search is kept, found or not (a search by ID number or phone is a question about a
        # person); the entry records how it searched and what it found, never the term itself.
        await audit.record(
            principal,
            "households.search",
            "household",
            "",
            {"by": search_kind(filters.search), "found": result.total},
            client_address(request),
            households=[row.id for row in result.rows],
        )
    await audit.viewed(
        principal,
        "households.list_view",
        households=[row.id for row in result.rows],
        address=client_address(request),
    )
    return render(
        request,
        "coordinator/households.html",
        {
            "result": result,
            "regions": await regions_for_filter(principal),
            "flag_codes": list(FlagCode),
            "need_codes": list(NeedCode),
        },
        block="results",
    )


async def household(request: Request) -> Response:
    principal = await require_principal(request)
    detail = await household_detail(principal, request.path_params["household_id"], client_address(request))
    return render(
        request,
        "coordinator/household.html",
        {
            "detail": detail,
            "delivered": await service_records.delivered_services(principal, detail.household.id),
            "open_risks": await service_records.open_risks_of(principal, detail.household.id),
            "flash": take_flash(request),
            "consent_records": await consent_history(detail.household.id),
            "scopes": list(ConsentScope),
        },
    )


routes = [
    Route("/households", households, methods=["GET", "POST"], name="households"),
    Route("/households/{household_id:int}", household, methods=["GET"], name="household"),
]
