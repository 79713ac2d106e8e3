"""Graded authorization: every route, walked by users of another region or partner, refuses."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from starlette.routing import Mount, Route

from alliance.access import Action, principal_for, visible
from alliance.allocation import propose_allocation
from alliance.matching import match_all
from alliance.models import (
    Household,
    Offering,
    Partner,
    PartnerToken,
    ProposalItem,
    ServiceRequest,
    TransferRequest,
)
from alliance.partner_tokens import create_token_for
from alliance.partners import OfferingForm, save_offering
from alliance.timeutil import utc_now
from tests.factories import build_two_sides, login, session_csrf
from tests.intake_support import intake_batch_for

PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("POST", "/language"),
    ("GET", "/healthz"),
    ("GET", "/"),
    # Signed by the assistance system (HMAC), no session: tests/test_intake_api.py walks them.
    ("POST", "/api/v1/intake/households"),
    ("GET", "/api/v1/intake/households/{external_id}"),
    # Bearer-token partner API, no session: tests/test_partner_api.py walks them.
    ("GET", "/api/v1/partner/requests"),
    ("POST", "/api/v1/partner/requests/{request_id:int}/claim"),
    ("POST", "/api/v1/partner/requests/{request_id:int}/release"),
}
# Routes that act on one object of side A: any user of side B is refused (403 or 404).
OBJECT_ROUTES = {
    ("GET", "/households/{household_id:int}"),
    ("GET", "/partner/offerings/{offering_id:int}/edit"),
    ("POST", "/partner/offerings/{offering_id:int}/edit"),
    ("POST", "/admin/partners/{partner_id:int}/status"),
    ("GET", "/intake/batches/{batch_id:int}"),
    ("GET", "/intake/batches/{batch_id:int}/rejected.csv"),
    ("POST", "/intake/duplicates/{household_id:int}/merge"),
    ("POST", "/intake/duplicates/{household_id:int}/dismiss"),
    ("GET", "/matching/proposals/{proposal_id:int}"),
    ("POST", "/partner/proposals/{item_id:int}/accept"),
    ("POST", "/partner/proposals/{item_id:int}/decline"),
    ("GET", "/requests/{request_id:int}"),
    ("POST", "/requests/{request_id:int}/claim"),
    ("POST", "/requests/{request_id:int}/release"),
    ("POST", "/requests/{request_id:int}/close"),
    ("POST", "/requests/{request_id:int}/assign"),
    ("POST", "/requests/{request_id:int}/transfer"),
    ("POST", "/transfers/{transfer_id:int}/decide"),
    ("POST", "/partner/api-tokens/{token_id:int}/revoke"),
}
# Routes that list or show "my own": side B may open them but must never see side A's data in them.
SCOPED_PAGES = {
    ("GET", "/households"),
    ("GET", "/admin/partners"),
    ("GET", "/partner"),
    ("GET", "/partner/offerings"),
    ("GET", "/partner/offerings/new"),
    ("GET", "/volunteer"),
    ("GET", "/my-household"),
    ("GET", "/intake"),
    ("GET", "/intake/duplicates"),
    ("GET", "/matching/gaps"),
    ("GET", "/matching/proposals"),
    ("GET", "/partner/proposals"),
    ("GET", "/board"),
    ("GET", "/board/claims"),
    ("GET", "/requests"),
    ("GET", "/partner/api-tokens"),
}
# Alliance-wide settings: administrators only.
ADMIN_ONLY = {("GET", "/admin/need-rules"), ("POST", "/admin/need-rules")}
# Writes that only ever touch the writer's own partner.
# (A proposal is computed for the writer's own region only.)
SELF_WRITES = {
    ("POST", "/partner"),
    ("POST", "/partner/offerings/new"),
    ("POST", "/matching/proposals"),
    ("POST", "/partner/api-tokens"),
}


def _app_routes(app) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        if isinstance(route, Mount):
            continue
        assert isinstance(route, Route)
        for method in route.methods or []:
            if method != "HEAD":
                found.add((method, route.path))
    return found


def test_every_route_is_in_the_permission_walk(app):
    listed = PUBLIC | OBJECT_ROUTES | SCOPED_PAGES | SELF_WRITES | ADMIN_ONLY
    missing = _app_routes(app) - listed
    assert not missing, f"routes not covered by the permission walk: {sorted(missing)}"


@pytest.fixture
async def world(app):
    left, right, admin = await build_two_sides()
    for side in (left, right):
        principal = await principal_for(side.users["partner_admin"])
        side.offering = await save_offering(
            principal,
            OfferingForm(
                title=f"上门照护{side.partner.name}",
                need="HOME_CARE",
                region_codes=(side.district,),
                monthly_capacity="10",
            ),
        )
        side.batch = await intake_batch_for(side.community)
    await match_all()
    for side in (left, right):
        outcome = await propose_allocation(await principal_for(side.users["coordinator"]))
        side.proposal = outcome.proposal
        side.item = await ProposalItem.get(proposal_id=outcome.proposal.id)
        side.request = await ServiceRequest.get(household_id=side.household.id)
        side.transfer = await TransferRequest.create(
            request_id=side.request.id,
            from_partner_id=side.partner.id,
            to_partner_id=side.partner.id,
            reason="walk",
            due_at=utc_now() + timedelta(hours=36),
        )
        side.token = (await create_token_for(side.partner.name)).token
    return left, right, admin


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def _fill(path: str, side) -> str:
    return (
        path.replace("{household_id:int}", str(side.household.id))
        .replace("{offering_id:int}", str(side.offering.id))
        .replace("{partner_id:int}", str(side.partner.id))
        .replace("{batch_id:int}", str(side.batch))
        .replace("{proposal_id:int}", str(side.proposal.id))
        .replace("{item_id:int}", str(side.item.id))
        .replace("{request_id:int}", str(side.request.id))
        .replace("{transfer_id:int}", str(side.transfer.id))
        .replace("{token_id:int}", str(side.token.id))
    )


async def _call(client: httpx.AsyncClient, method: str, path: str) -> httpx.Response:
    if method == "GET":
        return await client.get(path)
    return await client.post(
        path,
        data={
            "status": "suspended",
            "title": "改名",
            "need": "HOME_CARE",
            "region_codes": "330302",
            "description": "hijacked",
            "monthly_capacity": "1",
        },
        headers={"X-CSRF-Token": session_csrf(client)},
    )


async def test_anonymous_requests_go_to_login(app, world):
    left, _right, _admin = world
    async with _client(app) as client:
        for method, path in sorted(OBJECT_ROUTES | SCOPED_PAGES | SELF_WRITES):
            if method == "POST":
                await client.get("/login")  # a session (and its CSRF token) exists before any form
            response = await _call(client, method, _fill(path, left))
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/login")


async def test_users_of_another_region_or_partner_are_refused_every_object(app, world):
    left, right, _admin = world
    for role, user in right.users.items():
        async with _client(app) as client:
            assert (await login(client, user.username)).status_code == 303
            for method, path in sorted(OBJECT_ROUTES):
                response = await _call(client, method, _fill(path, left))
                assert response.status_code in (403, 404), (role, method, path, response.status_code)
    # Nothing of side A changed through those attempts.
    assert (await Partner.get(id=left.partner.id)).status == "approved"
    assert (await Offering.get(id=left.offering.id)).title.startswith("上门照护")
    request = await ServiceRequest.get(id=left.request.id)
    assert request.status == "open" and request.claimed_by_id is None
    assert (await TransferRequest.get(id=left.transfer.id)).status == "pending"
    assert (await PartnerToken.get(id=left.token.id)).revoked_at is None


async def test_scoped_pages_never_show_another_sides_data(app, world):
    left, right, _admin = world
    markers = [left.household.head_name, left.partner.name, left.offering.title, left.volunteer.name]
    for role, user in right.users.items():
        async with _client(app) as client:
            await login(client, user.username)
            for _method, path in sorted(SCOPED_PAGES):
                response = await client.get(path)
                assert response.status_code in (200, 403, 404), (role, path, response.status_code)
                for marker in markers:
                    assert marker not in response.text, (role, path, marker)


async def test_owners_do_see_their_own(app, world):
    left, _right, _admin = world
    expectations = [
        ("coordinator", "/households", left.household.head_name),
        ("community_worker", "/households", left.household.head_name),
        ("coordinator", f"/households/{left.household.id}", left.household.external_id),
        ("coordinator", "/admin/partners", left.partner.name),
        ("partner_admin", "/partner", left.partner.name),
        ("partner_admin", "/partner/offerings", left.offering.title),
        ("partner_admin", f"/partner/offerings/{left.offering.id}/edit", left.offering.title),
        ("dispatcher", "/partner/offerings", left.offering.title),
        ("dispatcher", "/board", f"/requests/{left.request.id}"),
        ("dispatcher", f"/requests/{left.request.id}", f"#{left.request.id}"),
        ("coordinator", "/requests", f"/requests/{left.request.id}"),
        ("partner_admin", "/partner/api-tokens", left.token.prefix),
        ("volunteer", "/volunteer", left.volunteer.name),
        ("household", "/my-household", left.household.head_name),
    ]
    for role, path, marker in expectations:
        async with _client(app) as client:
            await login(client, left.users[role].username)
            response = await client.get(path)
            assert response.status_code == 200, (role, path, response.status_code)
            assert marker in response.text, (role, path)


async def test_self_writes_only_touch_the_writers_partner(app, world):
    left, right, _admin = world
    async with _client(app) as client:
        await login(client, right.users["partner_admin"].username)
        for method, path in sorted(SELF_WRITES):
            await _call(client, method, path)
    assert (await Partner.get(id=left.partner.id)).description == ""
    assert (await Partner.get(id=right.partner.id)).description == "hijacked"
    assert await Offering.filter(partner_id=left.partner.id).count() == 1


async def test_list_queries_are_filtered_in_the_database(world):
    left, right, admin = world
    coordinator = await principal_for(left.users["coordinator"])
    ids = await visible(coordinator, Action.VIEW_HOUSEHOLDS).values_list("id", flat=True)
    assert ids == [left.household.id]
    everyone = await visible(await principal_for(admin), Action.VIEW_HOUSEHOLDS).count()
    assert everyone == await Household.all().count() == 2
    worker = await principal_for(right.users["community_worker"])
    assert await visible(worker, Action.VIEW_HOUSEHOLDS).values_list("id", flat=True) == [right.household.id]


async def test_alliance_wide_settings_refuse_everyone_but_admins(app, world):
    left, right, _admin = world
    for side in (left, right):
        for role, user in side.users.items():
            async with _client(app) as client:
                await login(client, user.username)
                for method, path in sorted(ADMIN_ONLY):
                    response = await _call(client, method, path)
                    assert response.status_code == 403, (role, method, path, response.status_code)
