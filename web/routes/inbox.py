"""The inbox of every role: in-app notices and tasks (alliance/notifications/inbox.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core import audit
from alliance.core.codes import TaskKind
from alliance.core.i18n import gettext as _
from alliance.notifications import inbox as inbox_service
from alliance.notifications.inbox import InboxFilters
from web.auth import client_address, require_principal
from web.flash import go, take_flash
from web.templating import render


def _filters(request: Request) -> InboxFilters:
    params = request.query_params
    show, read, state = params.get("show", ""), params.get("read", ""), params.get("state", "")
    return InboxFilters(
        show=show if show in ("notices", "tasks") else "",
        kind=params.get("kind", "").strip()[:32],
        read=read if read in ("read", "unread") else "",
        state=state if state in ("open", "overdue", "done") else "",
    )


async def inbox(request: Request) -> Response:
    principal = await require_principal(request)
    page = await inbox_service.inbox_page(principal, _filters(request))
    if page.items:
        # Relayed messages name households, their addresses and what to tell them.
        await audit.viewed(
            principal,
            "inbox.view",
            ("user", principal.user_id),
            households=page.household_ids,
            notifications=[item.id for item in page.items if item.type == "notice"],
            address=client_address(request),
        )
    return render(
        request,
        "inbox/inbox.html",
        {"inbox": page, "task_kinds": list(TaskKind), "flash": take_flash(request)},
        block="results",
    )


def _back(request: Request) -> str:
    query = request.url.query
    return "/inbox" + (f"?{query}" if query else "")


async def read_notice(request: Request) -> Response:
    principal = await require_principal(request)
    await inbox_service.mark_read(principal, request.path_params["notification_id"])
    return go(request, _back(request), _("Marked as read."))


async def read_all(request: Request) -> Response:
    principal = await require_principal(request)
    count = await inbox_service.mark_all_read(principal)
    return go(request, "/inbox", _("{count} notices marked as read.").format(count=count))


async def task_done(request: Request) -> Response:
    principal = await require_principal(request)
    await inbox_service.mark_task_done(principal, request.path_params["task_id"])
    return go(request, _back(request), _("Task done."))


routes = [
    Route("/inbox", inbox, methods=["GET"], name="inbox"),
    Route("/inbox/notices/{notification_id:int}/read", read_notice, methods=["POST"], name="inbox_read"),
    Route("/inbox/read-all", read_all, methods=["POST"], name="inbox_read_all"),
    Route("/inbox/tasks/{task_id:int}/done", task_done, methods=["POST"], name="inbox_task_done"),
]
