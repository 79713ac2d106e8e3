"""The claim board: privacy before and after a claim, claiming in place with HTMX, losing in place,
filters and paging, the map without tiles, the request page's history, coordinator actions."""

from __future__ import annotations

import os
import re

import httpx
import pytest

from alliance.core.access import principal_for
from alliance.core.models import AuditEntry
from alliance.households.models import Household
from alliance.matching.board import BoardFilters, board_page
from alliance.matching.claims import claim_request
from alliance.matching.matching import match_all
from alliance.matching.models import Match, RequestTransition, ServiceRequest
from tests.claims_support import add_household_request, build_claim_world
from tests.factories import login, session_csrf

PII_MARKERS = ("张A", "13812345678", "鹿城区某路1号", "330302195001011234")


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def _no_pii(text: str) -> None:
    for marker in PII_MARKERS:
        assert marker not in text, marker


async def _post(
    client: httpx.AsyncClient, path: str, data: dict | None = None, htmx: bool = False, target: str = ""
):
    headers = {"X-CSRF-Token": session_csrf(client)}
    if htmx:
        headers["HX-Request"] = "true"
        if target:
            headers["HX-Target"] = target
    return await client.post(path, data=data or {}, headers=headers)


async def test_board_shows_matched_requests_without_personal_details(client):
    world = await build_claim_world()
    await login(client, "dispatchA")
    page = await client.get("/board")
    assert page.status_code == 200
    assert f'id="request-{world.request.id}"' in page.text
    assert world.left.household.region_id and "鹿城区一社区" in page.text  # community
    assert "Home care" in page.text and "Elderly living alone" in page.text  # need, flag
    _no_pii(page.text)
    detail = await client.get(f"/requests/{world.request.id}")
    assert detail.status_code == 200
    _no_pii(detail.text)
    assert await AuditEntry.filter(action="household.contact_view").count() == 0


async def test_claim_in_place_shows_contact_details_and_audits_the_view(client):
    world = await build_claim_world()
    await login(client, "dispatchA")
    await client.get("/board")
    response = await _post(
        client, f"/requests/{world.request.id}/claim", htmx=True, target=f"request-{world.request.id}"
    )
    assert response.status_code == 200
    assert f'id="request-{world.request.id}"' in response.text
    assert "张A" in response.text and "13812345678" in response.text
    assert "request-claimed" in response.headers["HX-Trigger"]
    audit = await AuditEntry.filter(action="household.contact_view").values(
        "actor_id", "object_id", "details"
    )
    assert audit == [
        {
            "actor_id": world.left.users["dispatcher"].id,
            "object_id": str(world.left.household.id),
            "details": {"request": world.request.id, "partner": world.home.partner.id},
        }
    ]
    # The request page shows them again, with the history, and that view is audited too.
    detail = await client.get(f"/requests/{world.request.id}")
    assert "张A" in detail.text and "鹿城区某路1号" in detail.text
    assert "History" in detail.text and "Claimed" in detail.text
    assert await AuditEntry.filter(action="household.contact_view").count() == 2


async def test_losing_claim_is_swapped_in_place_naming_the_winner(app):
    world = await build_claim_world()
    async with _client(app) as rival, _client(app) as home:
        await login(rival, "dispatch-rival")
        await login(home, "dispatchA")
        board = await rival.get("/board")
        assert f'id="request-{world.request.id}"' in board.text
        assert (await _post(home, f"/requests/{world.request.id}/claim")).status_code == 303
        lost = await _post(
            rival, f"/requests/{world.request.id}/claim", htmx=True, target=f"request-{world.request.id}"
        )
        assert lost.status_code == 200
        assert f'id="request-{world.request.id}"' in lost.text
        assert f"Already claimed by {world.home.partner.name}" in lost.text
        assert "<html" not in lost.text  # a row, not a page
        _no_pii(lost.text)
        # Without JavaScript: the board again with the message, not an error page.
        plain = await _post(rival, f"/requests/{world.request.id}/claim")
        assert plain.status_code == 409
        assert f"Already claimed by {world.home.partner.name}" in plain.text and "Claim board" in plain.text


async def test_claim_without_javascript_leads_to_the_request_page(client):
    world = await build_claim_world()
    await login(client, "dispatchA")
    response = await _post(client, f"/requests/{world.request.id}/claim")
    assert response.status_code == 303 and response.headers["location"] == f"/requests/{world.request.id}"


