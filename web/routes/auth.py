from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from alliance.core.accounts import authenticate
from alliance.core.errors import LoginThrottled
from alliance.core.i18n import LANGUAGES, ngettext
from alliance.core.i18n import gettext as _
from web.auth import client_address, current_principal, end_session, start_session
from web.flash import take_flash
from web.htmx_hooks import hx_redirect
from web.redirects import safe_local_path
from web.templating import render


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect would make the login page a phishing tool.
    return safe_local_path(target)


async def login_page(request: Request) -> Response:
    if await current_principal(request):
        return RedirectResponse("/", status_code=303)
    return render(
        request,
        "auth/login.html",
        {"next": _safe_next(request.query_params.get("next")), "message": take_flash(request)},
    )


async def login_submit(request: Request) -> Response:
    form = await request.form()
    username = str(form.get("username", ""))
    password = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "")))
    error = None
    status = 200
    retry_after = 0
    try:
        user = await authenticate(username, password, client_address(request))
    except LoginThrottled as throttled:
        user = None
        error = ngettext(
            "Too many failed attempts. Try again in {seconds} second.",
            "Too many failed attempts. Try again in {seconds} seconds.",
            throttled.retry_after_seconds,
        ).format(seconds=throttled.retry_after_seconds)
        status = 429
        retry_after = throttled.retry_after_seconds
    if user is None:
        error = error or _("Wrong user name or password.")
        response = render(
            request,
            "auth/login.html",
            {"error": error, "username": username, "next": target},
            status_code=status if status != 200 else 401,
        )
        if status == 429:
            response.headers["Retry-After"] = str(retry_after)
        return response
    await start_session(request, user)
    return hx_redirect(target, request)


async def logout(request: Request) -> Response:
    await end_session(request)
    return hx_redirect("/login", request)


async def choose_language(request: Request) -> Response:
    # Checked first: a cookie whose session has ended loses its key here, so this route (which
    # re-signs the cookie) cannot keep an ended session's cookie alive.
    principal = await current_principal(request)
    form = await request.form()
    language = str(form.get("language", ""))
    if language in LANGUAGES:
        request.session["lang"] = language
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
