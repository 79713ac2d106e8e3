"""The notification outbox for coordinators (their region) and administrators (everything): what was
written, to whom, in which channel, and whether it went out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core import audit
from alliance.core.access import Action, require
from alliance.core.codes import NotificationChannel, NotificationStatus
from alliance.notifications.notifications import OutboxFilters, notice_label, outbox_page
from web.auth import client_address, require_principal
from web.params import page_param
from web.templating import render


def _filters(request: Request) -> OutboxFilters:
    params = request.query_params
    status, channel = params.get("status", ""), params.get("channel", "")
    return OutboxFilters(
        status=status if status in NotificationStatus.__members__.values() else "",
        channel=channel if channel in NotificationChannel.__members__.values() else "",
        kind=params.get("kind", "").strip()[:32],
        page=page_param(params),
    )


async def outbox(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.VIEW_NOTIFICATIONS)
    result = await outbox_page(principal, _filters(request))
    if result.rows:
        # Recipients' phone numbers and the messages' text.
        await audit.viewed(
            principal,
            "outbox.view",
            ("notifications", ""),
            notifications=[row.notification_id for row in result.rows],
            details={"notifications": [row.notification_id for row in result.rows]},
            address=client_address(request),
        )
    return render(
        request,
        "notifications/outbox.html",
        {
            "result": result,
            "statuses": list(NotificationStatus),
            "channels": list(NotificationChannel),
            "notice_label": notice_label,
        },
        block="results",
    )


routes = [Route("/outbox", outbox, methods=["GET"], name="outbox")]