async def test_board_filters_rank_and_pages(client):
    world = await build_claim_world()
    extra = [await add_household_request(world.left, f"p{index}") for index in range(4)]
    await Household.filter(id=(await ServiceRequest.get(id=extra[0].id)).household_id).update(member_count=5)
    await ServiceRequest.filter(id=extra[0].id).update(priority=90)
    await match_all(notify=False)
    dispatcher = await world.home.principal()
    page = await board_page(dispatcher, BoardFilters(), page_size=2)
    assert page.total == 5 and page.pages == 3 and len(page.items) == 2
    assert page.items[0].request_id == extra[0].id  # highest priority scores best
    assert [item.rank for item in page.items] == [1, 2]
    second = await board_page(dispatcher, BoardFilters(page=2), page_size=2)
    assert [item.rank for item in second.items] == [3, 4]
    whole = (await board_page(dispatcher, BoardFilters(), page_size=10)).items
    assert [item.request_id for item in whole[:2] + second.items] == [item.request_id for item in whole[:4]]
    assert (await board_page(dispatcher, BoardFilters(min_priority=80))).total == 1
    assert (await board_page(dispatcher, BoardFilters(need="HEALTH_SUPPORT"))).total == 0
    assert (await board_page(dispatcher, BoardFilters(region_code=world.right.district))).total == 0
    assert (await board_page(dispatcher, BoardFilters(region_code=world.left.district))).total == 5
    # Region-covered matches have no distance; a distance filter keeps only known distances.
    await Match.all().update(distance_km=3.0)
    await Match.filter(request_id=extra[1].id).update(distance_km=42.0)
    assert (await board_page(dispatcher, BoardFilters(max_distance_km=10))).total == 4
    # The HTMX filter answers the results block only.
    await login(client, "dispatchA")
    fragment = await client.get("/board?need=HOME_CARE&page=2", headers={"HX-Request": "true"})
    assert (
        fragment.status_code == 200 and "<html" not in fragment.text and 'id="results"' not in fragment.text
    )
    # Claimed requests leave the board.
    await claim_request(dispatcher, extra[0].id)
    assert (await board_page(dispatcher, BoardFilters())).total == 4


async def test_map_view_draws_markers_at_the_community_with_our_own_leaflet(client):
    world = await build_claim_world()
    await login(client, "dispatchA")
    page = await client.get("/board?view=map")
    assert page.status_code == 200
    assert "/static/vendor/leaflet-1.9.4/leaflet.js" in page.text and "/static/js/board-map.js" in page.text
    assert 'data-tile-url=""' in page.text  # no TILE_URL: a blank map, no internet
    assert f'data-lat="{28.015}"' in page.text  # the community's centre
    assert "<script>" not in page.text  # no inline script (the CSP forbids it)
    _no_pii(page.text)
    for asset in (
        "/static/vendor/leaflet-1.9.4/leaflet.js",
        "/static/js/board-map.js",
        "/static/vendor/leaflet-1.9.4/images/marker-icon.png",
    ):
        assert (await client.get(asset)).status_code == 200, asset
    assert world.request.id


async def test_request_history_is_for_the_holder_and_coordinators_only(app):
    world = await build_claim_world()
    await claim_request(await world.home.principal(), world.request.id)
    async with _client(app) as rival:
        await login(rival, "dispatch-rival")
        page = await rival.get(f"/requests/{world.request.id}")
        assert page.status_code == 200
        assert "History" not in page.text and "Ask for a transfer" in page.text
        _no_pii(page.text)
    async with _client(app) as coordinator:
        await login(coordinator, "coordA")
        page = await coordinator.get(f"/requests/{world.request.id}")
        assert page.status_code == 200 and "History" in page.text and world.home.partner.name in page.text
    async with _client(app) as far:
        await login(far, "dispatchB")
        assert (await far.get(f"/requests/{world.request.id}")).status_code == 404


