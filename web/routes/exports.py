"""A user's exports: asking for one (from the cockpit, the intake and audit pages), following its
progress while a worker writes it, downloading it, and the list "My exports"
(alliance/core/exports.py)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from alliance.core import audit, exports
from alliance.core.access import Principal
from alliance.core.i18n import current_language
from alliance.households import intake_history  # noqa: F401  (registers its export kind)
from alliance.targets import cockpit  # noqa: F401  (registers its export kinds)
from web.auth import client_address, require_principal
from web.htmx_hooks import hx_redirect, hx_refresh
from web.jobs import relay_outbox
from web.templating import render


async def start_export(request: Request, principal: Principal, kind: str, params: dict[str, Any]) -> Response:
    """Ask a worker for the export and send the user to its page (the old download URLs land here)."""
    directory = request.app.state.settings.data_dir / "exports"
    job = await exports.request_export(principal, kind, params, directory, current_language())
    await relay_outbox(request.app, [exports.export_job_id(job.id)])
    return hx_redirect(f"/exports/{job.id}", request)


async def my_exports(request: Request) -> Response:
    principal = await require_principal(request)
    return render(
        request,
        "exports/list.html",
        {"exports": await exports.exports_for(principal), "retain_days": exports.retain_days()},
    )


async def export_page(request: Request) -> Response:
    principal = await require_principal(request)
    job = await exports.export_of(principal, request.path_params["export_id"])
    return render(request, "exports/export.html", {"job": job, "retain_days": exports.retain_days()})


async def export_progress(request: Request) -> Response:
    """Polled by the export's page while a worker writes it; once done, the page reloads."""
    principal = await require_principal(request)
    job = await exports.export_of(principal, request.path_params["export_id"])
    if job.state not in ("queued", "running"):
        return hx_refresh(request, f"/exports/{job.id}")
    return render(request, "exports/_progress.html", {"job": job})


async def download(request: Request) -> Response:
    principal = await require_principal(request)
    job, path = await exports.file_to_download(principal, request.path_params["export_id"])
    # Exports hold personal data (names in refused rows, households in the audit trail): each
    # download is on the trail.
    await audit.viewed(
        principal,
        "export.download",
        ("export_job", job.id),
        details={"kind": job.kind, "rows": job.row_count},
        address=client_address(request),
    )
    return FileResponse(
        path,
        media_type=exports.media_type(job),
        filename=job.file_name,
        headers={"Cache-Control": "no-store"},
    )


routes = [
    Route("/exports", my_exports, methods=["GET"], name="exports"),
    Route("/exports/{export_id:int}", export_page, methods=["GET"], name="export"),
    Route("/exports/{export_id:int}/progress", export_progress, methods=["GET"], name="export_progress"),
    Route("/exports/{export_id:int}/download", download, methods=["GET"], name="export_download"),
]
