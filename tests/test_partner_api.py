"""The partner API: bearer tokens (shown once, stored hashed, revocable), the matched requests with
the board's privacy and cursor paging, claim and release; the CLI; and the race: many concurrent
claims of one request through HTTP on a real server process, exactly one wins."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys

import httpx
import pytest

from alliance.core.codes import PartnerStatus
from alliance.core.models import AuditEntry, User
from alliance.matching.matching import match_all
from alliance.matching.models import OfferingMonth, ServiceRequest
from alliance.partners.models import Partner, PartnerToken
from alliance.partners.tokens import create_token_for
from tests.claims_support import add_household_request, add_partner, build_claim_world
from tests.conftest import BACKEND, start_live_server, stop_live_server
from tests.factories import login, session_csrf

PII_MARKERS = ("张A", "13812345678", "鹿城区某路1号", "330302195001011234")


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def _secret(name: str) -> str:
    return (await create_token_for(name)).secret


async def test_requests_need_a_valid_unrevoked_token(client):
    world = await build_claim_world()
    assert (await client.get("/api/v1/partner/requests")).status_code == 401
    assert (await client.get("/api/v1/partner/requests", headers=_bearer("alli_nope"))).status_code == 401
    created = await create_token_for(world.home.partner.name)
    assert (await client.get("/api/v1/partner/requests", headers=_bearer(created.secret))).status_code == 200
    await PartnerToken.filter(id=created.token.id).update(revoked_at=created.token.created_at)
    answer = await client.get("/api/v1/partner/requests", headers=_bearer(created.secret))
    assert answer.status_code == 401 and answer.json()["code"] == "unauthorized"
    claim = await client.post(
        f"/api/v1/partner/requests/{world.request.id}/claim", headers=_bearer(created.secret)
    )
    assert claim.status_code == 401


@pytest.mark.parametrize("status", [PartnerStatus.PENDING, PartnerStatus.SUSPENDED, PartnerStatus.CLOSED])
async def test_tokens_of_a_partner_not_approved_are_refused_with_the_reason(client, status):
    world = await build_claim_world()
    other = await create_token_for(world.rival.partner.name)
    assert (await client.get("/api/v1/partner/requests", headers=_bearer(other.secret))).status_code == 200
    await Partner.filter(id=world.rival.partner.id).update(status=status)
    listed = await client.get("/api/v1/partner/requests", headers=_bearer(other.secret))
    assert listed.status_code == 403 and listed.json()["code"] == f"organisation_{status}"
    assert listed.json()["detail"]
    claim = await client.post(
        f"/api/v1/partner/requests/{world.request.id}/claim", headers=_bearer(other.secret)
    )
    assert claim.status_code == 403 and claim.json()["code"] == f"organisation_{status}"
    assert (await ServiceRequest.get(id=world.request.id)).claimed_by_id is None


async def test_suspended_partner_token_answer_says_the_organisation_is_suspended(client):
    world = await build_claim_world()
    secret = await _secret(world.rival.partner.name)
    await Partner.filter(id=world.rival.partner.id).update(status=PartnerStatus.SUSPENDED)
    answer = await client.get(
        "/api/v1/partner/requests", headers={**_bearer(secret), "Accept-Language": "en"}
    )
    assert answer.status_code == 403 and "suspended" in answer.json()["detail"]


async def test_token_of_a_deactivated_creator_stops_and_an_operators_token_does_not(client):
    world = await build_claim_world()
    await login(client, "padminA")
    page = await client.post(
        "/partner/api-tokens", data={"name": "CRM"}, headers={"X-CSRF-Token": session_csrf(client)}
    )
    secret = page.text.split('<code id="new-token">')[1].split("</code>")[0]
    operator = await _secret(world.home.partner.name)
    assert (await client.get("/api/v1/partner/requests", headers=_bearer(secret))).status_code == 200
    await User.filter(username="padminA").update(is_active=False)
    answer = await client.get("/api/v1/partner/requests", headers=_bearer(secret))
    assert answer.status_code == 403 and answer.json()["code"] == "token_creator_deactivated"
    release = await client.post(
        f"/api/v1/partner/requests/{world.request.id}/release",
        headers=_bearer(secret),
        content=json.dumps({"reason": "x"}),
    )
    assert release.status_code == 403
    # A command-line token belongs to no person: it keeps working for the approved partner.
    assert (await client.get("/api/v1/partner/requests", headers=_bearer(operator))).status_code == 200


async def test_requests_are_the_boards_with_the_same_privacy_and_cursor_paging(client):
    world = await build_claim_world()
    extra = [await add_household_request(world.left, f"api{index}") for index in range(4)]
    await match_all(notify=False)
    secret = await _secret(world.home.partner.name)
    seen: list[int] = []
    cursor = ""
    pages = 0
    while True:
        answer = await client.get(
            f"/api/v1/partner/requests?limit=2&cursor={cursor}", headers=_bearer(secret)
        )
        assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
        body = answer.json()
        pages += 1
        seen += [item["request_id"] for item in body["requests"]]
        for marker in PII_MARKERS:
            assert marker not in answer.text
        if not body["next_cursor"]:
            break
        cursor = body["next_cursor"]
    assert pages == 3 and sorted(seen) == sorted([world.request.id] + [request.id for request in extra])
    item = (await client.get("/api/v1/partner/requests?limit=1", headers=_bearer(secret))).json()["requests"][
        0
    ]
    assert set(item) >= {
        "request_id",
        "need",
        "community",
        "flags",
        "member_count",
        "accessibility",
        "distance_band",
        "rank",
    }
    assert not {"distance_km", "score"} & set(item)
    assert not {"head_name", "phone", "address", "id_number"} & set(item)
    assert (await client.get("/api/v1/partner/requests?need=LEGAL_AID", headers=_bearer(secret))).json() == {
        "requests": [],
        "next_cursor": None,
    }
    assert (await client.get("/api/v1/partner/requests?limit=0", headers=_bearer(secret))).status_code == 422
    assert (
        await client.get("/api/v1/partner/requests?need=NOPE", headers=_bearer(secret))
    ).status_code == 422
    assert (
        await client.get("/api/v1/partner/requests?cursor=%%%", headers=_bearer(secret))
    ).status_code == 422
    # The far partner's list never holds the left requests.
    far = await _secret(world.far.partner.name)
    listed = (await client.get("/api/v1/partner/requests", headers=_bearer(far))).json()["requests"]
    assert not {item["request_id"] for item in listed} & set(seen)


async def test_claim_returns_contact_details_to_the_winner_and_409_to_the_others(client):
    world = await build_claim_world()
    home, rival, far = (
        await _secret(world.home.partner.name),
        await _secret(world.rival.partner.name),
        await _secret(world.far.partner.name),
    )
    path = f"/api/v1/partner/requests/{world.request.id}/claim"
    assert (await client.post(path, headers=_bearer(far))).status_code == 404
    won = await client.post(path, headers=_bearer(home))
    assert won.status_code == 200
    body = won.json()
    assert body["household"]["head_name"] == "张A" and body["household"]["phone"] == "13812345678"
    assert body["partner"] == world.home.partner.name and body["status"] == "claimed"
    assert await AuditEntry.filter(
        action="household.contact_view", object_id=str(world.left.household.id)
    ).exists()
    lost = await client.post(path, headers=_bearer(rival))
    assert lost.status_code == 409 and lost.headers["content-type"] == "application/problem+json"
    assert {key: lost.json()[key] for key in ("type", "status", "code", "by", "instance")} == {
        "type": "urn:alliance:problem:already_claimed",
        "status": 409,
        "code": "already_claimed",
        "by": world.home.partner.name,
        "instance": path,
    }
    assert (
        await client.post("/api/v1/partner/requests/999999/claim", headers=_bearer(home))
    ).status_code == 404


async def test_claim_of_a_full_offering_is_capacity_exhausted(client):
    world = await build_claim_world(capacity=1)
    second = await add_household_request(world.left, "full")
    await match_all(notify=False)
    secret = await _secret(world.home.partner.name)
    assert (
        await client.post(f"/api/v1/partner/requests/{world.request.id}/claim", headers=_bearer(secret))
    ).status_code == 200
    full = await client.post(f"/api/v1/partner/requests/{second.id}/claim", headers=_bearer(secret))
    assert full.status_code == 409 and full.json()["code"] == "capacity_exhausted"
    assert (await ServiceRequest.get(id=second.id)).status == "open"


async def test_release_through_the_api_needs_a_reason_and_the_holder(client):
    world = await build_claim_world()
    home, rival = await _secret(world.home.partner.name), await _secret(world.rival.partner.name)
    base = f"/api/v1/partner/requests/{world.request.id}"
    await client.post(f"{base}/claim", headers=_bearer(home))
    assert (
        await client.post(f"{base}/release", json={"reason": ""}, headers=_bearer(home))
    ).status_code == 422
    assert (
        await client.post(f"{base}/release", json={"reason": "x"}, headers=_bearer(rival))
    ).status_code == 404
    released = await client.post(f"{base}/release", json={"reason": "户主拒绝上门"}, headers=_bearer(home))
    assert released.status_code == 200 and released.json() == {
        "request_id": world.request.id,
        "status": "open",
    }
    again = await client.post(f"{base}/release", json={"reason": "再次"}, headers=_bearer(home))
    assert again.status_code == 404  # no longer ours


async def test_partner_admin_creates_a_token_shown_once_and_revokes_it(client):
    world = await build_claim_world()
    await login(client, "padminA")
    page = await client.post(
        "/partner/api-tokens", data={"name": "CRM"}, headers={"X-CSRF-Token": session_csrf(client)}
    )
    assert page.status_code == 200
    secret = page.text.split('<code id="new-token">')[1].split("</code>")[0]
    token = await PartnerToken.get(partner_id=world.home.partner.id)
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest() and token.name == "CRM"
    assert secret not in json.dumps(await PartnerToken.all().values(), default=str)
    assert secret not in (await client.get("/partner/api-tokens")).text  # shown once
    assert (await client.get("/api/v1/partner/requests", headers=_bearer(secret))).status_code == 200
    revoked = await client.post(
        f"/partner/api-tokens/{token.id}/revoke", headers={"X-CSRF-Token": session_csrf(client)}
    )
    assert revoked.status_code == 200
    assert (await client.get("/api/v1/partner/requests", headers=_bearer(secret))).status_code == 401


async def test_dispatchers_and_other_partners_cannot_manage_tokens(app):
    world = await build_claim_world()
    created = await create_token_for(world.home.partner.name)
    for username, expected in (("dispatchA", 403), ("padminB", 404)):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client:
            await login(client, username)
            response = await client.post(
                f"/partner/api-tokens/{created.token.id}/revoke",
                headers={"X-CSRF-Token": session_csrf(client)},
            )
            assert response.status_code == expected, username
    assert (await PartnerToken.get(id=created.token.id)).revoked_at is None


def _cli(servers, *arguments: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, DATABASE_URL=servers.database_url, LOG_LEVEL="warning")
    environment.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_partner_list_and_token_commands(servers, client):
    world = await build_claim_world()
    listed = _cli(servers, "partner", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    partners = json.loads(listed.stdout.strip().splitlines()[-1])
    assert {
        "id": world.rival.partner.id,
        "name": "对手服务社",
        "kind": "service_provider",
        "status": "approved",
    } in partners
    assert all(set(row) == {"id", "name", "kind", "status"} for row in partners)
    by_name = _cli(servers, "partner", "token", "对手服务社")
    by_id = _cli(servers, "partner", "token", str(world.home.partner.id))
    assert by_name.returncode == 0 and by_id.returncode == 0, by_name.stderr + by_id.stderr
    secret = by_name.stdout.strip().splitlines()[-1]
    assert (await client.get("/api/v1/partner/requests", headers=_bearer(secret))).status_code == 200
    assert await PartnerToken.filter(partner_id=world.home.partner.id).count() == 1
    missing = _cli(servers, "partner", "token", "没有这个伙伴")
    assert missing.returncode == 2


async def _race(servers, tmp_path, claims: int, partners: int) -> None:
    """`claims` simultaneous POSTs of one request by `partners` partners' tokens, through a real
    `alliance serve` process: exactly one 200, every other answer a 409 naming the winner."""
    world = await build_claim_world(capacity=5)
    setups = [world.home, world.rival]
    for index in range(partners - 2):
        setups.append(
            await add_partner(f"竞争者{index}", world.left.district, capacity=5, suffix=f"racer{index}")
        )
    await match_all(notify=False)
    secrets = [await _secret(setup.partner.name) for setup in setups]
    server = start_live_server(servers, tmp_path)
    try:
        limits = httpx.Limits(max_connections=claims, max_keepalive_connections=claims)
        async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as http:
            path = f"/api/v1/partner/requests/{world.request.id}/claim"
            answers = await asyncio.gather(
                *(http.post(path, headers=_bearer(secrets[index % len(secrets)])) for index in range(claims))
            )
    finally:
        stop_live_server(server)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [409] * (claims - 1), statuses
    winner = next(answer.json() for answer in answers if answer.status_code == 200)
    assert winner["household"]["head_name"] == "张A"
    conflicts = [answer.json() for answer in answers if answer.status_code == 409]
    assert all((body["code"], body["by"]) == ("already_claimed", winner["partner"]) for body in conflicts)
    months = await OfferingMonth.all().values_list("claimed", flat=True)
    assert all(claimed >= 0 for claimed in months) and sum(months) == 1
    request = await ServiceRequest.get(id=world.request.id).prefetch_related("claimed_by", "transitions")
    assert request.claimed_by.name == winner["partner"] and len(request.transitions) == 1


@pytest.mark.skipif(
    BACKEND != "postgres", reason="the race runs on real PostgreSQL (ALLIANCE_TEST_BACKEND=postgres)"
)
async def test_fifty_concurrent_claims_through_http_exactly_one_wins(servers, tmp_path):
    await _race(servers, tmp_path, claims=50, partners=10)


@pytest.mark.skipif(BACKEND == "postgres", reason="the fifty-claim race above covers PostgreSQL")
async def test_concurrent_claims_through_http_exactly_one_wins_on_sqlite(servers, tmp_path):
    await _race(servers, tmp_path, claims=12, partners=4)
