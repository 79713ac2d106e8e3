"""The Starlette application. Stateless: sessions and limits live in the database,
jobs go through Redis, so any number of these processes can serve behind one load balancer."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from alliance.core import audit, db
from alliance.core.config import Settings, load_settings
from alliance.core.errors import InvalidInput, NotFound, PermissionDenied
from alliance.core.i18n import gettext as _
from alliance.core.logs import configure_logging
from web import jobs
from web.auth import LoginRequired, client_address
from web.htmx_hooks import hx_redirect, hx_retarget, is_htmx
from web.observe import ObserveRequests
from web.params import RefuseNul
from web.problems import problem
from web.redirects import safe_local_path
from web.routes import (
    account,
    admin,
    api,
    auth,
    board,
    cases,
    cockpit,
    consent,
    coordinator,
    door,
    eligibility,
    events,
    exports,
    holidays,
    home,
    inbox,
    intake,
    join,
    matching,
    notifications,
    operations,
    partner,
    partner_api,
    people,
    projects,
    promises,
    region_settings,
    regular,
    staff,
    supervision,
    visits,
    volunteers,
    webhooks,
)
from web.routes import (
    audit as audit_routes,
)
from web.security import CSRFMiddleware, LanguageMiddleware, SecureHeadersMiddleware
from web.templating import build_environment, render

STATIC_DIR = Path(__file__).parent / "static"


async def _login_required(request: Request, _exc: Exception) -> Response:
    target = "/login?" + urlencode({"next": safe_local_path(request.url.path)})
    if is_htmx(request):
        return hx_redirect(target)
    return RedirectResponse(target, status_code=303)


_API_CODES = {
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    422: "invalid",
    500: "server_error",
}


def _error_page(status: int, message: str):
    async def handler(request: Request, _exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            # The machine APIs answer every error as an RFC 9457 problem (web/problems.py).
            return problem(request, status, _API_CODES.get(status, "error"), message)
        response = render(request, "error.html", {"status": status, "message": message}, status_code=status)
        if is_htmx(request):
            # Show the refusal in the page's message area instead of swapping it into a table cell.
            hx_retarget(response, "#messages")
        return response

    return handler


async def _record_refusal(request: Request, exc: Exception) -> None:
    """One audit entry per refused request: who, which action, which path. An unknown address (no
    route) is not a refusal and writes nothing."""
    if not isinstance(exc, (PermissionDenied, NotFound)):
        return
    principal = getattr(request.state, "principal", None)
    action = exc.action if isinstance(exc, PermissionDenied) else str(exc).split(" ", 1)[0]
    await audit.refused(
        principal,
        "access.forbidden" if isinstance(exc, PermissionDenied) else "access.not_found",
        request.url.path,
        client_address(request),
        {"method": request.method, "action": action[:64]},
    )


async def _forbidden(request: Request, exc: Exception) -> Response:
    await _record_refusal(request, exc)
    reason = exc.reason if isinstance(exc, PermissionDenied) else None
    return await _error_page(403, reason or _("You do not have access to this page or action."))(request, exc)


async def _not_found(request: Request, exc: Exception) -> Response:
    await _record_refusal(request, exc)
    return await _error_page(404, _("Not found, or not in your area."))(request, exc)


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidInput)
    message = "; ".join(f"{field}: {text}" for field, text in exc.errors.items())
    return await _error_page(422, message)(request, exc)


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    headers = getattr(exc, "headers", None) or {}
    if request.url.path.startswith("/api/"):
        return problem(
            request, 405, "method_not_allowed", _("This method is not allowed here."), headers=headers
        )
    return PlainTextResponse("Method Not Allowed", status_code=405, headers=headers)


async def _server_error(request: Request, _exc: Exception) -> Response:
    # Still logged and re-raised by Starlette's ServerErrorMiddleware; this is only the answer.
    if request.url.path.startswith("/api/"):
        return problem(request, 500, "server_error", _("Something went wrong on our side; try again later."))
    return PlainTextResponse("Internal Server Error", status_code=500)


def create_app(settings: Settings | None = None, *, manage_database: bool = False) -> Starlette:
    """`manage_database`: connect and close the ORM in the lifespan (servers); tests connect it themselves."""
    settings = settings or load_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_database:
            await db.connect(settings.database_url)
            # What is loaded by now (modules, templates, the ORM's metadata) lives as long as the
            # process: keep it out of the collector's full passes, which otherwise stall a request
            # now and then for milliseconds.
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await jobs.close(app)
            if manage_database:
                await db.disconnect()

    middleware = [
        # Outermost: times and logs the whole answer, error pages included, under one request id.
        Middleware(ObserveRequests),
        Middleware(SecureHeadersMiddleware, https_only=settings.https_only),
        Middleware(
            SessionMiddleware,
            secret_key=settings.secret_key,
            session_cookie="alliance_session",
            # The cookie outlives no session; the server-side row (web/auth.py) is what decides.
            max_age=settings.session_absolute_seconds,
            same_site="lax",
            https_only=settings.https_only,
        ),
        Middleware(CSRFMiddleware),
        Middleware(LanguageMiddleware, default_language=settings.default_language),
        Middleware(RefuseNul),
    ]
    routes = [
        *auth.routes,
        *account.routes,
        *home.routes,
        *coordinator.routes,
        *cases.routes,
        *supervision.routes,
        *cockpit.routes,
        *partner.routes,
        *join.routes,
        *staff.routes,
        *admin.routes,
        *projects.routes,
        *webhooks.routes,
        *people.routes,
        *intake.routes,
        *matching.routes,
        *board.routes,
        *visits.routes,
        *volunteers.routes,
        *door.routes,
        *regular.routes,
        *promises.routes,
        *events.routes,
        *notifications.routes,
        *inbox.routes,
        *consent.routes,
        *region_settings.routes,
        *holidays.routes,
        *operations.routes,
        *audit_routes.routes,
        *exports.routes,
        *eligibility.routes,
        *partner_api.routes,
        *api.routes,
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            LoginRequired: _login_required,
            PermissionDenied: _forbidden,
            NotFound: _not_found,
            InvalidInput: _invalid,
            404: _not_found,
            405: _method_not_allowed,
            Exception: _server_error,
        },
    )
    app.state.settings = settings
    app.state.templates = build_environment()
    app.state.arq = None
    app.state.redis = None
    return app


def asgi() -> Starlette:
    """Factory for `uvicorn --factory web.app:asgi` (several worker processes)."""
    configure_logging()
    return create_app(manage_database=True)
