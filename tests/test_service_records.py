"""Check-out and the service record (alliance/visits/service_records.py): the lifecycle refusals, the record
and its person-times, the six-aspect risk check turning into follow-ups and a later visit closing
them, confirmation by code or by the community worker, ratings, and a coordinator's correction."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from alliance.core.access import principal_for
from alliance.core.codes import CloseReason, RequestStatus, VisitStatus
from alliance.core.errors import InvalidInput, NotFound, PermissionDenied
from alliance.core.i18n import language
from alliance.core.models import AuditEntry
from alliance.core.timeutil import utc_now
from alliance.matching.claims import InvalidTransition
from alliance.matching.models import ServiceRequest
from alliance.notifications.models import Notification
from alliance.visits.checkins import check_in_by_gps
from alliance.visits.models import RiskCheck, ServiceRecord, Visit
from alliance.visits.scheduling import VolunteerDoubleBooked, schedule_visit
from alliance.visits.service_records import (
    check_out,
    confirm_by_code,
    confirm_service,
    correct_record,
    open_risks_of,
    rate_service,
    unconfirmed_visits,
)
from tests.checkin_support import build_door_world, risks
from tests.visits_support import more_claimed_requests

AT_THE_DOOR = (28.0155, 120.655)


def form(**overrides):
    fields = {
        "service": "Cleaned the kitchen, checked the medicine box",
        "duration_minutes": "90",
        "persons_served": "2",
        "notes": "",
        "risks": risks(),
    }
    fields.update(overrides)
    return fields


async def checked_in_world(suffix: str = "door"):
    world = await build_door_world(suffix)
    await check_in_by_gps(await world.volunteer_principal(), world.visit.id, *AT_THE_DOOR)
    return world


async def follow_up_visit(world, request_id: int) -> Visit:
    """A visit after the first one's window (still booked for it), checked in early."""
    start = utc_now() + timedelta(hours=2)
    outcome = await schedule_visit(
        world.visits.dispatcher, request_id, start, start + timedelta(hours=1), [world.volunteer.id]
    )
    return outcome.visit


async def test_no_check_out_without_a_check_in():
    world = await build_door_world()
    with language("en"), pytest.raises(InvalidTransition) as refused:
        await check_out(await world.volunteer_principal(), world.visit.id, **form())
    assert "Check in" in str(refused.value)
    assert await ServiceRecord.all().count() == 0


async def test_check_out_records_the_service_and_completes_visit_and_request():
    world = await checked_in_world()

    outcome = await check_out(await world.volunteer_principal(), world.visit.id, client_key="out-1", **form())

    assert outcome.created
    record = await ServiceRecord.get(visit_id=world.visit.id)
    assert record.persons_served == 2 and record.duration_minutes == 90
    assert len(record.confirmation_code) == 6
    assert (await Visit.get(id=world.visit.id)).status == VisitStatus.COMPLETED
    request = await ServiceRequest.get(id=world.visits.request.id)
    assert request.status == RequestStatus.COMPLETED and request.close_reason == CloseReason.COMPLETED
    assert request.active_key is None
    assert await RiskCheck.filter(record_id=record.id).count() == 6
    # The household is sent its confirmation code, in its channel (SMS: it has a phone).
    notice = await Notification.get(kind="service_confirmation", visit_id=world.visit.id)
    assert record.confirmation_code in notice.body and notice.channel == "sms"


async def test_every_bad_field_is_named_and_nothing_is_written():
    world = await checked_in_world()
    bad = form(
        service=" ",
        duration_minutes="ninety",
        persons_served="5",
        risks={**risks(), "health": ("high", ""), "care": ("extreme", "")},
    )

    with language("en"), pytest.raises(InvalidInput) as refused:
        await check_out(await world.volunteer_principal(), world.visit.id, **bad)

    assert set(refused.value.errors) == {
        "service",
        "duration_minutes",
        "persons_served",
        "risk_health_note",
        "risk_care",
    }
    assert "2 members" in refused.value.errors["persons_served"]
    assert await ServiceRecord.all().count() == 0
    assert (await Visit.get(id=world.visit.id)).status == VisitStatus.CHECKED_IN


