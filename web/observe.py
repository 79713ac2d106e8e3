"""Every web request observed: a request id (the caller's X-Request-ID when it looks like one, else
a new one; sent back in the answer and carried into the jobs the request enqueues), one JSON log
line, and the latency histogram by route template (alliance/core/metrics.py).

The line and the labels name the route's template (`/households/{household_id:int}`), never the
raw path: paths hold ids and personal link tokens. The principal is logged by user id only."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alliance.core.logs import new_request_id, request_id_var
from alliance.core.metrics import REQUEST_SECONDS

logger = logging.getLogger("alliance.requests")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
UNMATCHED = "<unmatched>"


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return UNMATCHED
    # A mounted app (static files): its own paths are below the mount's.
    return path + "/{path}" if route.__class__.__name__ == "Mount" else path


class ObserveRequests:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = offered if _REQUEST_ID.match(offered) else new_request_id()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            REQUEST_SECONDS.labels(method=scope["method"], route=route, status=str(status)).observe(seconds)
            principal: Any = (scope.get("state") or {}).get("principal")
            logger.info(
                "request",
                extra={
                    "fields": {
                        "method": scope["method"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 1),
                        "principal_id": getattr(principal, "user_id", None),
                    }
                },
            )
            request_id_var.reset(token)
