"""Coordinator pages for intake: the history of batches (with refused rows as CSV) and the possible
duplicates to merge or dismiss. Every query is scoped through alliance.access."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core import audit
from alliance.core.access import Action, require
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.households.duplicates import dismiss_duplicate, merge_duplicate, possible_duplicates
from alliance.households.intake_conflicts import accept_conflict, pending_conflicts, reject_conflict
from alliance.households.intake_history import batch_detail, batch_for, batch_progress, intake_history
from web.auth import client_address, require_principal
from web.flash import go, take_flash
from web.htmx_hooks import hx_refresh, is_htmx
from web.params import page_param
from web.routes.exports import start_export
from web.templating import render


def _page(request: Request) -> int:
    return page_param(request.query_params)


async def history(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.VIEW_INTAKE)
    result = await intake_history(principal, _page(request))
    return render(request, "intake/batches.html", {"result": result}, block="results")


async def batch(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.VIEW_INTAKE)
    detail = await batch_detail(principal, request.path_params["batch_id"], _page(request))
    if detail.rejected:
        # The refused rows as sent: names, ID numbers, phones and addresses.
        await audit.viewed(
            principal,
            "intake.rejected_view",
            ("intake_batch", request.path_params["batch_id"]),
            details={"rows": [row.row for row in detail.rejected]},
            address=client_address(request),
        )
    return render(request, "intake/batch.html", {"detail": detail}, block="rejected")


async def progress(request: Request) -> Response:
    """Polled by a running batch's page; once the batch has ended, the page reloads with its counts."""
    principal = await require_principal(request)
    require(principal, Action.VIEW_INTAKE)
    found = await batch_progress(principal, request.path_params["batch_id"])
    if not found.running:
        return hx_refresh(request, f"/intake/batches/{found.batch_id}")
    return render(request, "intake/_progress.html", {"progress": found})


async def rejected_csv(request: Request) -> Response:
    """The refused rows as a file a worker writes (a province's batch may refuse a million rows); the
    download is audited (alliance/core/exports.py, web/routes/exports.py)."""
    principal = await require_principal(request)
    require(principal, Action.VIEW_INTAKE)
    await batch_for(principal, request.path_params["batch_id"])
    return await start_export(
        request, principal, "intake_rejected_csv", {"batch_id": request.path_params["batch_id"]}
    )


async def duplicates(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MERGE_HOUSEHOLDS)
    result = await possible_duplicates(principal, _page(request))
    await audit.viewed(
        principal,
        "duplicates.list_view",
        households=[
            summary.id for pair in result.pairs for summary in (pair.duplicate, pair.original) if summary
        ],
        address=client_address(request),
    )
    return render(request, "intake/duplicates.html", {"result": result}, block="results")


async def merge(request: Request) -> Response:
    principal = await require_principal(request)
    household_id = request.path_params["household_id"]
    form = await request.form()
    kept = await merge_duplicate(principal, household_id, str(form.get("keep", "")), client_address(request))
    if is_htmx(request):
        return render(request, "intake/_resolved.html", {"outcome": "merged", "kept": kept})
    return Response(status_code=303, headers={"Location": "/intake/duplicates"})


async def dismiss(request: Request) -> Response:
    principal = await require_principal(request)
    household = await dismiss_duplicate(
        principal, request.path_params["household_id"], client_address(request)
    )
    if is_htmx(request):
        return render(request, "intake/_resolved.html", {"outcome": "dismissed", "kept": household})
    return Response(status_code=303, headers={"Location": "/intake/duplicates"})


async def conflicts(request: Request, message: str = "", status: int = 200) -> Response:
    principal = await require_principal(request)
    result = await pending_conflicts(principal, _page(request), client_address(request))
    return render(
        request,
        "intake/conflicts.html",
        {"result": result, "message": message or take_flash(request)},
        block="results",
        status_code=status,
    )


async def _conflict_decided(request: Request, message: str) -> Response:
    if is_htmx(request):
        return render(request, "intake/_conflict_decided.html", {"message": message})
    return go(request, "/intake/conflicts", message)


async def conflict_accept(request: Request) -> Response:
    principal = await require_principal(request)
    try:
        await accept_conflict(principal, request.path_params["conflict_id"], client_address(request))
    except InvalidInput as refused:
        message = "; ".join(f"{field}: {text}" for field, text in refused.errors.items())
        if is_htmx(request):
            return render(request, "intake/_conflict_decided.html", {"message": message, "error": True})
        return go(request, "/intake/conflicts", message)
    return await _conflict_decided(request, _("Accepted: the household now holds what the row sent."))


async def conflict_reject(request: Request) -> Response:
    principal = await require_principal(request)
    try:
        await reject_conflict(principal, request.path_params["conflict_id"], client_address(request))
    except InvalidInput as refused:
        return await _conflict_decided(request, "; ".join(refused.errors.values()))
    return await _conflict_decided(request, _("Rejected: the household keeps what it held."))


routes = [
    Route("/intake", history, methods=["GET"], name="intake_history"),
    Route("/intake/batches/{batch_id:int}", batch, methods=["GET"], name="intake_batch"),
    Route("/intake/batches/{batch_id:int}/progress", progress, methods=["GET"], name="intake_batch_progress"),
    Route(
        "/intake/batches/{batch_id:int}/rejected.csv",
        rejected_csv,
        methods=["GET", "POST"],
        name="intake_rejected_csv",
    ),
    Route("/intake/conflicts", conflicts, methods=["GET"], name="intake_conflicts"),
    Route(
        "/intake/conflicts/{conflict_id:int}/accept",
        conflict_accept,
        methods=["POST"],
        name="intake_conflict_accept",
    ),
    Route(
        "/intake/conflicts/{conflict_id:int}/reject",
        conflict_reject,
        methods=["POST"],
        name="intake_conflict_reject",
    ),
    Route("/intake/duplicates", duplicates, methods=["GET"], name="intake_duplicates"),
    Route("/intake/duplicates/{household_id:int}/merge", merge, methods=["POST"], name="intake_merge"),
    Route("/intake/duplicates/{household_id:int}/dismiss", dismiss, methods=["POST"], name="intake_dismiss"),
]