async def test_a_check_out_sent_twice_is_recorded_once_and_a_third_is_refused():
    world = await checked_in_world()
    volunteer = await world.volunteer_principal()

    outcomes = await asyncio.gather(
        *(check_out(volunteer, world.visit.id, client_key="same-key", **form()) for _ in range(6)),
        return_exceptions=True,
    )

    assert [outcome for outcome in outcomes if isinstance(outcome, BaseException)] == []
    assert sum(1 for outcome in outcomes if outcome.created) == 1
    assert await ServiceRecord.all().count() == 1
    assert await Notification.filter(kind="service_confirmation").count() == 1
    with language("en"), pytest.raises(InvalidTransition) as refused:
        await check_out(volunteer, world.visit.id, client_key="another-key", **form())
    assert "coordinator" in str(refused.value)


async def test_a_medium_risk_becomes_a_request_for_the_matching_need():
    world = await checked_in_world()

    outcome = await check_out(
        await world.volunteer_principal(), world.visit.id, **form(risks=risks(economy="medium", health="low"))
    )

    assert len(outcome.follow_up_request_ids) == 1
    follow_up = await ServiceRequest.get(id=outcome.follow_up_request_ids[0])
    assert follow_up.need_id == "BENEFITS_HELP" and follow_up.status == RequestStatus.OPEN
    assert follow_up.household_id == world.household.id
    # It is queued for matching through the outbox, in the same transaction.
    assert outcome.job_ids == [f"match:follow-ups:visit{world.visit.id}"]
    coordinator = await world.coordinator()
    open_risks = await open_risks_of(coordinator, world.household.id)
    assert [(risk.aspect, risk.level) for risk in open_risks] == [("economy", "medium")]


async def test_a_risk_of_the_need_just_served_becomes_a_follow_up_visit_for_the_same_partner():
    world = await checked_in_world()

    outcome = await check_out(
        await world.volunteer_principal(), world.visit.id, **form(risks=risks(care="high"))
    )

    follow_up = await ServiceRequest.get(id=outcome.follow_up_request_ids[0])
    assert follow_up.need_id == "HOME_CARE"
    assert follow_up.status == RequestStatus.CLAIMED
    assert follow_up.claimed_by_id == world.visits.partner.id


async def test_a_later_visit_that_finds_the_risk_gone_closes_it_and_its_untaken_follow_up():
    world = await checked_in_world()
    volunteer = await world.volunteer_principal()
    first = await check_out(volunteer, world.visit.id, **form(risks=risks(economy="high", care="medium")))
    needs = {
        request.need_id: request.id
        for request in await ServiceRequest.filter(id__in=first.follow_up_request_ids)
    }
    benefits_request, care_request = needs["BENEFITS_HELP"], needs["HOME_CARE"]

    # The follow-up visit for care, scheduled by the same partner, finds both risks gone.
    second_visit = await follow_up_visit(world, care_request)
    await check_in_by_gps(volunteer, second_visit.id, *AT_THE_DOOR)
    second = await check_out(volunteer, second_visit.id, **form(risks=risks()))

    assert len(second.resolved_risk_ids) == 2
    assert await open_risks_of(await world.coordinator(), world.household.id) == []
    closed = await ServiceRequest.get(id=benefits_request)
    assert closed.status == RequestStatus.CANCELLED and closed.close_reason == CloseReason.DONE_BY_OTHERS
    assert (await ServiceRequest.get(id=care_request)).status == RequestStatus.COMPLETED


async def test_a_risk_still_there_keeps_one_follow_up_instead_of_making_another():
    world = await checked_in_world()
    volunteer = await world.volunteer_principal()
    first = await check_out(volunteer, world.visit.id, **form(risks=risks(care="medium")))
    visit = await follow_up_visit(world, first.follow_up_request_ids[0])
    await check_in_by_gps(volunteer, visit.id, *AT_THE_DOOR)
    second = await check_out(volunteer, visit.id, **form(risks=risks(care="high")))

    still_open = await open_risks_of(await world.coordinator(), world.household.id)
    assert [(risk.aspect, risk.level) for risk in still_open] == [("care", "high")]
    # The care need served again: a new follow-up for the partner (the previous one was this visit).
    assert len(second.follow_up_request_ids) == 1
    assert await ServiceRequest.filter(household_id=world.household.id, status="claimed").count() == 1


