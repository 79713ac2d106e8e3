"""Event pages: the partner publishes with field errors shown by their labels, registers, ticks and
scans attendance (HTMX answers the attendance block), records outcomes; the household registers by
its personal link (forged links refused); a community worker registers on the household's behalf;
a coordinator sees the hires."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from alliance.core.timeutil import utc_now
from alliance.events.models import Attendance, EmploymentOutcome, Event, EventSession, Registration
from alliance.events.registrations import registration_path
from alliance.targets.models import DeliveryTally
from alliance.visits.cards import short_code
from tests.conftest import TEST_SECRET
from tests.events_support import (
    VENUE,
    add_trainee,
    build_event_world,
    published,
    session_line,
    start_sessions_now,
)
from tests.factories import csrf_from, login, session_csrf


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_the_partner_publishes_an_event_and_sees_field_errors_by_their_labels(app):
    world = await build_event_world()
    await add_trainee(world.left, "报名者")
    async with _client(app) as client:
        await login(client, "trainadmin")
        page = await client.get("/partner/events/new")
        assert page.status_code == 200 and 'label for="sessions"' in page.text
        token = csrf_from(page.text)
        refused = await client.post(
            "/partner/events/new",
            data={"csrf_token": token, "offering_id": str(world.offering.id), "title": "", "seats": "x"},
        )
        assert refused.status_code == 422
        assert 'id="title" name="title" value="" required aria-invalid="true"' in refused.text
        assert 'id="seats-error"' in refused.text
        published_page = await client.post(
            "/partner/events/new",
            data={
                "csrf_token": token,
                "offering_id": str(world.offering.id),
                "kind": "training",
                "title": "面点培训",
                "venue": "职业技能中心",
                "venue_lat": str(VENUE[0]),
                "venue_lon": str(VENUE[1]),
                "seats": "10",
                "waitlist_margin": "2",
                "venue_accessibility": "step_free",
                "sessions": f"{session_line(3, 9)}\n{session_line(4, 9)}",
            },
        )
        assert published_page.status_code == 303
        event = await Event.get(title="面点培训")
        assert published_page.headers["location"] == f"/partner/events/{event.id}"
        assert await EventSession.filter(event_id=event.id).count() == 2
        shown = await client.get(f"/partner/events/{event.id}")
        assert "面点培训" in shown.text and "/partner/sessions/" in shown.text
        listed = await client.get("/partner/events")
        assert f"/partner/events/{event.id}" in listed.text


async def test_the_household_registers_and_gives_up_by_its_personal_link(app):
    world = await build_event_world()
    household = await add_trainee(world.left, "链接户")
    event = await published(world, seats="1")
    path = registration_path(TEST_SECRET, event.id, household.id, None)
    async with _client(app) as client:
        page = await client.get(path)
        assert page.status_code == 200 and "big-text" in page.text and event.title in page.text
        token = csrf_from(page.text)
        answered = await client.post(path, data={"csrf_token": token, "answer": "register"})
        assert answered.status_code == 303
        assert (await Registration.get(household_id=household.id)).status == "registered"
        again = await client.get(path)
        assert "give up my place" in again.text.lower()
        await client.post(path, data={"csrf_token": token, "answer": "cancel"})
        assert (await Registration.get(household_id=household.id)).status == "cancelled"
        assert (await Event.get(id=event.id)).seats_taken == 0
        forged = await client.get(path[:-3] + "abc")
        assert forged.status_code == 404
        visit_salted = await client.get("/event-registration/eyJ2aXNpdCI6MX0.abc")
        assert visit_salted.status_code == 404


async def test_a_community_worker_registers_from_the_household_page(app):
    world = await build_event_world()
    fitting = await add_trainee(world.left, "合适户")
    deaf = await add_trainee(world.left, "聋户", accessibility=("DEAF",))
    event = await published(world)
    async with _client(app) as client:
        await login(client, world.left.users["community_worker"].username)
        household_page = await client.get(f"/households/{fitting.id}")
        assert f"/households/{fitting.id}/events" in household_page.text
        page = await client.get(f"/households/{fitting.id}/events")
        assert event.title in page.text
        headers = {"X-CSRF-Token": session_csrf(client)}
        done = await client.post(f"/households/{fitting.id}/events/{event.id}/register", headers=headers)
        assert done.status_code == 303
        registration = await Registration.get(household_id=fitting.id)
        assert registration.registered_by_id == world.left.users["community_worker"].id
        refused = await client.post(f"/households/{deaf.id}/events/{event.id}/register", headers=headers)
        assert refused.status_code == 422 and "interpreter" in refused.text
        assert not await Registration.exists(household_id=deaf.id)


async def test_attendance_by_ticks_and_by_card_code_answers_the_htmx_block(app):
    world = await build_event_world()
    first, second = await add_trainee(world.left, "签到甲"), await add_trainee(world.left, "签到乙")
    event = await published(world)
    async with _client(app) as client:
        await login(client, world.left.users["community_worker"].username)
        headers = {"X-CSRF-Token": session_csrf(client)}
        for household in (first, second):
            await client.post(f"/households/{household.id}/events/{event.id}/register", headers=headers)
    sessions = await start_sessions_now(event)
    registrations = await Registration.filter(event_id=event.id).order_by("id")
    async with _client(app) as client:
        await login(client, "traindispatch")
        headers = {"X-CSRF-Token": session_csrf(client), "HX-Request": "true"}
        page = await client.get(f"/partner/sessions/{sessions[0].id}")
        assert "签到甲" in page.text and 'name="registration_ids"' in page.text
        ticked = await client.post(
            f"/partner/sessions/{sessions[0].id}/attendance",
            data={"registration_ids": [str(registrations[0].id)]},
            headers=headers,
        )
        assert ticked.status_code == 200 and ticked.text.lstrip().startswith('<div id="attendance">')
        assert "<html" not in ticked.text
        scanned = await client.post(
            f"/partner/sessions/{sessions[0].id}/scan",
            data={"code": short_code(TEST_SECRET, second.id, 1)},
            headers=headers,
        )
        assert "签到乙" in scanned.text
        wrong = await client.post(
            f"/partner/sessions/{sessions[0].id}/scan", data={"code": "0000-0000"}, headers=headers
        )
        assert wrong.status_code == 200 and "error-summary" in wrong.text
    assert await Attendance.filter(session_id=sessions[0].id).count() == 2
    assert (await DeliveryTally.get()).person_times == 2


async def test_outcomes_from_the_event_page_and_hires_for_the_coordinator(app):
    world = await build_event_world(need="JOB_PLACEMENT")
    seeker = await add_trainee(world.left, "应聘者", need="JOB_PLACEMENT")
    event = await published(
        world, kind="job_fair", sessions=session_line(2, 9, 6), employers="鹿城物业: 保安"
    )
    async with _client(app) as client:
        await login(client, world.left.users["community_worker"].username)
        await client.post(
            f"/households/{seeker.id}/events/{event.id}/register",
            headers={"X-CSRF-Token": session_csrf(client)},
        )
    async with _client(app) as client:
        await login(client, "trainadmin")
        page = await client.get(f"/partner/events/{event.id}")
        assert "鹿城物业" in page.text and 'name="kind"' in page.text
        recorded = await client.post(
            f"/partner/events/{event.id}/outcomes",
            data={"household_id": str(seeker.id), "kind": "interview", "employer": "鹿城物业", "job": "保安"},
            headers={"X-CSRF-Token": session_csrf(client)},
        )
        assert recorded.status_code == 303
    async with _client(app) as client:
        await login(client, world.left.users["community_worker"].username)
        await client.post(
            f"/households/{seeker.id}/events/{event.id}/outcomes",
            data={"kind": "hire", "employer": "鹿城物业", "job": "保安"},
            headers={"X-CSRF-Token": session_csrf(client)},
        )
    assert sorted(await EmploymentOutcome.all().values_list("kind", flat=True)) == ["hire", "interview"]
    async with _client(app) as client:
        await login(client, world.left.users["coordinator"].username)
        hires = await client.get("/events/hires")
        assert hires.status_code == 200 and "应聘者" in hires.text and "鹿城物业" in hires.text
        # The cockpit counts it too.
        cockpit = await client.get("/cockpit")
        assert 'id="hires-heading"' in cockpit.text and 'href="/events/hires?year=' in cockpit.text
        assert re.search(r"1 (hire|次就业)", cockpit.text)
    async with _client(app) as client:
        await login(client, world.right.users["coordinator"].username)
        assert "应聘者" not in (await client.get("/events/hires")).text


async def test_pages_speak_chinese_by_default(app, settings):
    world = await build_event_world()
    household = await add_trainee(world.left, "中文户")
    event = await published(world)
    path = registration_path(TEST_SECRET, event.id, household.id, utc_now() + timedelta(days=5))
    async with _client(app) as client:
        await client.post(
            "/language",
            data={"language": "zh_CN", "csrf_token": csrf_from((await client.get("/login")).text)},
        )
        page = await client.get(path)
        assert "我会参加" in page.text
