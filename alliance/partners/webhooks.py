"""Signed webhooks: a partner's systems are told of what concerns them instead of polling.

A partner administrator registers HTTPS endpoints, each for some event types. An event writes one
`WebhookDelivery` per subscribed endpoint, and a job in the transactional outbox, in the transaction
of the change (`emit`): a crash before the commit sends nothing, one after it loses nothing. The
worker's `deliver_webhook` job takes a lease on the delivery, POSTs it signed, and records the
answer: delivered on 2xx; otherwise retried with backoff (30 s, 2, 8, 32 minutes, 2 hours) and dead
after MAX_ATTEMPTS. Every delivery carries its id (`Alliance-Delivery`), the receiver's key to drop a
duplicate (a worker killed after the POST and before recording it sends it once more).

The signature: `Alliance-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
like the intake API's. Payloads carry ids, codes and times only — never a household's name, phone,
ID number or address (a partner reads those on its pages, audited, once it holds the request).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, require, visible
from alliance.core.audit import record
from alliance.core.codes import PartnerStatus
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import utc_now
from alliance.notifications import outbox
from alliance.partners.models import Partner, WebhookDelivery, WebhookEndpoint


class WebhookEvent(StrEnum):
    MATCH_NEW = "match.new"  # new requests matched to the partner's offerings (a count)
    CLAIM_CHANGED = "claim.changed"  # a claim transferred, moved, expired or closed by someone else
    VISIT_ANSWERED = "visit.answered"  # the household confirmed, asked to move or declined a visit
    REGISTRATION_CHANGED = "registration.changed"  # a registration for the partner's event
    PING = "ping"  # the "send a test event" button


EVENT_TYPES: tuple[WebhookEvent, ...] = (
    WebhookEvent.MATCH_NEW,
    WebhookEvent.CLAIM_CHANGED,
    WebhookEvent.VISIT_ANSWERED,
    WebhookEvent.REGISTRATION_CHANGED,
)
MAX_ATTEMPTS = 6
LEASE = timedelta(seconds=45)
TIMEOUT_SECONDS = 10.0
MAX_ENDPOINTS = 10


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    DEAD = "dead"


def backoff(attempts: int) -> timedelta:
    """The wait after the n-th failed attempt: 30 s, 2, 8, 32 minutes, 2 h 8 min."""
    return timedelta(seconds=30 * 4 ** max(0, attempts - 1))


def _insecure_allowed() -> bool:
    # Development and tests only: plain http and local addresses (a receiver on the same machine).
    return os.environ.get("ALLIANCE_WEBHOOK_ALLOW_INSECURE") == "1"


def url_problem(url: str) -> str | None:
    """Why this URL cannot receive webhooks (None: it can): HTTPS to a public host."""
    url = url.strip()
    if not url or len(url) > 500:
        return _("Give the endpoint's address (at most 500 characters).")
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and _insecure_allowed()):
        return _("The address must start with https://.")
    if not parts.hostname or parts.username or parts.password:
        return _("The address needs a host name and no user name or password.")
    if _insecure_allowed():
        return None
    host = parts.hostname.lower()
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return _("The address must be reachable on the internet, not a local name.")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if not address.is_global:
        return _("The address must be reachable on the internet, not a private address.")
    return None


class PrivateAddress(httpcore.ConnectError):
    """The endpoint's host name resolved to an address that is not on the internet."""


