"""Event registration is the household's choice: a partner may register a household that asked it
to (recorded as such), but the seat waits for the household's confirmation (its personal link or its
community worker) before the partner sees its name or phone; every view of a registrant's contact is
audited; an unconfirmed registration lapses and its seat is handed on."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from alliance.core.errors import NotFound
from alliance.core.models import AuditEntry
from alliance.events import notices
from alliance.events.invitations import invite_households
from alliance.events.models import Event, EventSession, Registration
from alliance.events.outcomes import record_outcome
from alliance.events.registrations import (
    lapse_unconfirmed_registrations,
    register_by_link,
    register_by_partner,
    registration_token,
)
from alliance.notifications.models import Notification
from tests.conftest import TEST_SECRET
from tests.events_support import ASKED_BY_PHONE, add_trainee, build_event_world, published, session_line
from tests.factories import csrf_from, login, session_csrf

NAME, PHONE = "来电户", "13912340000"


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def _invited_world(seats: str = "5"):
    world = await build_event_world()
    household = await add_trainee(world.left, NAME, phone=PHONE)
    event = await published(world, seats=seats, waitlist_margin="5")
    await invite_households(event.id, TEST_SECRET)
    return world, household, event


async def _register_as_partner(client: httpx.AsyncClient, event: Event, household_id: int, **fields: str):
    return await client.post(
        f"/partner/events/{event.id}/register",
        data={"household_id": str(household_id), **fields},
        headers={"X-CSRF-Token": session_csrf(client)},
    )


async def _contact_views(household_id: int) -> int:
    return await AuditEntry.filter(
        action="registration.contact_view", object_type="household", object_id=str(household_id)
    ).count()


async def test_partner_registration_holds_a_seat_but_shows_no_contact_until_the_household_confirms(
    app, monkeypatch
):
    monkeypatch.setenv("ALLIANCE_PUBLIC_URL", "https://alliance.example.gov.cn")
    world, household, event = await _invited_world()
    async with _client(app) as client:
        await login(client, "trainadmin")
        done = await _register_as_partner(
            client, event, household.id, asked_via="phone", asked_at="", asked_note="王老师接的电话"
        )
        assert done.status_code == 303
        page = await client.get(f"/partner/events/{event.id}")
        assert page.status_code == 200
        assert NAME not in page.text and PHONE not in page.text
        assert "awaiting the household" in page.text and "王老师接的电话" in page.text
        session = await client.get(
            f"/partner/sessions/{(await EventSession.filter(event_id=event.id))[0].id}"
        )
        assert NAME not in session.text
    registration = await Registration.get(event_id=event.id, household_id=household.id)
    assert registration.status == "registered" and registration.confirmed_at is None
    assert registration.asked_via == "phone" and registration.asked_at is not None
    assert registration.registered_by_id == world.users["partner_admin"].id  # type: ignore[attr-defined]
    assert registration.confirm_by is not None
    assert (await Event.get(id=event.id)).seats_taken == 1
    # The household is asked, in its channel, with its personal link.
    asked = await Notification.get(household_id=household.id, kind=notices.CONFIRMATION_REQUEST)
    assert "https://alliance.example.gov.cn/event-registration/" in asked.body
    audit = await AuditEntry.get(action="event.register", object_id=str(registration.id))
    assert audit.actor_id == world.users["partner_admin"].id  # type: ignore[attr-defined]
    assert audit.details["asked"]["via"] == "phone" and audit.details["confirmed"] is False
    assert await _contact_views(household.id) == 0
    # Nor can the partner attach an outcome (which would show the name) before the confirmation.
    with pytest.raises(NotFound):
        await record_outcome(await world.principal(), event.id, household.id, "interview")


async def test_partner_registration_needs_how_the_household_asked(app):
    _world, household, event = await _invited_world()
    async with _client(app) as client:
        await login(client, "trainadmin")
        refused = await _register_as_partner(client, event, household.id, asked_via="", asked_at="tomorrow")
        assert refused.status_code == 422
        assert "how the household asked" in refused.text and "give a date and time" in refused.text
    assert not await Registration.exists(event_id=event.id, household_id=household.id)


async def test_confirmation_by_link_reveals_the_contact_and_every_view_is_audited(app):
    world, household, event = await _invited_world()
    partner = await world.principal()
    await register_by_partner(partner, event.id, household.id, ASKED_BY_PHONE, TEST_SECRET)
    path = f"/event-registration/{registration_token(TEST_SECRET, event.id, household.id, None)}"
    async with _client(app) as client:
        page = await client.get(path)
        assert "holds a place for you" in page.text
        answered = await client.post(path, data={"csrf_token": csrf_from(page.text), "answer": "register"})
        assert answered.status_code == 303
    registration = await Registration.get(event_id=event.id, household_id=household.id)
    assert registration.confirmed_at is not None and registration.confirmed_via == "link"
    assert (await Event.get(id=event.id)).seats_taken == 1  # the same seat, not a second one
    async with _client(app) as client:
        await login(client, "trainadmin")
        for _view in range(2):
            page = await client.get(f"/partner/events/{event.id}")
            assert NAME in page.text and PHONE in page.text
    views = await AuditEntry.filter(action="registration.contact_view", object_id=str(household.id))
    assert len(views) == 2
    assert all(view.actor_id == world.users["partner_admin"].id for view in views)  # type: ignore[attr-defined]
    assert views[0].details == {"event": event.id, "registration": registration.id, "shown": "name_phone"}


async def test_confirmation_by_the_community_worker_reveals_the_contact(app):
    world, household, event = await _invited_world()
    await register_by_partner(await world.principal(), event.id, household.id, ASKED_BY_PHONE, TEST_SECRET)
    async with _client(app) as client:
        await login(client, world.left.users["community_worker"].username)
        page = await client.get(f"/households/{household.id}/events")
        assert "The household confirms" in page.text
        done = await client.post(
            f"/households/{household.id}/events/{event.id}/register",
            headers={"X-CSRF-Token": session_csrf(client)},
        )
        assert done.status_code == 303
    registration = await Registration.get(event_id=event.id, household_id=household.id)
    assert registration.confirmed_via == "community_worker"
    assert await AuditEntry.exists(action="event.confirm_registration", object_id=str(registration.id))
    async with _client(app) as client:
        await login(client, "trainadmin")
        page = await client.get(f"/partner/events/{event.id}")
        assert NAME in page.text and PHONE in page.text
    assert await _contact_views(household.id) == 1


async def test_an_unconfirmed_registration_lapses_and_its_seat_goes_to_the_waiting_list():
    world, household, event = await _invited_world(seats="1")
    waiting = await add_trainee(world.left, "候补户")
    partner = await world.principal()
    held = (
        await register_by_partner(partner, event.id, household.id, ASKED_BY_PHONE, TEST_SECRET)
    ).registration
    assert held is not None and held.status == "registered"
    await register_by_link(TEST_SECRET, registration_token(TEST_SECRET, event.id, waiting.id, None))
    assert (await Registration.get(household_id=waiting.id)).status == "waitlisted"

    early = await lapse_unconfirmed_registrations(TEST_SECRET)
    assert early.lapsed == 0 and (await Registration.get(id=held.id)).status == "registered"

    run = await lapse_unconfirmed_registrations(TEST_SECRET, now=held.confirm_by + timedelta(minutes=1))  # type: ignore[operator]
    assert run.lapsed == 1
    lapsed = await Registration.get(id=held.id)
    assert lapsed.status == "cancelled" and lapsed.cancel_reason.startswith("lapsed")
    promoted = await Registration.get(household_id=waiting.id)
    assert promoted.status == "registered" and promoted.confirmed_at is not None
    assert (await Event.get(id=event.id)).seats_taken == 1
    assert await AuditEntry.exists(action="event.registration_lapsed", object_id=str(held.id))
    # Twice is once; a confirmed registration never lapses.
    again = await lapse_unconfirmed_registrations(TEST_SECRET, now=held.confirm_by + timedelta(days=30))  # type: ignore[operator]
    assert again.lapsed == 0 and (await Registration.get(id=promoted.id)).status == "registered"


async def test_the_confirmation_deadline_is_never_after_the_first_session():
    world = await build_event_world()
    household = await add_trainee(world.left, NAME, phone=PHONE)
    event = await published(world, sessions=session_line(1, 9))
    await invite_households(event.id, TEST_SECRET)
    first = await EventSession.get(event_id=event.id)
    outcome = await register_by_partner(await world.principal(), event.id, household.id, ASKED_BY_PHONE)
    assert outcome.registration is not None
    assert outcome.registration.confirm_by == first.starts_at
