"""The door pages (web/routes/door.py) through HTTP: the volunteer's visit page, check-in by typed
code and by the page script's JSON post (an offline replay included), check-out with the risk check,
the printable card and its re-issue, the coordinator's oversight, the household's confirmation and
rating; and a whole visit in headless Chromium on a phone with its geolocation set."""

from __future__ import annotations

import pytest
from httpx import ASGITransport, AsyncClient

from alliance.core.codes import RequestStatus, VisitStatus
from alliance.core.timeutil import LOCAL_TZ, utc_now
from alliance.households.models import Household
from alliance.matching.models import ServiceRequest
from alliance.visits.cards import short_code
from alliance.visits.checkins import check_in_by_gps
from alliance.visits.models import CheckIn, ServiceRecord, Visit
from alliance.visits.service_records import check_out
from tests.checkin_support import build_door_world
from tests.conftest import TEST_SECRET
from tests.factories import login, session_csrf
from tests.test_browser import CHROMIUM, CHROMIUM_FLAGS

AT_THE_DOOR = {"lat": "28.0155", "lon": "120.655", "accuracy": "12"}


def risk_form(**levels: str) -> dict[str, str]:
    fields = {}
    for aspect in ("economy", "health", "education", "housing", "employment", "care"):
        level = levels.get(aspect, "none")
        fields[f"risk_{aspect}"] = level
        fields[f"risk_{aspect}_note"] = "seen at the door" if level in ("medium", "high") else ""
    return fields


async def test_the_volunteer_sees_where_who_and_how_to_behave(client):
    world = await build_door_world()
    await Household.filter(id=world.household.id).update(accessibility=["BLIND", "DEAF"])
    await login(client, world.volunteer_user.username)

    page = await client.get(f"/volunteer/visits/{world.visit.id}")

    assert page.status_code == 200
    assert world.household.address in page.text and world.household.head_name in page.text
    assert "geo:28.015000,120.655000" in page.text
    assert "announce yourself" in page.text and "written card or sign language" in page.text
    assert 'for="code"' in page.text  # the typed-code form works without JavaScript


async def test_a_typed_code_checks_in_through_a_plain_form(client):
    world = await build_door_world()
    await login(client, world.volunteer_user.username)
    await client.get(f"/volunteer/visits/{world.visit.id}")
    code = short_code(TEST_SECRET, world.household.id, world.household.card_serial)

    wrong = await client.post(
        f"/volunteer/visits/{world.visit.id}/check-in",
        data={"method": "card", "code": "AAAA-AAAA", "client_key": "k1", "csrf_token": session_csrf(client)},
    )
    assert wrong.status_code == 422 and "does not match" in wrong.text
    done = await client.post(
        f"/volunteer/visits/{world.visit.id}/check-in",
        data={"method": "card", "code": code, "client_key": "k2", "csrf_token": session_csrf(client)},
    )

    assert done.status_code == 303
    follow = await client.get(done.headers["location"])
    assert "Checked in" in follow.text and "Check out" in follow.text
    assert (await Visit.get(id=world.visit.id)).status == VisitStatus.CHECKED_IN


async def test_the_scripts_json_post_replayed_after_a_network_loss_lands_once(client):
    world = await build_door_world()
    await login(client, world.volunteer_user.username)
    tapped = utc_now().isoformat()
    fields = {"method": "gps", "client_key": "offline-7", "at": tapped, **AT_THE_DOOR}
    headers = {"Accept": "application/json", "X-CSRF-Token": session_csrf(client)}

    first = await client.post(f"/volunteer/visits/{world.visit.id}/check-in", data=fields, headers=headers)
    replay = await client.post(f"/volunteer/visits/{world.visit.id}/check-in", data=fields, headers=headers)

    assert first.json()["ok"] and first.json()["created"]
    assert replay.json()["ok"] and not replay.json()["created"]
    assert await CheckIn.all().count() == 1
    refused = await client.post(
        f"/volunteer/visits/{world.visit.id}/check-out",
        data={"service": "", "duration_minutes": "x", "persons_served": "1", **risk_form()},
        headers=headers,
    )
    assert refused.status_code == 400 and set(refused.json()["errors"]) == {"service", "duration_minutes"}