class _PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    """Connects only to public addresses. The name is resolved here, every address it gives is
    checked, and the connection goes to the checked address itself, so a name that changes its
    answer between a check and the connection (DNS rebinding) cannot reach the private network; TLS
    still verifies the certificate against the host name (httpcore passes it as server_hostname)."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            found = await asyncio.get_running_loop().getaddrinfo(host, port, type=0, proto=6)
        except OSError as failure:
            raise httpcore.ConnectError(f"cannot resolve {host}: {failure}") from failure
        addresses = sorted({entry[4][0] for entry in found})
        refused = [
            address for address in addresses if not ipaddress.ip_address(address.split("%")[0]).is_global
        ]
        if not addresses or refused:
            raise PrivateAddress(f"{host} resolves to a private address ({', '.join(refused)})")
        return await self._inner.connect_tcp(
            addresses[0], port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _public_only_transport() -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport()
    # httpx builds its pool without a way to pass a network backend; the pool is replaced by the
    # same one with ours (tests/test_webhooks.py proves a private address is refused through it).
    transport._pool = httpcore.AsyncConnectionPool(  # noqa: SLF001
        ssl_context=httpx.create_ssl_context(), network_backend=_PublicOnlyBackend()
    )
    return transport


def _event_types(chosen: list[str] | tuple[str, ...]) -> list[str]:
    known = {event.value for event in EVENT_TYPES}
    picked = [event.value for event in EVENT_TYPES if event.value in set(chosen)]
    if not picked or set(chosen) - known:
        raise InvalidInput({"event_types": _("Choose at least one of the listed events.")})
    return picked


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


async def endpoints_of(principal: Principal) -> list[WebhookEndpoint]:
    return await visible(principal, Action.MANAGE_WEBHOOKS).order_by("-active", "id")


async def create_endpoint(
    principal: Principal, url: str, event_types: list[str]
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint of the principal's partner; returns it with its secret (shown once)."""
    require(principal, Action.MANAGE_WEBHOOKS)
    errors: dict[str, str] = {}
    problem = url_problem(url)
    if problem:
        errors["url"] = problem
    try:
        chosen = _event_types(event_types)
    except InvalidInput as invalid:
        errors.update(invalid.errors)
    if principal.partner_id is None:
        errors["url"] = _("Only partner staff register webhooks.")
    elif await WebhookEndpoint.filter(partner_id=principal.partner_id).count() >= MAX_ENDPOINTS:
        errors["url"] = _("At most {count} endpoints per organisation.").format(count=MAX_ENDPOINTS)
    if errors:
        raise InvalidInput(errors)
    secret = _new_secret()
    async with in_transaction():
        endpoint = await WebhookEndpoint.create(
            partner_id=principal.partner_id,
            url=url.strip(),
            event_types=chosen,
            secret=secret,
            created_by_id=principal.user_id,
        )
        await record(
            principal,
            "webhook.create",
            "webhook_endpoint",
            endpoint.id,
            {"url": endpoint.url, "events": chosen},
        )
    return endpoint, secret


async def update_endpoint(
    principal: Principal, endpoint_id: int, url: str, event_types: list[str], active: bool
) -> WebhookEndpoint:
    endpoint = await get_visible(principal, Action.MANAGE_WEBHOOKS, endpoint_id)
    errors: dict[str, str] = {}
    problem = url_problem(url)
    if problem:
        errors["url"] = problem
    try:
        chosen = _event_types(event_types)
    except InvalidInput as invalid:
        errors.update(invalid.errors)
    if errors:
        raise InvalidInput(errors)
    async with in_transaction():
        endpoint.url, endpoint.event_types, endpoint.active = url.strip(), chosen, active
        await endpoint.save()
        await record(
            principal,
            "webhook.update",
            "webhook_endpoint",
            endpoint.id,
            {"url": endpoint.url, "events": chosen, "active": active},
        )
    return endpoint


async def rotate_secret(principal: Principal, endpoint_id: int) -> str:
    endpoint = await get_visible(principal, Action.MANAGE_WEBHOOKS, endpoint_id)
    secret = _new_secret()
    async with in_transaction():
        await WebhookEndpoint.filter(id=endpoint.id).update(secret=secret)
        await record(principal, "webhook.rotate_secret", "webhook_endpoint", endpoint.id, {})
    return secret


async def delete_endpoint(principal: Principal, endpoint_id: int) -> None:
    endpoint = await get_visible(principal, Action.MANAGE_WEBHOOKS, endpoint_id)
    async with in_transaction():
        await record(principal, "webhook.delete", "webhook_endpoint", endpoint.id, {"url": endpoint.url})
        await endpoint.delete()


async def _plan(delivery: WebhookDelivery, at: datetime | None = None) -> None:
    await outbox.add_job(
        "deliver_webhook", delivery.id, job_id=f"webhook:{delivery.id}:{delivery.attempts}", defer_until=at
    )


async def emit(partner_id: int | None, event: WebhookEvent, data: dict[str, Any]) -> list[int]:
    """Plan the event for every active endpoint of the partner that subscribed to it. Call it inside
    the transaction of the change; `data` holds ids, codes and times only."""
    if partner_id is None:
        return []
    # A partner that is not approved (pending, suspended, closed) is told nothing (docs/security.md).
    if not await Partner.filter(id=partner_id, status=PartnerStatus.APPROVED).exists():
        return []
    created = []
    for endpoint in await WebhookEndpoint.filter(partner_id=partner_id, active=True):
        if event.value not in endpoint.event_types:
            continue
        delivery = await WebhookDelivery.create(endpoint_id=endpoint.id, event_type=event.value, payload=data)
        await _plan(delivery)
        created.append(delivery.id)
    return created


async def send_test(principal: Principal, endpoint_id: int) -> WebhookDelivery:
    """A `ping` event to the endpoint, whatever it subscribed to (the page's test button)."""
    endpoint = await get_visible(principal, Action.MANAGE_WEBHOOKS, endpoint_id)
    async with in_transaction():
        delivery = await WebhookDelivery.create(
            endpoint_id=endpoint.id,
            event_type=WebhookEvent.PING.value,
            payload={"partner_id": endpoint.partner_id},
        )
        await _plan(delivery)
    return delivery


