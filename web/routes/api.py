from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from web.health import health_report


async def healthz(request: Request) -> Response:
    report = await health_report(request.app)
    return JSONResponse(
        report, status_code=200 if report["ok"] else 503, headers={"Cache-Control": "no-store"}
    )


routes = [Route("/healthz", healthz, methods=["GET"], name="healthz")]
