"""Limits that keep a partner from turning the platform against households: each partner API token
has its own rate (a token bucket in Redis, shared by every web process), and claiming and releasing
in a loop to harvest contacts pauses the partner's claims and tells the coordinators."""

from __future__ import annotations

import httpx
import pytest

from alliance.core.access import principal_for
from alliance.core.errors import NotFound
from alliance.core.models import AuditEntry
from alliance.matching.claims import ClaimsPaused, claim_request, lift_claims_pause, release_claim
from alliance.matching.matching import match_all
from alliance.matching.models import ServiceRequest
from alliance.notifications.models import Notification, OutboxJob
from alliance.notifications.notifications import partner_staff
from alliance.partners.models import Partner
from alliance.partners.tokens import create_token_for
from tests.claims_support import add_household_request, build_claim_world
from tests.factories import csrf_from, login


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_a_token_past_its_rate_gets_429_with_retry_after(client, monkeypatch):
    monkeypatch.setenv("ALLIANCE_API_RATE_PER_MINUTE", "6")
    monkeypatch.setenv("ALLIANCE_API_BURST", "3")
    world = await build_claim_world()
    secret = (await create_token_for(world.home.partner.name)).secret
    answers = [await client.get("/api/v1/partner/requests", headers=_bearer(secret)) for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.json()["code"] == "rate_limited"
    assert "at most 6 a minute" in refused.json()["detail"]
    # One token a 10 s at 6 a minute: the client is told to come back then, not sooner.
    assert 1 <= int(refused.headers["retry-after"]) <= 10
    assert refused.headers["cache-control"] == "no-store"
    # Claims and releases draw from the same bucket.
    claim = await client.post(f"/api/v1/partner/requests/{world.request.id}/claim", headers=_bearer(secret))
    assert claim.status_code == 429


async def test_tokens_do_not_share_a_rate(client, monkeypatch):
    monkeypatch.setenv("ALLIANCE_API_BURST", "2")
    world = await build_claim_world()
    first = (await create_token_for(world.home.partner.name, "one")).secret
    second = (await create_token_for(world.home.partner.name, "two")).secret
    rival = (await create_token_for(world.rival.partner.name)).secret
    for _ in range(2):
        assert (await client.get("/api/v1/partner/requests", headers=_bearer(first))).status_code == 200
    assert (await client.get("/api/v1/partner/requests", headers=_bearer(first))).status_code == 429
    assert (await client.get("/api/v1/partner/requests", headers=_bearer(second))).status_code == 200
    assert (await client.get("/api/v1/partner/requests", headers=_bearer(rival))).status_code == 200
    # Bad tokens are refused as such and spend nobody's rate.
    for _ in range(5):
        assert (await client.get("/api/v1/partner/requests", headers=_bearer("alli_nope"))).status_code == 401
    assert (await client.get("/api/v1/partner/requests", headers=_bearer(second))).status_code == 200


async def test_the_rate_is_shared_by_every_web_process(settings, redis, monkeypatch):
    # Two app instances (two web processes) on one Redis draw from the same bucket.
    from web.app import create_app

    monkeypatch.setenv("ALLIANCE_API_BURST", "3")
    world = await build_claim_world()
    secret = (await create_token_for(world.home.partner.name)).secret
    statuses = []
    for _process in range(4):
        application = create_app(settings)
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                answer = await http.get("/api/v1/partner/requests", headers=_bearer(secret))
                statuses.append(answer.status_code)
    assert statuses == [200, 200, 200, 429]


async def _churn_world(requests: int):
    world = await build_claim_world()
    extra = [await add_household_request(world.left, f"churn{index}") for index in range(requests)]
    await match_all(notify=False)
    return world, extra


async def test_claim_release_churn_pauses_claims_and_tells_the_coordinators(monkeypatch):
    monkeypatch.setenv("ALLIANCE_CHURN_RELEASES", "3")
    world, extra = await _churn_world(5)
    dispatcher = await world.home.principal()
    for request in extra[:4]:
        await claim_request(dispatcher, request.id)
        await release_claim(dispatcher, request.id, "户主不在家")
    # The fourth release in the window is past the limit of three: claims are paused.
    partner = await Partner.get(id=world.home.partner.id)
    assert partner.claims_paused_until is not None
    with pytest.raises(ClaimsPaused) as paused:
        await claim_request(dispatcher, extra[4].id)
    assert paused.value.until == partner.claims_paused_until
    assert (await ServiceRequest.get(id=extra[4].id)).status == "open"
    # The coordinator of the partner's district heard of it once, in-app, with a delivery job;
    # the other district's coordinator did not.
    coordinator = world.left.users["coordinator"]
    notices = await Notification.filter(kind="claim_churn")
    assert [notice.user_id for notice in notices] == [coordinator.id]
    assert world.home.partner.name in notices[0].body
    assert (
        await OutboxJob.filter(job_name="deliver_notifications", job_id__startswith="claim-churn:").count()
        == 1
    )
    entry = await AuditEntry.get(action="partner.claims_paused")
    assert entry.object_id == str(world.home.partner.id) and entry.details["releases"] == 4
    # Another partner is not affected.
    await claim_request(await world.rival.principal(), extra[4].id)


async def test_the_regions_coordinator_lifts_a_pause_from_the_partners_page(monkeypatch, client):
    monkeypatch.setenv("ALLIANCE_CHURN_RELEASES", "1")
    world, extra = await _churn_world(3)
    dispatcher = await world.home.principal()
    for request in extra[:2]:
        await claim_request(dispatcher, request.id)
        await release_claim(dispatcher, request.id, "户主不在家")
    partner_id = world.home.partner.id
    # The other district's coordinator does not see this partner at all.
    with pytest.raises(NotFound):
        await lift_claims_pause(await principal_for(world.right.users["coordinator"]), partner_id, "核实过")

    await login(client, world.left.users["coordinator"].username)
    page = await client.get(f"/admin/partners/{partner_id}")
    assert "Lift the pause" in page.text or "解除暂停" in page.text
    token = csrf_from(page.text)
    refused = await client.post(
        f"/admin/partners/{partner_id}/claims-resume", data={"resume_reason": " ", "csrf_token": token}
    )
    assert refused.status_code == 422
    lifted = await client.post(
        f"/admin/partners/{partner_id}/claims-resume",
        data={"resume_reason": "已电话核实", "csrf_token": token},
    )
    assert lifted.status_code in (200, 303)
    assert (await Partner.get(id=partner_id)).claims_paused_until is None
    await claim_request(dispatcher, extra[2].id)
    told = await Notification.filter(kind="claims_resumed").values_list("user_id", flat=True)
    assert set(told) == {user.id for user in await partner_staff(partner_id)}
    entry = await AuditEntry.get(action="partner.claims_resumed")
    assert entry.details["reason"] == "已电话核实"
    history = await client.get(f"/admin/partners/{partner_id}")
    assert "已电话核实" in history.text and "Lift the pause" not in history.text


async def test_releases_within_the_limit_do_not_pause(monkeypatch):
    monkeypatch.setenv("ALLIANCE_CHURN_RELEASES", "3")
    world, extra = await _churn_world(4)
    dispatcher = await world.home.principal()
    for request in extra[:3]:
        await claim_request(dispatcher, request.id)
        await release_claim(dispatcher, request.id, "户主不在家")
    await claim_request(dispatcher, extra[3].id)
    assert (await Partner.get(id=world.home.partner.id)).claims_paused_until is None
    assert not await Notification.filter(kind="claim_churn").exists()


async def test_a_paused_partner_is_refused_on_the_board_and_the_api(client, monkeypatch):
    monkeypatch.setenv("ALLIANCE_CHURN_RELEASES", "1")
    world, extra = await _churn_world(3)
    secret = (await create_token_for(world.home.partner.name)).secret
    for request in extra[:2]:
        claimed = await client.post(f"/api/v1/partner/requests/{request.id}/claim", headers=_bearer(secret))
        assert claimed.status_code == 200
        released = await client.post(
            f"/api/v1/partner/requests/{request.id}/release", json={"reason": "试试"}, headers=_bearer(secret)
        )
        assert released.status_code == 200
    refused = await client.post(f"/api/v1/partner/requests/{extra[2].id}/claim", headers=_bearer(secret))
    assert refused.status_code == 429 and refused.json()["code"] == "claims_paused"
    assert "paused until" in refused.json()["detail"] and int(refused.headers["retry-after"]) > 0
    assert "household" not in refused.json()
    await login(client, world.home.dispatcher.username)
    page = await client.post(
        f"/requests/{extra[2].id}/claim",
        data={"csrf_token": _csrf(client)},
        headers={"HX-Request": "true", "HX-Target": f"request-{extra[2].id}"},
    )
    assert page.status_code == 200 and "paused until" in page.text
    assert (await ServiceRequest.get(id=extra[2].id)).status == "open"


def _csrf(client: httpx.AsyncClient) -> str:
    from tests.factories import session_csrf

    return session_csrf(client)


async def test_a_paused_partner_accepting_a_proposal_is_told_and_claims_nothing(monkeypatch):
    from datetime import timedelta

    from alliance.core.access import principal_for
    from alliance.core.timeutil import utc_now
    from alliance.matching.allocation import decide_item, propose_allocation
    from alliance.matching.models import ProposalItem

    world = await build_claim_world()
    outcome = await propose_allocation(await principal_for(world.left.users["coordinator"]))
    item = await ProposalItem.get(proposal_id=outcome.proposal.id, request_id=world.request.id)
    await Partner.filter(id=item.partner_id).update(claims_paused_until=utc_now() + timedelta(hours=1))
    staff = world.home if item.partner_id == world.home.partner.id else world.rival
    decision = await decide_item(await staff.principal(), item.id, accept=True)
    paused_until = (await Partner.get(id=item.partner_id)).claims_paused_until
    assert not decision.claimed and decision.message == str(ClaimsPaused(paused_until))
    assert (await ServiceRequest.get(id=world.request.id)).status == "open"
