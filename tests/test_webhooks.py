"""Signed webhooks (issue 22, item 3): a partner registers an HTTPS endpoint, events reach it signed
through the outbox and a real arq worker, failures are retried with backoff and given up after the
last attempt, a delivery can be sent again, a delivery a killed worker left behind is sent again,
and no payload carries a household's personal data."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alliance.core.access import principal_for
from alliance.core.codes import PartnerStatus
from alliance.core.errors import InvalidInput, NotFound, PermissionDenied
from alliance.core.timeutil import utc_now
from alliance.households.models import Household
from alliance.notifications.models import OutboxJob
from alliance.partners import webhooks
from alliance.partners.models import Partner, WebhookDelivery
from alliance.visits.household_responses import respond_on_behalf
from tests.claims_support import build_claim_world
from tests.factories import build_two_sides, login, session_csrf
from tests.reminders_support import relay_all
from tests.visits_support import scheduled_visit_for


class Receiver:
    """A partner's endpoint on this machine: records every POST and answers with `status`."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the standard library's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append(({key.lower(): value for key, value in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setenv("ALLIANCE_WEBHOOK_ALLOW_INSECURE", "1")
    found = Receiver()
    yield found
    found.close()


def verified(secret: str, headers: dict[str, str], body: bytes) -> bool:
    parts = dict(part.split("=", 1) for part in headers["alliance-signature"].split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def test_only_https_to_a_public_host_is_accepted(monkeypatch):
    monkeypatch.delenv("ALLIANCE_WEBHOOK_ALLOW_INSECURE", raising=False)
    assert webhooks.url_problem("https://crm.example.com/hook") is None
    for refused in (
        "http://crm.example.com/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://localhost/hook",
        "https://user:pw@crm.example.com/",
        "ftp://crm.example.com/",
        "",
    ):
        assert webhooks.url_problem(refused), refused


async def test_a_name_that_resolves_to_a_private_address_is_never_connected_to(monkeypatch):
    monkeypatch.delenv("ALLIANCE_WEBHOOK_ALLOW_INSECURE", raising=False)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        # The check is on the addresses the name gives at connection time, not on the name.
        with pytest.raises(webhooks.PrivateAddress):
            await webhooks._PublicOnlyBackend().connect_tcp("localhost", port)
        host = socket.gethostname()
        if any(ipaddress.ip_address(entry[4][0]).is_global for entry in socket.getaddrinfo(host, port)):
            pytest.skip(f"{host} resolves to a public address here")
        # A partner's endpoint named by a host name passes the form's check (a name is not an
        # address) and is refused when the worker delivers: the receiver is never reached.
        side, _right, _admin = await build_two_sides()
        admin = await principal_for(side.users["partner_admin"])
        url = f"https://{host}:{port}/hook"
        assert webhooks.url_problem(url) is None
        endpoint, _secret = await webhooks.create_endpoint(admin, url, ["claim.changed"])
        delivery = await webhooks.send_test(admin, endpoint.id)
        listener.settimeout(0.5)
        attempt = await webhooks.deliver(delivery.id)
        assert attempt is not None and attempt.state == webhooks.DeliveryState.RETRYING
        stored = await WebhookDelivery.get(id=delivery.id)
        assert "private address" in stored.last_error
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()


async def test_a_household_answer_reaches_the_partner_signed_and_without_personal_data(
    receiver, servers, arq_worker
):
    world = await build_claim_world()
    admin = await principal_for(world.home.admin)
    endpoint, secret = await webhooks.create_endpoint(
        admin, receiver.url, ["visit.answered", "claim.changed"]
    )
    visit = await scheduled_visit_for(world.left, "回应")
    worker = await principal_for(world.left.users["community_worker"])

    await respond_on_behalf(worker, visit.id, "declined", "家里人已经安排")
    # Only the webhook jobs: the visit's reminders wait for days (a burst worker would wait with them).
    planned = await OutboxJob.filter(job_name="deliver_webhook").values_list("job_id", flat=True)
    assert len(planned) == 2
    await relay_all(servers.redis_url, job_ids=planned)
    await arq_worker.main()

    events = {headers["alliance-event"]: (headers, body) for headers, body in receiver.received}
    assert set(events) == {"visit.answered", "claim.changed"}
    headers, body = events["visit.answered"]
    assert verified(secret, headers, body)
    payload = json.loads(body)
    assert payload["data"]["visit_id"] == visit.id and payload["data"]["answer"] == "declined"
    assert payload["id"] == headers["alliance-delivery"]
    household = await Household.get(requests__id=visit.request_id)
    for _headers, raw in receiver.received:
        text = raw.decode()
        for personal in (
            household.phone,
            household.id_number,
            household.head_name,
            household.address,
            "家里人已经安排",
        ):
            assert personal not in text
    assert await WebhookDelivery.filter(endpoint_id=endpoint.id, state="delivered").count() == 2
    assert not verified("whsec_other", headers, body)


async def test_failures_back_off_then_give_up_and_a_resend_is_a_new_delivery(receiver):
    world = await build_claim_world()
    admin = await principal_for(world.home.admin)
    endpoint, _secret = await webhooks.create_endpoint(admin, receiver.url, ["claim.changed"])
    receiver.status = 500
    delivery = await webhooks.send_test(admin, endpoint.id)

    first = await webhooks.deliver(delivery.id)
    row = await WebhookDelivery.get(id=delivery.id)
    assert first.state == "retrying" and row.attempts == 1 and row.last_status == 500
    assert timedelta(seconds=25) < row.next_attempt_at - utc_now() <= timedelta(seconds=30)
    planned = await OutboxJob.get(job_id=f"webhook:{delivery.id}:1")
    assert planned.defer_until == row.next_attempt_at
    for _ in range(webhooks.MAX_ATTEMPTS - 1):
        await webhooks.deliver(delivery.id)
    row = await WebhookDelivery.get(id=delivery.id)
    assert (row.state, row.attempts) == ("dead", webhooks.MAX_ATTEMPTS)
    assert await webhooks.deliver(delivery.id) is None  # given up: nothing more is sent
    assert len(receiver.received) == webhooks.MAX_ATTEMPTS

    receiver.status = 204
    again = await webhooks.resend(admin, delivery.id)
    assert again.id != delivery.id
    assert (await webhooks.deliver(again.id)).state == "delivered"
    assert receiver.received[-1][0]["alliance-delivery"] == str(again.id)


async def test_a_delivery_left_leased_by_a_killed_worker_is_sent_again_with_its_id(receiver):
    world = await build_claim_world()
    admin = await principal_for(world.home.admin)
    endpoint, _secret = await webhooks.create_endpoint(admin, receiver.url, ["claim.changed"])
    delivery = await webhooks.send_test(admin, endpoint.id)
    # A worker took the lease and died before (or after) its POST: the lease holds others off...
    await WebhookDelivery.filter(id=delivery.id).update(
        state="sending", lease_until=utc_now() + timedelta(seconds=40)
    )
    assert await webhooks.deliver(delivery.id) is None
    assert receiver.received == []
    # ...until it ends; the sweep plans it again and the next attempt sends it, same delivery id.
    later = utc_now() + timedelta(minutes=1)
    assert await webhooks.sweep(now=later) == 1
    assert await OutboxJob.filter(job_id__startswith=f"webhook:{delivery.id}:0:swept").exists()
    assert (await webhooks.deliver(delivery.id, now=later)).state == "delivered"
    assert [headers["alliance-delivery"] for headers, _body in receiver.received] == [str(delivery.id)]


async def test_endpoints_are_the_partner_admins_and_a_withdrawn_partner_hears_nothing(receiver, client):
    left, right, _admin = await build_two_sides()
    ours = await principal_for(left.users["partner_admin"])
    endpoint, _secret = await webhooks.create_endpoint(ours, receiver.url, ["match.new"])
    with pytest.raises(InvalidInput):
        await webhooks.create_endpoint(ours, receiver.url, ["no.such.event"])
    with pytest.raises(PermissionDenied):
        await webhooks.create_endpoint(
            await principal_for(left.users["dispatcher"]), receiver.url, ["match.new"]
        )
    with pytest.raises(NotFound):
        await webhooks.rotate_secret(await principal_for(right.users["partner_admin"]), endpoint.id)

    assert await webhooks.emit(left.partner.id, webhooks.WebhookEvent.MATCH_NEW, {"new_matches": 1})
    await Partner.filter(id=left.partner.id).update(status=PartnerStatus.SUSPENDED)
    assert await webhooks.emit(left.partner.id, webhooks.WebhookEvent.MATCH_NEW, {"new_matches": 1}) == []

    await Partner.filter(id=left.partner.id).update(status=PartnerStatus.APPROVED)
    await login(client, left.users["partner_admin"].username)
    page = await client.get("/partner/webhooks")
    assert page.status_code == 200 and receiver.url in page.text
    made = await client.post(
        "/partner/webhooks",
        data={"csrf_token": session_csrf(client), "url": "http://", "event_types": ["match.new"]},
    )
    assert made.status_code == 422 and 'aria-invalid="true"' in made.text
    detail = await client.get(f"/partner/webhooks/{endpoint.id}")
    assert detail.status_code == 200
    assert (
        f"/partner/webhooks/deliveries/{(await WebhookDelivery.get(endpoint_id=endpoint.id)).id}/resend"
        in detail.text
    )