async def test_release_transfer_assign_and_close_through_the_pages(app):
    world = await build_claim_world()
    async with _client(app) as home, _client(app) as rival, _client(app) as coordinator:
        await login(home, "dispatchA")
        await login(rival, "dispatch-rival")
        await login(coordinator, "coordA")
        request_path = f"/requests/{world.request.id}"
        await _post(home, f"{request_path}/claim")
        refused = await _post(home, f"{request_path}/release", {"reason": ""})
        assert refused.status_code == 422 and "Give a reason" in refused.text
        released = await _post(home, f"{request_path}/release", {"reason": "人手不够"})
        assert released.status_code == 303 and released.headers["location"] == "/board/claims"
        assert "back in the pool" in (await home.get("/board/claims")).text
        assert (await ServiceRequest.get(id=world.request.id)).status == "open"
        await match_all(notify=False)
        await _post(home, f"{request_path}/claim")
        asked = await _post(rival, f"{request_path}/transfer", {"reason": "我们离得近"})
        assert asked.status_code == 303
        claims = await home.get("/board/claims")
        assert "我们离得近" in claims.text
        transfer_id = int(re.search(r'id="transfer-(\d+)"', claims.text).group(1))
        decided = await _post(home, f"/transfers/{transfer_id}/decide", {"decision": "approve"}, htmx=True)
        assert decided.status_code == 200 and "Approved" in decided.text
        assert (await ServiceRequest.get(id=world.request.id)).claimed_by_id == world.rival.partner.id
        moved = await _post(
            coordinator, f"{request_path}/assign", {"offering_id": str(world.home.offering.id)}
        )
        assert moved.status_code == 303
        assert (await ServiceRequest.get(id=world.request.id)).claimed_by_id == world.home.partner.id
        closed = await _post(coordinator, f"{request_path}/close", {"reason": "no_help_wanted"})
        assert closed.status_code == 303
        request = await ServiceRequest.get(id=world.request.id)
        assert request.status == "cancelled" and request.close_reason == "no_help_wanted"
        page = await coordinator.get(request_path)
        for text in ("Released", "Transferred", "Moved by a coordinator", "Closed", "人手不够"):
            assert text in page.text, text
    kinds = [
        row.reason.split(":")[0]
        for row in await RequestTransition.filter(request_id=world.request.id).order_by("id")
    ]
    assert kinds == ["claim", "release", "claim", "transfer", "move", "close"]


async def test_coordinator_request_list_is_scoped_and_partners_are_refused(app):
    world = await build_claim_world()
    async with _client(app) as coordinator:
        await login(coordinator, "coordA")
        page = await coordinator.get("/requests?status=open")
        assert f"/requests/{world.request.id}" in page.text
    async with _client(app) as other:
        await login(other, "coordB")
        assert f"/requests/{world.request.id}" not in (await other.get("/requests")).text
    async with _client(app) as dispatcher:
        await login(dispatcher, "dispatchA")
        assert (await dispatcher.get("/requests")).status_code == 403
        assert (
            await _post(dispatcher, f"/requests/{world.request.id}/assign", {"offering_id": "1"})
        ).status_code == 403
    async with _client(app) as volunteer:
        await login(volunteer, "volA")
        assert (await volunteer.get("/board")).status_code == 403
        assert (await _post(volunteer, f"/requests/{world.request.id}/claim")).status_code == 403
    assert (await principal_for(world.left.users["coordinator"])).region_code == world.left.district


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="no /usr/bin/chromium: run `make browser-deps`")
async def test_phone_dispatcher_sees_the_map_and_claims_in_place(live_server):
    from playwright.async_api import async_playwright

    world = await build_claim_world()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        try:
            context = await browser.new_context(
                viewport={"width": 360, "height": 740}, locale="en-US", base_url=live_server.url
            )
            page = await context.new_page()
            problems: list[str] = []
            page.on("console", lambda message: message.type == "error" and problems.append(message.text))
            page.on("response", lambda response: response.status >= 400 and problems.append(response.url))
            page.on("pageerror", lambda error: problems.append(str(error)))
            await page.goto("/login")
            await page.get_by_label("User name").fill("dispatchA")
            await page.get_by_label("Password").fill("correct-horse-1")
            await page.keyboard.press("Enter")
            await page.wait_for_url("**/partner")
            # The map: our own Leaflet, a blank map (no tiles configured), a marker per request.
            await page.goto("/board?view=map")
            await page.locator("#board-map .leaflet-marker-icon").first.wait_for()
            assert await page.locator("#board-map .leaflet-marker-icon").count() == 1
            assert await page.locator("#board-map .leaflet-tile").count() == 0
            # The list, and a claim in place: the row turns into the contact details.
            await page.goto("/board")
            row = page.locator(f"#request-{world.request.id}")
            await row.get_by_role("button", name=f"Claim request #{world.request.id}").click()
            await row.get_by_text("13812345678").wait_for()
            assert "张A" in await row.inner_text()
            assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            assert problems == [], problems
        finally:
            await browser.close()
    assert (await ServiceRequest.get(id=world.request.id)).claimed_by_id == world.home.partner.id
