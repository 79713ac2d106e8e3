"""Who may see the operator's views (/metrics, the details of /healthz and /readyz): a caller on a
local address (the host itself, or through a trusted proxy that forwards the client's address), a
caller with the metrics token, or a signed-in user allowed Action.VIEW_OPERATIONS."""

from __future__ import annotations

import ipaddress
import secrets

from starlette.requests import Request

from alliance.core.access import Action, allows
from web.auth import current_principal


def is_local(request: Request) -> bool:
    # Behind a proxy listed in FORWARDED_ALLOW_IPS, uvicorn has put the forwarded client address here.
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def has_metrics_token(request: Request) -> bool:
    token = request.app.state.settings.metrics_token
    offered = request.headers.get("authorization", "")
    return bool(token) and secrets.compare_digest(offered.encode(), f"Bearer {token}".encode())


async def may_see_operations(request: Request) -> bool:
    if is_local(request) or has_metrics_token(request):
        return True
    principal = await current_principal(request)
    return principal is not None and allows(principal, Action.VIEW_OPERATIONS)
