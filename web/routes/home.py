from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from alliance.core.codes import Role
from web.auth import require_principal

HOME_BY_ROLE = {
    Role.ADMIN: "/admin/partners",
    Role.COORDINATOR: "/cockpit",
    Role.COMMUNITY_WORKER: "/households",
    Role.PARTNER_ADMIN: "/partner",
    Role.DISPATCHER: "/partner",
    Role.VOLUNTEER: "/volunteer",
    Role.HOUSEHOLD: "/my-household",
}


async def home(request: Request) -> Response:
    principal = await require_principal(request)
    return RedirectResponse(HOME_BY_ROLE[principal.role], status_code=303)


routes = [Route("/", home, methods=["GET"], name="home")]
