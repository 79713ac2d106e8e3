"""Eligibility checks on pages: partner staff check by ID number (/partner/eligibility) or by the
household's entitlement QR (/partner/eligibility/scan); the household shows its QR on
/my-household/entitlement, its worker on /households/{id}/entitlement (alliance/cases/eligibility.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.cases.eligibility import (
    EligibilityLimited,
    EntitlementRefused,
    check_by_entitlement,
    check_by_id_number,
    entitlement_qr,
    offerings_for_checks,
    token_from_scan,
)
from alliance.core.access import Action, require
from alliance.core.codes import EligibilityChannel
from alliance.core.errors import InvalidInput
from web.auth import client_address, require_principal
from web.templating import render


async def _check_page(request: Request, template: str, scanning: bool) -> Response:
    principal = await require_principal(request)
    require(principal, Action.CHECK_ELIGIBILITY)
    offerings = await offerings_for_checks(principal)
    context: dict = {
        "offerings": offerings,
        "errors": {},
        "answer": None,
        "limited": None,
        "chosen": "",
        "token": token_from_scan(request.query_params.get("token", ""))[:300] if scanning else "",
    }
    status = 200
    if request.method == "POST":
        form = await request.form()
        context["chosen"] = str(form.get("offering_id", ""))
        try:
            if scanning:
                scanned = str(form.get("token", ""))[:2000]
                context["answer"] = await check_by_entitlement(
                    principal,
                    context["chosen"],
                    scanned,
                    request.app.state.settings.secret_key,
                    client_address(request),
                )
            else:
                context["answer"] = await check_by_id_number(
                    principal,
                    context["chosen"],
                    str(form.get("id_number", ""))[:64],
                    EligibilityChannel.PAGE,
                    client_address(request),
                )
        except InvalidInput as invalid:
            context["errors"], status = invalid.errors, 422
        except EntitlementRefused as refused:
            context["errors"], status = {"token": refused.message}, 422
        except EligibilityLimited as limited:
            context["limited"], status = limited, 429
    response = render(request, template, context, status_code=status)
    if context["limited"] is not None:
        response.headers["Retry-After"] = str(context["limited"].retry_after_seconds)
    return response


async def check_page(request: Request) -> Response:
    return await _check_page(request, "partner/eligibility.html", scanning=False)


async def scan_page(request: Request) -> Response:
    return await _check_page(request, "partner/eligibility_scan.html", scanning=True)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def own_entitlement(request: Request) -> Response:
    principal = await require_principal(request)
    qr = await entitlement_qr(
        principal,
        principal.household_id or 0,
        request.app.state.settings.secret_key,
        _base_url(request),
        Action.VIEW_OWN_HOUSEHOLD,
    )
    return render(request, "household/entitlement.html", {"qr": qr, "back": "/my-household"})


async def staff_entitlement(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.CASEWORK)
    household_id = request.path_params["household_id"]
    qr = await entitlement_qr(
        principal,
        household_id,
        request.app.state.settings.secret_key,
        _base_url(request),
        Action.CASEWORK,
    )
    return render(
        request, "household/entitlement.html", {"qr": qr, "back": f"/households/{household_id}/case"}
    )


routes = [
    Route("/partner/eligibility", check_page, methods=["GET", "POST"], name="eligibility_check"),
    Route("/partner/eligibility/scan", scan_page, methods=["GET", "POST"], name="eligibility_scan"),
    Route("/my-household/entitlement", own_entitlement, methods=["GET"], name="own_entitlement"),
    Route(
        "/households/{household_id:int}/entitlement",
        staff_entitlement,
        methods=["GET"],
        name="household_entitlement",
    ),
]
