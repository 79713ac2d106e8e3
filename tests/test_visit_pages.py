"""The visit pages (web/routes/visits.py): the dispatcher's planner and visit page, the household's
personal link, a community worker answering for a household, the volunteer's page and calendar."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from icalendar import Calendar

from alliance.core.access import principal_for
from alliance.core.codes import HouseholdResponse, OutboxStatus, RequestStatus, VisitStatus
from alliance.matching.models import ServiceRequest
from alliance.notifications.models import OutboxJob
from alliance.visits.links import calendar_token, response_token
from alliance.visits.models import Visit
from alliance.visits.scheduling import reschedule_visit, schedule_visit
from alliance.visits.volunteer_calendar import visit_uid
from tests.conftest import TEST_SECRET
from tests.factories import login, session_csrf
from tests.visits_support import add_volunteer, build_visit_world, days_ahead, more_claimed_requests, window


@pytest.fixture
async def world(app):
    return await build_visit_world()


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@asynccontextmanager
async def _as(app, username: str) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app) as client:
        assert (await login(client, username)).status_code == 303
        yield client


def _form(day_offset: int, hour: int, hours: int = 1) -> dict[str, str]:
    start = days_ahead(day_offset, hour)
    return {
        "date": start.date().isoformat(),
        "start": start.strftime("%H:%M"),
        "end": (start + timedelta(hours=hours)).strftime("%H:%M"),
    }


async def test_the_planner_shows_suitable_volunteers_and_proposes_the_earliest_slot(app, world):
    ann = await add_volunteer(world.partner, "安志愿")
    await add_volunteer(world.partner, "修志愿", skills=("REPAIR",))
    path = f"/requests/{world.request.id}/schedule"
    async with _as(app, world.claims.home.dispatcher.username) as client:
        empty = await client.get(path)
        assert empty.status_code == 200
        assert '<label for="date">' in empty.text and "Propose the earliest slot" in empty.text
        shown = await client.get(path, params=_form(2, 9))
        assert f'value="{ann.id}"' in shown.text and "checked" in shown.text
        assert "修志愿" in shown.text and "Lacks the skill" in shown.text
        assert 'name="volunteer_ids" value="' + str(ann.id) in shown.text
        proposed = await client.get(
            path, params={"propose": "1", "duration": "60"}, headers={"HX-Request": "true"}
        )
        assert proposed.status_code == 200 and "<html" not in proposed.text  # the planner block only
        assert 'id="planner"' in proposed.text and "Earliest slot" in proposed.text
        assert re.search(r'name="start" value="\d\d:\d\d"', proposed.text)
        bad = await client.get(path, params={"date": "tomorrow", "start": "9", "end": ""})
        assert bad.status_code == 422 and "Enter a date." in bad.text


async def test_scheduling_through_the_page_and_the_clash_named(app, world):
    ann = await add_volunteer(world.partner, "安志愿")
    [other] = await more_claimed_requests(world, 1)
    async with _as(app, world.claims.home.dispatcher.username) as client:
        token = session_csrf(client)
        answer = await client.post(
            f"/requests/{world.request.id}/schedule",
            data={**_form(2, 9), "volunteer_ids": str(ann.id), "notes": "带药箱", "csrf_token": token},
        )
        assert answer.status_code == 303
        visit = await Visit.get(request_id=world.request.id)
        assert answer.headers["location"] == f"/visits/{visit.id}"
        # Relayed to the queue right after the commit: nothing of this change waits in the outbox.
        assert await OutboxJob.filter(status=OutboxStatus.ENQUEUED).count() >= 1
        assert await OutboxJob.filter(status=OutboxStatus.PENDING).count() == 0
        page = await client.get(answer.headers["location"])
        assert page.status_code == 200 and "The visit is scheduled." in page.text and "带药箱" in page.text
        assert "/visit-response/" in page.text
        clash = await client.post(
            f"/requests/{other.id}/schedule",
            data={**_form(2, 9), "volunteer_ids": str(ann.id), "csrf_token": token},
        )
        assert clash.status_code == 422 and "安志愿" in clash.text and f"#{visit.id}" in clash.text
        assert (await ServiceRequest.get(id=other.id)).status == RequestStatus.CLAIMED
        listing = await client.get("/visits")
        assert f"/visits/{visit.id}" in listing.text and "安志愿" in listing.text
        bo = await add_volunteer(world.partner, "薄志愿")
        page = await client.get(f"/visits/{visit.id}")
        assert f'id="volunteer-{bo.id}"' in page.text and f'id="volunteer-{ann.id}"' in page.text
        restaffed = await client.post(
            f"/visits/{visit.id}/volunteers", data={"volunteer_ids": [str(bo.id)], "csrf_token": token}
        )
        assert restaffed.status_code == 303
        assert "The volunteers are changed." in (await client.get(f"/visits/{visit.id}")).text
        moved = await client.post(
            f"/visits/{visit.id}/reschedule", data={**_form(3, 14), "csrf_token": token}
        )
        assert moved.status_code == 303
        assert (await Visit.get(id=visit.id)).schedule_version == 3
        cancelled = await client.post(f"/visits/{visit.id}/cancel", data={"reason": "", "csrf_token": token})
        assert cancelled.status_code == 422 and "Give a reason." in cancelled.text
        cancelled = await client.post(
            f"/visits/{visit.id}/cancel", data={"reason": "下雨", "csrf_token": token}
        )
        assert cancelled.status_code == 303
        assert (await Visit.get(id=visit.id)).status == VisitStatus.CANCELLED


async def test_another_partner_sees_no_planner_and_no_visit(app, world):
    ann = await add_volunteer(world.partner, "安志愿")
    visit = (await schedule_visit(world.dispatcher, world.request.id, *window(2, 9), [ann.id])).visit
    for setup in (world.claims.rival, world.claims.far):
        async with _as(app, setup.dispatcher.username) as client:
            assert (await client.get(f"/requests/{world.request.id}/schedule")).status_code == 404
            assert (await client.get(f"/visits/{visit.id}")).status_code == 404
            listing = await client.get("/visits")
            assert listing.status_code == 200 and f"/visits/{visit.id}" not in listing.text


async def test_the_household_answers_through_its_personal_link(app, world):
    ann = await add_volunteer(world.partner, "安志愿")
    visit = (await schedule_visit(world.dispatcher, world.request.id, *window(2, 9), [ann.id])).visit
    link = f"/visit-response/{response_token(TEST_SECRET, visit)}"
    async with _client(app) as client:
        page = await client.get(link)
        assert page.status_code == 200 and "Home care" in page.text and "安志愿" in page.text
        assert 'for="reschedule-note"' in page.text and 'id="reschedule-note"' in page.text
        assert world.claims.left.household.phone not in page.text
        token = session_csrf(client)
        empty = await client.post(link, data={"response": "reschedule", "note": "", "csrf_token": token})
        assert empty.status_code == 422
        answer = await client.post(
            link, data={"response": "reschedule", "note": "下午好", "csrf_token": token}
        )
        assert answer.status_code == 303
        after = await client.get(link)
        assert "The organisation will call you" in after.text and "下午好" in after.text
        stored = await Visit.get(id=visit.id)
        assert stored.household_response == HouseholdResponse.RESCHEDULE_REQUESTED
        forged = await client.get(link[:-3] + "abc")
        assert forged.status_code == 404 and "does not work" in forged.text
        expired_visit = await Visit.get(id=visit.id)
        expired_visit.window_end = expired_visit.window_end - timedelta(days=10)
        old = await client.get(f"/visit-response/{response_token(TEST_SECRET, expired_visit)}")
        assert old.status_code == 410 and "expired" in old.text
        declined = await client.post(
            link, data={"response": "declined", "note": "不需要了", "csrf_token": token}
        )
        assert declined.status_code == 303
    assert (await ServiceRequest.get(id=world.request.id)).status == RequestStatus.OPEN


async def test_the_community_worker_answers_from_the_household_page(app, world):
    ann = await add_volunteer(world.partner, "安志愿")
    visit = (await schedule_visit(world.dispatcher, world.request.id, *window(2, 9), [ann.id])).visit
    household_id = world.claims.left.household.id
    async with _as(app, world.claims.left.users["community_worker"].username) as client:
        detail = await client.get(f"/households/{household_id}")
        assert f"/households/{household_id}/visits" in detail.text
        page = await client.get(f"/households/{household_id}/visits")
        assert page.status_code == 200 and f"/visits/{visit.id}/respond" in page.text
        answer = await client.post(
            f"/visits/{visit.id}/respond", data={"response": "confirmed", "csrf_token": session_csrf(client)}
        )
        assert answer.status_code == 303
    assert (await Visit.get(id=visit.id)).household_response == HouseholdResponse.CONFIRMED
    async with _as(app, world.claims.right.users["community_worker"].username) as client:
        assert (await client.get(f"/households/{household_id}/visits")).status_code == 404


async def test_the_volunteer_page_and_calendar_feed(app, world):
    ann = await add_volunteer(world.partner, "安志愿")
    user = world.claims.left.users["volunteer"]
    await user.__class__.filter(id=user.id).update(volunteer_id=ann.id)
    first = (await schedule_visit(world.dispatcher, world.request.id, *window(1, 9), [ann.id])).visit
    [other] = await more_claimed_requests(world, 1)
    second = (await schedule_visit(world.dispatcher, other.id, *window(1, 14), [ann.id])).visit
    await reschedule_visit(world.dispatcher, second.id, *window(1, 15))
    async with _as(app, user.username) as client:
        page = await client.get("/volunteer", params={"day": days_ahead(1, 0).date().isoformat()})
        assert page.status_code == 200
        assert "km in all" in page.text and "某路V2号" in page.text
        found = re.search(r'/calendar/([^"]+)\.ics', page.text)
        assert found
    async with _client(app) as anonymous:
        feed = await anonymous.get(f"/calendar/{found.group(1)}.ics")
        assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
        events = {str(event["uid"]): event for event in Calendar.from_ical(feed.content).walk("VEVENT")}
        assert set(events) == {visit_uid(first.id), visit_uid(second.id)}
        assert int(events[visit_uid(second.id)]["sequence"]) == 2
        assert events[visit_uid(second.id)].decoded("dtstart") == days_ahead(1, 15)
        assert str(events[visit_uid(first.id)]["status"]) == "CONFIRMED"
        forged = await anonymous.get(f"/calendar/{calendar_token('other-key', ann.id)}.ics")
        assert forged.status_code == 404
    dispatcher = await principal_for(world.claims.home.dispatcher)
    from alliance.visits.scheduling import cancel_visit

    await cancel_visit(dispatcher, first.id, "改期")
    async with _client(app) as anonymous:
        feed = await anonymous.get(f"/calendar/{found.group(1)}.ics")
        events = {str(event["uid"]): event for event in Calendar.from_ical(feed.content).walk("VEVENT")}
        assert str(events[visit_uid(first.id)]["status"]) == "CANCELLED"
        assert int(events[visit_uid(first.id)]["sequence"]) == 2
    token = calendar_token(TEST_SECRET, ann.id)
    assert token == found.group(1)


async def test_a_household_user_finds_its_visit_and_link_at_home(app, world):
    ann = await add_volunteer(world.partner, "安志愿")
    visit = (await schedule_visit(world.dispatcher, world.request.id, *window(2, 9), [ann.id])).visit
    async with _as(app, world.claims.left.users["household"].username) as client:
        home = await client.get("/my-household")
        assert home.status_code == 200
        assert f"/visit-response/{response_token(TEST_SECRET, visit)}" in home.text
    async with _as(app, world.claims.right.users["household"].username) as client:
        assert "/visit-response/" not in (await client.get("/my-household")).text
