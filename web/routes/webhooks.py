"""A partner administrator's webhook endpoints: register, edit, test, rotate the secret, remove, and
read the delivery log with re-send (alliance/partners/webhooks.py, docs/webhooks.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core.access import Action, get_visible, require
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.partners import webhooks
from alliance.partners.models import WebhookDelivery
from web.auth import require_principal
from web.flash import go, take_flash
from web.jobs import relay_outbox
from web.templating import render


async def _planned(request: Request, delivery: WebhookDelivery) -> None:
    # The delivery's outbox job goes to the queue now rather than at the relay's next run.
    await relay_outbox(request.app, [f"webhook:{delivery.id}:0"])


async def endpoints(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_WEBHOOKS)
    errors: dict[str, str] = {}
    values = {"url": "", "event_types": [event.value for event in webhooks.EVENT_TYPES]}
    secret = None
    created = None
    status_code = 200
    if request.method == "POST":
        form = await request.form()
        values = {
            "url": str(form.get("url", "")),
            "event_types": [str(value) for value in form.getlist("event_types")],
        }
        try:
            created, secret = await webhooks.create_endpoint(principal, values["url"], values["event_types"])
        except InvalidInput as invalid:
            errors, status_code = invalid.errors, 422
        else:
            values = {"url": "", "event_types": [event.value for event in webhooks.EVENT_TYPES]}
    return render(
        request,
        "partner/webhooks.html",
        {
            "endpoints": await webhooks.endpoints_of(principal),
            "event_types": webhooks.EVENT_TYPES,
            "values": values,
            "errors": errors,
            "secret": secret,
            "created": created,
            "message": take_flash(request),
        },
        status_code=status_code,
    )


async def endpoint_page(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_WEBHOOKS)
    endpoint_id = request.path_params["endpoint_id"]
    endpoint = await get_visible(principal, Action.MANAGE_WEBHOOKS, endpoint_id)
    errors: dict[str, str] = {}
    secret = None
    status_code = 200
    if request.method == "POST":
        form = await request.form()
        action = str(form.get("action", "save"))
        if action == "test":
            await _planned(request, await webhooks.send_test(principal, endpoint.id))
            return go(
                request,
                f"/partner/webhooks/{endpoint.id}",
                _("A test event is on its way; its delivery shows below."),
            )
        if action == "delete":
            await webhooks.delete_endpoint(principal, endpoint.id)
            return go(request, "/partner/webhooks", _("The endpoint is removed; nothing more is sent to it."))
        if action == "rotate":
            secret = await webhooks.rotate_secret(principal, endpoint.id)
        else:
            try:
                endpoint = await webhooks.update_endpoint(
                    principal,
                    endpoint.id,
                    str(form.get("url", "")),
                    [str(value) for value in form.getlist("event_types")],
                    form.get("active") == "on",
                )
            except InvalidInput as invalid:
                errors, status_code = invalid.errors, 422
            else:
                return go(request, f"/partner/webhooks/{endpoint.id}", _("Endpoint saved."))
    return render(
        request,
        "partner/webhook.html",
        {
            "endpoint": endpoint,
            "event_types": webhooks.EVENT_TYPES,
            "deliveries": await webhooks.deliveries_of(principal, endpoint.id),
            "errors": errors,
            "secret": secret,
            "max_attempts": webhooks.MAX_ATTEMPTS,
            "message": take_flash(request),
        },
        status_code=status_code,
    )


async def resend(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_WEBHOOKS)
    delivery_id = request.path_params["delivery_id"]
    old = await WebhookDelivery.get_or_none(id=delivery_id)
    if old is None:
        raise NotFound(f"delivery {delivery_id}")
    await _planned(request, await webhooks.resend(principal, old.id))
    return go(
        request,
        f"/partner/webhooks/{old.endpoint_id}",  # type: ignore[attr-defined]
        _("Delivery {id} is sent again as a new delivery.").format(id=old.id),
    )


routes = [
    Route("/partner/webhooks", endpoints, methods=["GET", "POST"], name="partner_webhooks"),
    Route(
        "/partner/webhooks/{endpoint_id:int}", endpoint_page, methods=["GET", "POST"], name="partner_webhook"
    ),
    Route(
        "/partner/webhooks/deliveries/{delivery_id:int}/resend",
        resend,
        methods=["POST"],
        name="partner_webhook_resend",
    ),
]