async def resend(principal: Principal, delivery_id: int) -> WebhookDelivery:
    """Send a logged delivery again, as a new delivery with the same event (the receiver sees a new id)."""
    require(principal, Action.MANAGE_WEBHOOKS)
    old = await WebhookDelivery.get_or_none(id=delivery_id)
    if old is None:
        raise NotFound(f"delivery {delivery_id}")
    endpoint = await get_visible(principal, Action.MANAGE_WEBHOOKS, old.endpoint_id)  # type: ignore[attr-defined]
    async with in_transaction():
        delivery = await WebhookDelivery.create(
            endpoint_id=endpoint.id, event_type=old.event_type, payload=old.payload
        )
        await _plan(delivery)
        await record(principal, "webhook.resend", "webhook_endpoint", endpoint.id, {"delivery": old.id})
    return delivery


async def deliveries_of(principal: Principal, endpoint_id: int, limit: int = 50) -> list[WebhookDelivery]:
    endpoint = await get_visible(principal, Action.MANAGE_WEBHOOKS, endpoint_id)
    return await WebhookDelivery.filter(endpoint_id=endpoint.id).order_by("-id").limit(limit)


def body_of(delivery: WebhookDelivery) -> bytes:
    return json.dumps(
        {
            "id": str(delivery.id),
            "type": delivery.event_type,
            "created_at": delivery.created_at.isoformat(),
            "data": delivery.payload,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


@dataclass
class Attempt:
    state: str
    status: int | None = None


async def deliver(delivery_id: int, *, now: datetime | None = None, transport: Any = None) -> Attempt | None:
    """One attempt (the worker's job). None when another worker holds the delivery or it is done."""
    now = now or utc_now()
    taken = await WebhookDelivery.filter(
        Q(state__in=[DeliveryState.PENDING, DeliveryState.RETRYING])
        | Q(state=DeliveryState.SENDING, lease_until__lt=now),
        id=delivery_id,
    ).update(state=DeliveryState.SENDING, lease_until=now + LEASE)
    if not taken:
        return None
    delivery = await WebhookDelivery.get(id=delivery_id).prefetch_related("endpoint")
    endpoint = delivery.endpoint
    status: int | None = None
    error = ""
    if not endpoint.active or url_problem(endpoint.url):
        error = "endpoint switched off" if not endpoint.active else "endpoint address refused"
    else:
        body = body_of(delivery)
        stamp = int(time.time())
        try:
            if transport is None and not _insecure_allowed():
                transport = _public_only_transport()
            async with httpx.AsyncClient(
                timeout=TIMEOUT_SECONDS, follow_redirects=False, transport=transport
            ) as client:
                answer = await client.post(
                    endpoint.url,
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        "User-Agent": "Alliance-Webhooks/1",
                        "Alliance-Event": delivery.event_type,
                        "Alliance-Delivery": str(delivery.id),
                        "Alliance-Signature": sign(endpoint.secret, stamp, body),
                    },
                )
            status = answer.status_code
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"[:255]
    attempts = delivery.attempts + 1
    if status is not None and 200 <= status < 300:
        await WebhookDelivery.filter(id=delivery.id).update(
            state=DeliveryState.DELIVERED,
            attempts=attempts,
            last_status=status,
            last_error="",
            delivered_at=utc_now(),
            lease_until=None,
        )
        return Attempt(DeliveryState.DELIVERED, status)
    if status is not None:
        error = f"HTTP {status}"
    if attempts >= MAX_ATTEMPTS or not endpoint.active:
        await WebhookDelivery.filter(id=delivery.id).update(
            state=DeliveryState.DEAD,
            attempts=attempts,
            last_status=status,
            last_error=error,
            lease_until=None,
        )
        return Attempt(DeliveryState.DEAD, status)
    later = utc_now() + backoff(attempts)
    async with in_transaction():
        await WebhookDelivery.filter(id=delivery.id).update(
            state=DeliveryState.RETRYING,
            attempts=attempts,
            last_status=status,
            last_error=error,
            next_attempt_at=later,
            lease_until=None,
        )
        delivery.attempts = attempts
        await _plan(delivery, later)
    return Attempt(DeliveryState.RETRYING, status)


async def sweep(*, now: datetime | None = None) -> int:
    """Plan again the deliveries a killed worker left leased, or whose planned retry was lost."""
    now = now or utc_now()
    stuck = await WebhookDelivery.filter(
        Q(state=DeliveryState.SENDING, lease_until__lt=now)
        | Q(state=DeliveryState.RETRYING, next_attempt_at__lt=now - timedelta(minutes=5))
        | Q(state=DeliveryState.PENDING, created_at__lt=now - timedelta(minutes=5))
    ).limit(1000)
    for delivery in stuck:
        await outbox.add_job(
            "deliver_webhook",
            delivery.id,
            job_id=f"webhook:{delivery.id}:{delivery.attempts}:swept:{int(now.timestamp())}",
        )
    return len(stuck)