async def test_check_out_through_the_form_records_the_visit_and_its_follow_up(client):
    world = await build_door_world()
    await login(client, world.volunteer_user.username)
    headers = {"X-CSRF-Token": session_csrf(client)}
    await client.post(
        f"/volunteer/visits/{world.visit.id}/check-in", data={"method": "gps", **AT_THE_DOOR}, headers=headers
    )

    response = await client.post(
        f"/volunteer/visits/{world.visit.id}/check-out",
        data={
            "service": "Bathed and fed",
            "duration_minutes": "75",
            "persons_served": "2",
            "client_key": "out-1",
            **risk_form(health="high"),
        },
        headers=headers,
    )

    assert response.status_code == 303
    record = await ServiceRecord.get(visit_id=world.visit.id)
    assert record.persons_served == 2
    follow_up = await ServiceRequest.get(household_id=world.household.id, need_id="HEALTH_SUPPORT")
    assert follow_up.status == RequestStatus.OPEN


async def test_the_card_prints_a_qr_and_its_code_and_a_reissue_changes_both(client):
    world = await build_door_world()
    await login(client, world.visits.claims.left.users["community_worker"].username)
    old_code = short_code(TEST_SECRET, world.household.id, 1)

    card = await client.get(f"/households/{world.household.id}/card")
    assert card.status_code == 200 and "<svg" in card.text and old_code in card.text
    reissued = await client.post(
        f"/households/{world.household.id}/card/reissue", headers={"X-CSRF-Token": session_csrf(client)}
    )
    assert reissued.status_code == 303
    card = await client.get(f"/households/{world.household.id}/card")
    assert old_code not in card.text and short_code(TEST_SECRET, world.household.id, 2) in card.text


async def test_oversight_lists_far_check_ins_and_takes_an_on_behalf_check_in(client):
    world = await build_door_world()
    await login(client, world.visits.claims.left.users["coordinator"].username)
    page = await client.get("/oversight")
    assert world.household.head_name in page.text  # waiting for a check-in

    response = await client.post(
        f"/oversight/visits/{world.visit.id}/check-in",
        data={"volunteer_id": str(world.volunteer.id), "reason": "phone died at the door"},
        headers={"X-CSRF-Token": session_csrf(client)},
    )

    assert response.status_code == 303
    check_in = await CheckIn.get(visit_id=world.visit.id)
    assert check_in.method == "on_behalf" and check_in.reason == "phone died at the door"


def _browser(app) -> AsyncClient:
    return AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver")


