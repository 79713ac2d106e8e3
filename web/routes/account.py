"""My account (own password, own sessions), the accounts page (admins; coordinators issue reset links
for their subtree) and the password-reset link."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core import audit
from alliance.core.access import Action, allows, require
from alliance.core.accounts import (
    accounts_for,
    change_own_password,
    set_user_active,
    sign_out_everywhere,
    sign_out_other_sessions,
)
from alliance.core.codes import Role
from alliance.core.errors import InvalidInput, PermissionDenied
from alliance.core.i18n import gettext as _
from alliance.core.password_resets import (
    ResetLinkUnusable,
    issue_reset_link,
    reset_password,
    user_for_reset,
)
from alliance.core.sessions import live_sessions_of
from web.auth import client_address, current_session_id, require_principal
from web.flash import go, take_flash
from web.templating import render


async def my_account(request: Request) -> Response:
    principal = await require_principal(request)
    return render(
        request,
        "account/account.html",
        {
            "sessions": await live_sessions_of(principal.user_id),
            "current_session_id": current_session_id(request),
            "message": take_flash(request),
        },
    )


async def change_password(request: Request) -> Response:
    principal = await require_principal(request)
    form = await request.form()
    try:
        ended = await change_own_password(
            principal,
            str(form.get("current_password", "")),
            str(form.get("new_password", "")),
            str(form.get("repeat_password", "")),
            keep_session_id=current_session_id(request),
            address=client_address(request),
        )
    except InvalidInput as invalid:
        return render(
            request,
            "account/account.html",
            {
                "sessions": await live_sessions_of(principal.user_id),
                "current_session_id": current_session_id(request),
                "errors": invalid.errors,
            },
            status_code=422,
        )
    return go(
        request,
        "/account",
        _("Your password is changed. Sessions signed out on other devices: {count}.").format(count=ended),
    )


async def end_other_sessions(request: Request) -> Response:
    principal = await require_principal(request)
    ended = await sign_out_other_sessions(principal, current_session_id(request))
    return go(request, "/account", _("Signed out on other devices: {count}.").format(count=ended))


def _require_accounts_page(principal) -> None:
    if not (allows(principal, Action.MANAGE_ACCOUNTS) or allows(principal, Action.ISSUE_PASSWORD_RESETS)):
        raise PermissionDenied(Action.MANAGE_ACCOUNTS)


async def accounts(request: Request) -> Response:
    principal = await require_principal(request)
    _require_accounts_page(principal)
    search = request.query_params.get("q", "")
    role = request.query_params.get("role", "")
    active = request.query_params.get("active", "")
    rows = await accounts_for(principal, search, role, active)
    # Names of people (households' and volunteers' accounts among them): the listing is audited.
    await audit.record(
        principal,
        "accounts.view",
        "user",
        "list",
        {"q": search, "role": role, "active": active, "shown": len(rows)},
        client_address(request),
    )
    return render(
        request,
        "account/accounts.html",
        {
            "rows": rows,
            "search": search,
            "role": role,
            "active": active,
            "roles": list(Role),
            "can_manage": allows(principal, Action.MANAGE_ACCOUNTS),
            "message": take_flash(request),
        },
        block="results",
    )


async def account_active(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_ACCOUNTS)
    form = await request.form()
    wanted = str(form.get("active", ""))
    if wanted not in ("yes", "no"):
        raise InvalidInput({"active": _("Choose activate or deactivate.")})
    user = await set_user_active(
        principal, request.path_params["user_id"], wanted == "yes", address=client_address(request)
    )
    if user.is_active:
        message = _("{username} is active again and may log in.").format(username=user.username)
    else:
        message = _("{username} is deactivated: signed out everywhere, logins refused.").format(
            username=user.username
        )
    return go(request, "/admin/accounts", message)


async def account_sign_out(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_ACCOUNTS)
    ended = await sign_out_everywhere(
        principal, request.path_params["user_id"], address=client_address(request)
    )
    return go(request, "/admin/accounts", _("Sessions ended: {count}.").format(count=ended))


async def account_reset_link(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.ISSUE_PASSWORD_RESETS)
    settings = request.app.state.settings
    issued = await issue_reset_link(
        principal,
        request.path_params["user_id"],
        settings.secret_key,
        timedelta(seconds=settings.password_reset_seconds),
        address=client_address(request),
    )
    response = render(
        request,
        "account/reset_issued.html",
        {"issued": issued, "link": str(request.base_url).rstrip("/") + issued.path},
    )
    # The link opens the account: keep it out of every cache.
    response.headers["Cache-Control"] = "no-store"
    return response


def _unusable(request: Request, reason: str) -> Response:
    messages = {
        "used": _("This link has been used already. Ask for a new one."),
        "replaced": _("A newer link was issued for this account. Use the newest one, or ask for a new one."),
        "expired": _("This link has expired. Ask for a new one."),
    }
    message = messages.get(
        reason, _("This link is not valid. Check that it was copied whole, or ask for a new one.")
    )
    return render(
        request, "account/reset.html", {"unusable": message}, status_code=410 if reason in messages else 404
    )


async def reset_page(request: Request) -> Response:
    token = request.path_params["token"]
    secret_key = request.app.state.settings.secret_key
    try:
        user = await user_for_reset(secret_key, token)
    except ResetLinkUnusable as unusable:
        return _unusable(request, unusable.reason)
    if request.method == "GET":
        response = render(request, "account/reset.html", {"user": user})
        response.headers["Cache-Control"] = "no-store"
        return response
    form = await request.form()
    try:
        await reset_password(
            secret_key,
            token,
            str(form.get("new_password", "")),
            str(form.get("repeat_password", "")),
            address=client_address(request),
        )
    except ResetLinkUnusable as unusable:
        return _unusable(request, unusable.reason)
    except InvalidInput as invalid:
        return render(
            request, "account/reset.html", {"user": user, "errors": invalid.errors}, status_code=422
        )
    return go(request, "/login", _("Your new password is set. Log in with it."))


routes = [
    Route("/account", my_account, methods=["GET"], name="my_account"),
    Route("/account/password", change_password, methods=["POST"], name="change_password"),
    Route("/account/sessions/end-others", end_other_sessions, methods=["POST"], name="end_other_sessions"),
    Route("/admin/accounts", accounts, methods=["GET"], name="admin_accounts"),
    Route("/admin/accounts/{user_id:int}/active", account_active, methods=["POST"], name="account_active"),
    Route(
        "/admin/accounts/{user_id:int}/sign-out", account_sign_out, methods=["POST"], name="account_sign_out"
    ),
    Route(
        "/admin/accounts/{user_id:int}/reset-link",
        account_reset_link,
        methods=["POST"],
        name="account_reset_link",
    ),
    Route("/reset-password/{token}", reset_page, methods=["GET", "POST"], name="reset_password"),
]
