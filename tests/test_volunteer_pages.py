"""The volunteer pages (web/routes/volunteers.py): the partner admin adds, edits, imports and
deactivates; the public sign-up link; the volunteer's own profile and days off; the planner's link."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from alliance.core.codes import Accessibility
from alliance.core.models import User
from alliance.households.models import Household
from alliance.partners.models import Volunteer, VolunteerTimeOff
from tests.factories import login, session_csrf
from tests.visits_support import build_visit_world, local_day

COMMUNITY = "330302001001"


@pytest.fixture
async def world(app):
    return await build_visit_world()


@asynccontextmanager
async def _as(app, username: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        assert (await login(client, username)).status_code == 303
        yield client


def _fields(**changes) -> dict:
    values = {
        "name": "陈新",
        "phone": "13900002222",
        "skills": "CARE",
        "languages": "SIGN_LANGUAGE",
        "max_travel_km": "8",
        "community": COMMUNITY,
        "availability": "mon 09:00-12:00\nwed 14:00-18:00",
    }
    values.update(changes)
    return values


async def test_the_admin_adds_edits_and_deactivates_a_volunteer(app, world):
    admin = world.claims.left.users["partner_admin"].username
    async with _as(app, admin) as client:
        page = await client.get("/partner/volunteers")
        assert page.status_code == 200 and world.claims.left.volunteer.name in page.text
        form = await client.get("/partner/volunteers/new")
        assert '<label for="availability">' in form.text and "Sign language" in form.text
        refused = await client.post(
            "/partner/volunteers/new",
            data=_fields(name="", availability="someday"),
            headers={"X-CSRF-Token": session_csrf(client)},
        )
        assert refused.status_code == 422
        assert 'aria-invalid="true"' in refused.text and "Enter the volunteer" in refused.text
        created = await client.post(
            "/partner/volunteers/new", data=_fields(), headers={"X-CSRF-Token": session_csrf(client)}
        )
        assert created.status_code == 303
        volunteer = await Volunteer.get(name="陈新")
        assert volunteer.weekly_availability == {"mon": [["09:00", "12:00"]], "wed": [["14:00", "18:00"]]}
        shown = await client.get(created.headers["location"])
        assert "The volunteer is added." in shown.text and "mon 09:00-12:00" in shown.text
        issued = await client.post(
            f"/partner/volunteers/{volunteer.id}/login", headers={"X-CSRF-Token": session_csrf(client)}
        )
        assert issued.status_code == 200 and "/reset-password/" in issued.text
        assert await User.exists(volunteer_id=volunteer.id, role="volunteer")
        gone = await client.post(
            f"/partner/volunteers/{volunteer.id}/active",
            data={"active": "0"},
            headers={"X-CSRF-Token": session_csrf(client)},
        )
        assert gone.status_code == 303
        assert not (await Volunteer.get(id=volunteer.id)).active
        assert not (await User.get(volunteer_id=volunteer.id)).is_active


async def test_the_import_lists_refused_rows(app, world):
    admin = world.claims.left.users["partner_admin"].username
    body = f"name,community,availability\n丁,{COMMUNITY},fri 09:00-12:00\n戊,{COMMUNITY},fri 9-x\n".encode()
    async with _as(app, admin) as client:
        response = await client.post(
            "/partner/volunteers/import",
            files={"file": ("v.csv", body, "text/csv")},
            headers={"X-CSRF-Token": session_csrf(client)},
        )
        assert response.status_code == 200
        assert "1 volunteers added; 1 rows refused." in response.text
        assert re.search(r"<td>2</td><td>availability</td>", response.text)
        bad = await client.post(
            "/partner/volunteers/import",
            files={"file": ("v.csv", b"who,where\n1,2\n", "text/csv")},
            headers={"X-CSRF-Token": session_csrf(client)},
        )
        assert bad.status_code == 422 and "The columns are" in bad.text
    assert await Volunteer.exists(name="丁") and not await Volunteer.exists(name="戊")


async def test_the_sign_up_link_makes_a_pending_volunteer_the_admin_approves(app, world):
    admin = world.claims.left.users["partner_admin"].username
    async with _as(app, admin) as client:
        await client.post("/partner/volunteers/signup-link", headers={"X-CSRF-Token": session_csrf(client)})
        page = await client.get("/partner/volunteers")
        link = re.search(r'id="signup-url" readonly value="http://testserver(/join/[^"]+)"', page.text).group(
            1
        )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as anyone:
        join = await anyone.get(link)
        assert join.status_code == 200 and world.partner.name in join.text
        done = await anyone.post(
            link, data=_fields(name="报名者"), headers={"X-CSRF-Token": session_csrf(anyone)}
        )
        assert done.status_code == 200 and "Thank you" in done.text
    pending = await Volunteer.get(name="报名者")
    assert pending.status == "pending"
    async with _as(app, admin) as client:
        listed = await client.get("/partner/volunteers?show=pending")
        assert "报名者" in listed.text
        await client.post(
            f"/partner/volunteers/{pending.id}/decide",
            data={"decision": "approve"},
            headers={"X-CSRF-Token": session_csrf(client)},
        )
        await client.post(
            "/partner/volunteers/signup-link/revoke", headers={"X-CSRF-Token": session_csrf(client)}
        )
    assert (await Volunteer.get(id=pending.id)).status == "approved"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as anyone:
        assert (await anyone.get(link)).status_code == 404


async def test_the_volunteer_keeps_their_profile_and_days_off(app, world):
    volunteer = world.claims.left.volunteer
    async with _as(app, world.claims.left.users["volunteer"].username) as client:
        page = await client.get("/volunteer/profile")
        assert page.status_code == 200 and '<label for="first_day">' in page.text
        saved = await client.post(
            "/volunteer/profile",
            data=_fields(availability="tue 09:00-12:00"),
            headers={"X-CSRF-Token": session_csrf(client)},
        )
        assert saved.status_code == 303
        day = local_day(3).isoformat()
        await client.post(
            "/volunteer/time-off",
            data={"first_day": day, "last_day": "", "reason": "病假"},
            headers={"X-CSRF-Token": session_csrf(client)},
        )
        shown = await client.get("/volunteer/profile")
        assert day in shown.text and "病假" in shown.text
        wrong = await client.post(
            "/volunteer/time-off",
            data={"first_day": day, "last_day": local_day(1).isoformat()},
            headers={"X-CSRF-Token": session_csrf(client)},
        )
        assert wrong.status_code == 422 and "cannot be before" in wrong.text
    stored = await Volunteer.get(id=volunteer.id)
    assert stored.weekly_availability == {"tue": [["09:00", "12:00"]]} and "SIGN_LANGUAGE" in stored.skills
    assert await VolunteerTimeOff.filter(volunteer_id=volunteer.id).count() == 1


async def test_the_planner_says_why_and_links_to_the_availability_page(app, world):
    await Household.filter(id=world.request.household_id).update(accessibility=[Accessibility.DEAF.value])
    async with _as(app, world.claims.home.dispatcher.username) as client:
        page = await client.get(f"/requests/{world.request.id}/schedule?duration=60&propose=1")
        assert "only volunteers who sign are suggested" in page.text
        assert 'href="/partner/volunteers"' in page.text and "who sign" in page.text
        assert (await client.get("/partner/volunteers")).status_code == 200