async def test_the_household_confirms_with_its_code_and_a_wrong_code_is_refused():
    world = await checked_in_world()
    await check_out(await world.volunteer_principal(), world.visit.id, **form())
    record = await ServiceRecord.get(visit_id=world.visit.id)
    household = await principal_for(world.visits.claims.left.users["household"])
    coordinator = await world.coordinator()
    assert [row.visit_id for row in await unconfirmed_visits(coordinator)] == [world.visit.id]

    with pytest.raises(InvalidInput):
        await confirm_service(
            household, world.visit.id, "000000" if record.confirmation_code != "000000" else "1"
        )
    confirmed = await confirm_service(household, world.visit.id, record.confirmation_code)

    assert confirmed.confirmed_at is not None and confirmed.confirmed_by_id is None
    assert await unconfirmed_visits(coordinator) == []


async def test_the_community_worker_confirms_on_behalf_and_it_is_recorded_as_theirs():
    world = await checked_in_world()
    await check_out(await world.volunteer_principal(), world.visit.id, **form())
    worker_user = world.visits.claims.left.users["community_worker"]

    confirmed = await confirm_service(await principal_for(worker_user), world.visit.id)

    assert confirmed.confirmed_by_id == worker_user.id
    stranger = await principal_for(world.visits.claims.right.users["community_worker"])
    with pytest.raises(NotFound):
        await confirm_service(stranger, world.visit.id)


async def test_the_personal_link_confirms_only_its_own_households_visit():
    world = await checked_in_world()
    await check_out(await world.volunteer_principal(), world.visit.id, **form())
    record = await ServiceRecord.get(visit_id=world.visit.id)
    with pytest.raises(NotFound):
        await confirm_by_code(
            world.visits.claims.right.household.id, world.visit.id, record.confirmation_code
        )
    assert (await confirm_by_code(world.household.id, world.visit.id, record.confirmation_code)).confirmed_at


async def test_a_low_rating_reaches_the_regions_coordinators_and_a_good_one_does_not():
    world = await checked_in_world()
    await check_out(await world.volunteer_principal(), world.visit.id, **form())
    household = await principal_for(world.visits.claims.left.users["household"])

    assert await rate_service(household, world.visit.id, 5, "very kind") == []
    notices = await rate_service(household, world.visit.id, 1, "nobody came back")

    coordinator_id = world.visits.claims.left.users["coordinator"].id
    told = await Notification.filter(id__in=notices)
    assert [notice.user_id for notice in told] == [coordinator_id]
    assert "nobody came back" in told[0].body
    with pytest.raises(InvalidInput):
        await rate_service(household, world.visit.id, 9)


async def test_only_a_coordinator_corrects_a_completed_record_and_the_old_values_are_kept():
    world = await checked_in_world()
    volunteer = await world.volunteer_principal()
    await check_out(volunteer, world.visit.id, **form())

    with pytest.raises(PermissionDenied):
        await correct_record(volunteer, world.visit.id, reason="typo", persons_served=1)
    with pytest.raises(InvalidInput):
        await correct_record(await world.coordinator(), world.visit.id, reason="", persons_served=1)
    with pytest.raises(NotFound):
        await correct_record(
            await world.coordinator("right"), world.visit.id, reason="typo", persons_served=1
        )
    corrected = await correct_record(
        await world.coordinator(), world.visit.id, reason="one was away", persons_served=1
    )

    assert corrected.persons_served == 1
    entry = await AuditEntry.get(action="service_record.corrected")
    assert entry.details["before"]["persons_served"] == 2 and entry.details["reason"] == "one was away"


async def test_a_finished_visit_frees_its_volunteer_for_the_rest_of_its_window():
    """Checked out early: the volunteer can be booked again within the window the visit had, while
    a visit still to be done keeps blocking its window."""
    world = await checked_in_world()
    another, third = await more_claimed_requests(world.visits, 2)
    start = world.visit.window_start + timedelta(minutes=15)
    with pytest.raises(VolunteerDoubleBooked):  # the visit is not done yet: its window is taken
        await schedule_visit(
            world.visits.dispatcher, another.id, start, start + timedelta(minutes=45), [world.volunteer.id]
        )

    await check_out(await world.volunteer_principal(), world.visit.id, **form())

    outcome = await schedule_visit(
        world.visits.dispatcher, another.id, start, start + timedelta(minutes=45), [world.volunteer.id]
    )
    assert outcome.visit.status == VisitStatus.SCHEDULED
    with pytest.raises(VolunteerDoubleBooked):  # and that new visit blocks its own window in turn
        await schedule_visit(
            world.visits.dispatcher, third.id, start, start + timedelta(minutes=45), [world.volunteer.id]
        )