async def test_the_household_confirms_with_its_code_and_rates_from_its_page(app):
    world = await build_door_world()
    async with _browser(app) as volunteer:
        await login(volunteer, world.volunteer_user.username)
        headers = {"X-CSRF-Token": session_csrf(volunteer)}
        await volunteer.post(
            f"/volunteer/visits/{world.visit.id}/check-in",
            data={"method": "gps", **AT_THE_DOOR},
            headers=headers,
        )
        await volunteer.post(
            f"/volunteer/visits/{world.visit.id}/check-out",
            data={"service": "Tea and talk", "duration_minutes": "30", "persons_served": "1", **risk_form()},
            headers=headers,
        )
    record = await ServiceRecord.get(visit_id=world.visit.id)
    async with _browser(app) as household:
        await login(household, world.visits.claims.left.users["household"].username)
        headers = {"X-CSRF-Token": session_csrf(household)}
        home = await household.get("/my-household")
        assert "Tea and talk" in home.text and 'for="code-' in home.text
        wrong = await household.post(
            f"/service/{world.visit.id}/confirm", data={"code": "x", "back": "/my-household"}, headers=headers
        )
        assert "not the code" in (await household.get(wrong.headers["location"])).text
        await household.post(
            f"/service/{world.visit.id}/confirm",
            data={"code": record.confirmation_code, "back": "/my-household"},
            headers=headers,
        )
        await household.post(
            f"/service/{world.visit.id}/rate",
            data={"rating": "2", "comment": "late", "back": "/my-household"},
            headers=headers,
        )
    await record.refresh_from_db()
    assert record.confirmed_at is not None and record.rating == 2 and record.comment == "late"


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: run `make browser-deps`")
async def test_a_whole_visit_on_a_phone_by_gps(live_server):
    from playwright.async_api import async_playwright

    world = await build_door_world()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        context = await browser.new_context(
            viewport={"width": 360, "height": 740},
            locale="en-US",
            base_url=live_server.url,
            geolocation={"latitude": 28.0155, "longitude": 120.655, "accuracy": 15},
            permissions=["geolocation"],
        )
        page = await context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("console", lambda message: message.type == "error" and problems.append(message.text))
        await page.goto("/login")
        await page.get_by_label("User name").fill(world.volunteer_user.username)
        await page.get_by_label("Password").fill("correct-horse-1")
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/volunteer")
        await page.goto(f"/volunteer/visits/{world.visit.id}")
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

        await page.get_by_role("button", name="Check in here (use my position)").click()
        await page.get_by_label("Service delivered").wait_for()
        await page.get_by_label("Service delivered").fill("Changed the bedding")
        await page.get_by_label("Duration (minutes)").fill("45")
        await page.get_by_label("Persons served").fill("1")
        care = page.get_by_role("group", name="Care")
        await care.get_by_label("Medium").check()
        await care.get_by_label("Note").fill("alone most of the day")
        await page.get_by_role("button", name="Check out and save").click()
        await page.get_by_text("This visit is completed").wait_for()
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        await browser.close()
    assert problems == []
    check_in = await CheckIn.get(visit_id=world.visit.id)
    assert check_in.method == "gps" and not check_in.needs_review
    record = await ServiceRecord.get(visit_id=world.visit.id)
    assert record.service == "Changed the bedding"
    assert await ServiceRequest.filter(
        household_id=world.household.id, need_id="HOME_CARE", status="claimed"
    ).exists()


async def test_the_day_plan_links_each_visit_to_its_door_page_with_how_to_meet_the_household(client):
    world = await build_door_world()
    await Household.filter(id=world.household.id).update(accessibility=["WHEELCHAIR"])
    await login(client, world.volunteer_user.username)
    day = world.visit.window_start.astimezone(LOCAL_TZ).date().isoformat()

    page = await client.get(f"/volunteer?day={day}")

    assert f'href="/volunteer/visits/{world.visit.id}"' in page.text
    assert "geo:28.015000,120.655000" in page.text
    assert "wait at the door longer" in page.text


async def test_the_return_address_after_confirming_never_leaves_the_site(client):
    world = await build_door_world()
    volunteer = await world.volunteer_principal()
    await check_in_by_gps(volunteer, world.visit.id, 28.0155, 120.655)
    await check_out(
        volunteer,
        world.visit.id,
        service="Tea",
        duration_minutes="30",
        persons_served="1",
        notes="",
        risks={
            aspect: ("none", "")
            for aspect in ("economy", "health", "education", "housing", "employment", "care")
        },
    )
    await login(client, world.visits.claims.left.users["household"].username)

    for back in ("//evil.example/phish", "https://evil.example/", "/my-household"):
        response = await client.post(
            f"/service/{world.visit.id}/confirm",
            data={"code": "not-the-code", "back": back},
            headers={"X-CSRF-Token": session_csrf(client)},
        )
        assert response.status_code == 303
        assert response.headers["location"] == ("/my-household" if back == "/my-household" else "/")
