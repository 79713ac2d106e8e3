"""A partner's lifecycle (alliance/partners/review.py, alliance/events/partner_lifecycle.py): the
coordinator of its region or the admin suspends, reinstates and closes it with a reason kept in its
history; a suspension or closure gives its open claims back to the board and calls off its scheduled
visits (the household told); reinstating gives its powers back; closed is for good. What its staff
may do in each state: tests/test_access.py walks every route."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alliance.core.access import Action, allows, principal_for, visible
from alliance.core.codes import PartnerStatus, RegistrationStatus, RequestStatus, VisitStatus
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.models import AuditEntry
from alliance.core.timeutil import utc_now
from alliance.events.codes import EventStatus
from alliance.events.invitations import invite_households
from alliance.events.models import Event, EventInvitation, Registration
from alliance.events.partner_lifecycle import change_partner_status
from alliance.events.registrations import register_by_partner
from alliance.matching.claims import claim_request
from alliance.matching.matching import match_requests
from alliance.matching.models import Match, RequestTransition, ServiceRequest
from alliance.matching.transfers import ask_transfer, auto_approve_due_transfers
from alliance.notifications.models import Notification
from alliance.partners.models import Partner
from alliance.partners.review import partner_history
from alliance.visits.checkins import check_in_by_gps
from alliance.visits.models import Visit, VolunteerBooking
from alliance.visits.scheduling import schedule_visit
from tests.claims_support import build_claim_world
from tests.conftest import TEST_SECRET
from tests.events_support import ASKED_BY_PHONE, add_trainee, build_event_world, published
from tests.factories import login, session_csrf
from tests.visits_support import NEAR, add_volunteer, build_visit_world, more_claimed_requests, window


@pytest.fixture
async def world():
    """The left partner holds two claims: one not yet scheduled, one with a visit in two days."""
    world = await build_visit_world()
    [scheduled] = await more_claimed_requests(world, 1)
    ann = await add_volunteer(world.partner, "安志愿")
    world.volunteer = ann
    world.visit = (await schedule_visit(world.dispatcher, scheduled.id, *window(2, 10), [ann.id])).visit
    world.scheduled = scheduled
    return world


async def _coordinator(world):
    return await principal_for(world.claims.left.users["coordinator"])


async def _change(client, partner_id: int, status: str, reason: str):
    return await client.post(
        f"/admin/partners/{partner_id}/status",
        data={"status": status, "reason": reason, "from": "page"},
        headers={"X-CSRF-Token": session_csrf(client)},
    )


async def test_suspended_partner_claims_return_to_the_board_with_history_and_audit(client, world):
    partner = world.partner
    await login(client, "coordA")
    response = await _change(client, partner.id, "suspended", "投诉核实中")
    assert response.status_code == 303 and response.headers["location"] == f"/admin/partners/{partner.id}"
    assert (await Partner.get(id=partner.id)).status == PartnerStatus.SUSPENDED
    for request_id in (world.request.id, world.scheduled.id):
        request = await ServiceRequest.get(id=request_id)
        assert (request.status, request.claimed_by_id, request.offering_id) == (
            RequestStatus.OPEN,
            None,
            None,
        )
        last = await RequestTransition.filter(request_id=request_id).order_by("-id").first()
        assert last.to_status == RequestStatus.OPEN and last.reason == "partner_suspended: 投诉核实中"
        assert last.partner_id == partner.id
        audit = await AuditEntry.get(action="request.release", object_id=str(request_id))
        assert audit.details["partner"] == partner.id and audit.details["reason"] == "投诉核实中"
    # Re-matched (the route queued match_requests_job; run here in place), the rival partner finds it
    # on its board again, and the suspended partner is matched to nothing.
    await match_requests([world.request.id, world.scheduled.id], notify=False)
    rival = await world.claims.rival.principal()
    assert await visible(rival, Action.VIEW_BOARD).filter(id=world.request.id).exists()
    assert not await Match.filter(partner_id=partner.id).exists()
    # The visit is called off through the visits' own service: volunteers freed, household told.
    visit = await Visit.get(id=world.visit.id)
    assert visit.status == VisitStatus.CANCELLED and visit.schedule_version == 2
    assert not await VolunteerBooking.filter(visit_id=visit.id, active=True).exists()
    scheduled_household = (await ServiceRequest.get(id=world.scheduled.id)).household_id
    assert await Notification.filter(visit_id=visit.id, household_id=scheduled_household).count() >= 2
    assert await AuditEntry.filter(action="visit.cancel", object_id=str(visit.id)).exists()
    # The history names who, when and why, on the reviewer's page and on the partner's own.
    entry = await AuditEntry.get(action="partner.suspended", object_id=str(partner.id))
    assert entry.details == {"from": "approved", "to": "suspended", "reason": "投诉核实中"}
    page = await client.get(f"/admin/partners/{partner.id}")
    assert "投诉核实中" in page.text
    await client.post("/logout", data={"csrf_token": session_csrf(client)})
    await login(client, "padminA")
    own = await client.get("/partner")
    assert own.status_code == 200 and "投诉核实中" in own.text
    told = await Notification.filter(user_id=world.claims.home.admin.id).order_by("-id").first()
    assert "投诉核实中" in told.body


async def test_suspended_partner_cannot_claim_again(world):
    coordinator = await _coordinator(world)
    await change_partner_status(coordinator, world.partner.id, PartnerStatus.SUSPENDED, "核查")
    dispatcher = await world.claims.home.principal()
    assert dispatcher.partner_status == PartnerStatus.SUSPENDED
    for action in (Action.VIEW_BOARD, Action.CLAIM_REQUESTS, Action.HOLD_REQUESTS, Action.MANAGE_EVENTS):
        assert not allows(dispatcher, action)
    assert allows(dispatcher, Action.VIEW_PARTNER)


async def test_a_reason_is_required_to_suspend_and_nothing_changes_without_it(client, world):
    await login(client, "coordA")
    response = await _change(client, world.partner.id, "suspended", "   ")
    assert response.status_code == 422 and 'id="reason-error"' in response.text
    assert (await Partner.get(id=world.partner.id)).status == PartnerStatus.APPROVED
    assert (await ServiceRequest.get(id=world.request.id)).status == RequestStatus.CLAIMED
    assert (await Visit.get(id=world.visit.id)).status == VisitStatus.SCHEDULED


async def test_reinstating_restores_powers_and_released_claims_stay_released(world):
    coordinator = await _coordinator(world)
    await change_partner_status(coordinator, world.partner.id, PartnerStatus.SUSPENDED, "核查")
    outcome = await change_partner_status(coordinator, world.partner.id, PartnerStatus.APPROVED, "核查无误")
    assert outcome.released_request_ids == [] and outcome.cancelled_visit_ids == []
    dispatcher = await world.claims.home.principal()
    assert allows(dispatcher, Action.CLAIM_REQUESTS) and allows(dispatcher, Action.VIEW_BOARD)
    request = await ServiceRequest.get(id=world.request.id)
    assert request.status == RequestStatus.OPEN and request.claimed_by_id is None
    history = await partner_history(coordinator, world.partner.id)
    assert [(entry.action, entry.reason) for entry in history] == [
        ("reinstated", "核查无误"),
        ("suspended", "核查"),
    ]


async def test_a_closed_partner_cannot_be_reinstated(client, world):
    coordinator = await _coordinator(world)
    outcome = await change_partner_status(coordinator, world.partner.id, PartnerStatus.CLOSED, "机构注销")
    assert set(outcome.released_request_ids) == {world.request.id, world.scheduled.id}
    with pytest.raises(InvalidInput) as refused:
        await change_partner_status(coordinator, world.partner.id, PartnerStatus.APPROVED, "重新开放")
    assert "status" in refused.value.errors
    await login(client, "admin")
    response = await _change(client, world.partner.id, "approved", "重新开放")
    assert response.status_code == 422
    assert (await Partner.get(id=world.partner.id)).status == PartnerStatus.CLOSED
    page = await client.get(f"/admin/partners/{world.partner.id}")
    assert 'name="status"' not in page.text


async def test_only_the_regions_coordinator_or_the_admin_change_the_lifecycle(client, world):
    right_coordinator = await principal_for(world.claims.right.users["coordinator"])
    with pytest.raises(NotFound):
        await change_partner_status(right_coordinator, world.partner.id, PartnerStatus.SUSPENDED, "越权")
    await login(client, "padminA")
    assert (await _change(client, world.partner.id, "suspended", "自停")).status_code == 403
    assert (await Partner.get(id=world.partner.id)).status == PartnerStatus.APPROVED


async def test_volunteer_of_a_suspended_partner_cannot_check_in(world):
    # Suspended by hand, so the visit is still scheduled: the check-in itself must refuse.
    await Partner.filter(id=world.partner.id).update(status=PartnerStatus.SUSPENDED)
    volunteer_user = await _volunteer_user(world)
    with pytest.raises(NotFound):
        await check_in_by_gps(await principal_for(volunteer_user), world.visit.id, NEAR[0], NEAR[1])
    assert (await Visit.get(id=world.visit.id)).status == VisitStatus.SCHEDULED


async def _volunteer_user(world):
    from alliance.core.accounts import create_user
    from alliance.core.codes import Role
    from tests.factories import PASSWORD

    return await create_user("vol-ann", PASSWORD, Role.VOLUNTEER, volunteer_id=world.volunteer.id)


async def test_suspending_a_partner_cancels_its_events_not_yet_over_and_tells_the_households(app):
    event_world = await build_event_world()
    household = await add_trainee(event_world.left, "学员")
    event = await published(event_world)
    await invite_households(event.id, TEST_SECRET)
    registered = await register_by_partner(
        await event_world.principal(), event.id, household.id, ASKED_BY_PHONE
    )
    assert registered.registration.status == RegistrationStatus.REGISTERED
    coordinator = await principal_for(event_world.left.users["coordinator"])

    outcome = await change_partner_status(coordinator, event_world.partner.id, "suspended", "资质核查")

    assert outcome.cancelled_event_ids == [event.id]
    assert (await Event.get(id=event.id)).status == EventStatus.CANCELLED
    registration = await Registration.get(event_id=event.id, household_id=household.id)
    assert registration.status == RegistrationStatus.CANCELLED and registration.cancel_reason == "资质核查"
    assert await Notification.filter(household_id=household.id, kind="event_cancelled").exists()
    assert await AuditEntry.filter(action="event.cancel", object_id=str(event.id)).exists()


async def test_invitation_job_of_a_suspended_partner_reaches_no_household(app):
    event_world = await build_event_world()
    await add_trainee(event_world.left, "近")
    event = await published(event_world)
    await Partner.filter(id=event_world.partner.id).update(status=PartnerStatus.SUSPENDED)
    run = await invite_households(event.id, TEST_SECRET)
    assert run.invited == 0 and run.notification_ids == []
    assert await EventInvitation.filter(event_id=event.id).count() == 0
    # Approved again, the same job invites.
    await Partner.filter(id=event_world.partner.id).update(status=PartnerStatus.APPROVED)
    assert (await invite_households(event.id, TEST_SECRET)).invited == 1


async def test_a_transfer_asked_by_a_partner_since_suspended_is_denied_not_handed_over(app):
    claims = await build_claim_world()
    await claim_request(await claims.home.principal(), claims.request.id)
    asked = await ask_transfer(await claims.rival.principal(), claims.request.id, "想接手")
    coordinator = await principal_for(claims.left.users["coordinator"])
    await change_partner_status(coordinator, claims.rival.partner.id, PartnerStatus.SUSPENDED, "核查")
    sweep = await auto_approve_due_transfers(now=utc_now() + timedelta(hours=37))
    assert sweep.approved == [] and sweep.denied == [asked.transfer.id]
    assert (await ServiceRequest.get(id=claims.request.id)).claimed_by_id == claims.home.partner.id
