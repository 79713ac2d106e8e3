"""The operator's views: /healthz (the load balancer's probe), /readyz (the service as a whole),
/metrics (Prometheus), and the workers' heartbeats on the admin page (docs/operations.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from alliance.core import heartbeats
from alliance.core.access import Action, require
from web.auth import require_principal
from web.health import liveness, readiness, verdict_only
from web.jobs import redis_client
from web.metrics import exposition
from web.operations import has_metrics_token, is_local, may_see_operations
from web.templating import render

NO_STORE = {"Cache-Control": "no-store"}


async def _probe(request: Request, report: dict) -> Response:
    shown = report if await may_see_operations(request) else verdict_only(report)
    return JSONResponse(shown, status_code=200 if report["ok"] else 503, headers=NO_STORE)


async def healthz(request: Request) -> Response:
    return await _probe(request, await liveness(request.app))


async def readyz(request: Request) -> Response:
    return await _probe(request, await readiness(request.app))


async def metrics(request: Request) -> Response:
    if not (is_local(request) or has_metrics_token(request)):
        return PlainTextResponse(
            "metrics: from a local address or with Authorization: Bearer <ALLIANCE_METRICS_TOKEN>",
            status_code=403,
            headers=NO_STORE,
        )
    body, content_type = await exposition(request.app)
    return Response(body, media_type=content_type, headers=NO_STORE)


async def admin_workers(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.VIEW_OPERATIONS)
    try:
        beats = await heartbeats.worker_beats(redis_client(request.app))
        redis_down = False
    except Exception:
        beats, redis_down = [], True
    return render(
        request,
        "admin/workers.html",
        {
            "beats": beats,
            "redis_down": redis_down,
            "silent_after": int(heartbeats.silent_after().total_seconds()),
        },
    )


routes = [
    Route("/healthz", healthz, methods=["GET"], name="healthz"),
    Route("/readyz", readyz, methods=["GET"], name="readyz"),
    Route("/metrics", metrics, methods=["GET"], name="metrics"),
    Route("/admin/workers", admin_workers, methods=["GET"], name="admin_workers"),
]
