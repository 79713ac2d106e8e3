from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from alliance.core.accounts import authenticate
from alliance.core.errors import LoginThrottled
from alliance.core.i18n import LANGUAGES
from alliance.core.i18n import gettext as _
from web.auth import client_address, current_principal, end_session, start_session
from web.htmx_hooks import hx_redirect
from web.redirects import safe_local_path
from web.templating import render


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect would make the login page a phishing tool.
    return safe_local_path(target)


async def login_page(request: Request) -> Response:
    if await current_principal(request):
        return RedirectResponse("/", status_code=303)
    return render(request, "auth/login.html", {"next": _safe_next(request.query_params.get("next"))})


async def login_submit(request: Request) -> Response:
    form = await request.form()
    username = str(form.get("username", ""))
    password = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "")))
    error = None
    status = 200
    try:
        user = await authenticate(username, password, client_address(request))
    except LoginThrottled as throttled:
        user = None
        error = _("Too many failed attempts. Wait {minutes} minutes and try again.").format(
            minutes=throttled.retry_after_seconds // 60
        )
        status = 429
    if user is None:
        error = error or _("Wrong user name or password.")
        return render(
            request,
            "auth/login.html",
            {"error": error, "username": username, "next": target},
            status_code=status if status != 200 else 401,
        )
    start_session(request, user)
    return hx_redirect(target, request)


async def logout(request: Request) -> Response:
    end_session(request)
    return hx_redirect("/login", request)


async def choose_language(request: Request) -> Response:
    form = await request.form()
    language = str(form.get("language", ""))
    if language in LANGUAGES:
        request.session["lang"] = language
        principal = await current_principal(request)
        if principal:
            from alliance.core.models import User

            await User.filter(id=principal.user_id).update(language=language)
    return RedirectResponse(_safe_next(str(form.get("next", "/"))), status_code=303)


routes = [
    Route("/login", login_page, methods=["GET"], name="login"),
    Route("/login", login_submit, methods=["POST"], name="login_submit"),
    Route("/logout", logout, methods=["POST"], name="logout"),
    Route("/language", choose_language, methods=["POST"], name="language"),
]
