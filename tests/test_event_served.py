"""Events close what they served (issue 18, item 6): a course attended to the end closes the
household's vocational-training request, a hire at a job fair its job-placement request; course and
fair offerings reach households by invitation and never appear as claimable requests on a board."""

from __future__ import annotations

import pytest

from alliance.core.access import principal_for
from alliance.core.codes import RequestStatus
from alliance.core.errors import NotFound
from alliance.core.i18n import language
from alliance.events.attendance import record_attendance
from alliance.events.outcomes import record_outcome
from alliance.events.registrations import register_on_behalf
from alliance.events.served import sessions_to_complete
from alliance.matching.board import BoardFilters, board_page, history
from alliance.matching.claims import claim_request
from alliance.matching.matching import match_requests
from alliance.matching.models import Match, ServiceRequest
from alliance.notifications.models import Notification
from alliance.partners.offerings import OfferingForm, save_offering
from tests.events_support import add_trainee, build_event_world, published, session_line, start_sessions_now


def test_a_course_is_completed_at_four_fifths_of_its_sessions():
    assert [sessions_to_complete(n) for n in (1, 2, 3, 5, 10)] == [1, 2, 3, 4, 8]


async def test_a_course_attended_to_the_end_closes_the_training_request_and_says_so_in_its_history():
    world = await build_event_world()
    trainee = await add_trainee(world.left, "学员")
    event = await published(world)
    registration = (await register_on_behalf(await world.worker(), trainee.id, event.id)).registration
    sessions = await start_sessions_now(event)
    partner = await world.principal("dispatcher")
    request = await ServiceRequest.get(household_id=trainee.id)

    for session in sessions[:2]:
        await record_attendance(partner, session.id, [registration.id])
    assert (await ServiceRequest.get(id=request.id)).status == RequestStatus.OPEN

    await record_attendance(partner, sessions[2].id, [registration.id])
    closed = await ServiceRequest.get(id=request.id)
    assert closed.status == RequestStatus.COMPLETED and closed.close_reason == "completed"
    assert closed.active_key is None
    last = (await history(request.id))[-1]
    assert last.kind == "course_completed" and "3/3" in last.note
    assert last.kind_label == "已关闭：该户已完成培训课程"
    with language("en"):
        assert (await history(request.id))[-1].kind_label == "Closed: the household completed a course"


async def test_a_hire_closes_the_job_request_and_tells_the_partner_that_held_it():
    world = await build_event_world(need="JOB_PLACEMENT")
    seeker = await add_trainee(world.left, "求职者", need="JOB_PLACEMENT")
    fair = await published(world, kind="job_fair", sessions=session_line(3, 9, 6), employers="鹿城物业: 保安")
    await register_on_behalf(await world.worker(), seeker.id, fair.id)
    request = await ServiceRequest.get(household_id=seeker.id)
    # Another partner holds the household's job request (a home-visit job coach, say).
    await ServiceRequest.filter(id=request.id).update(
        status=RequestStatus.CLAIMED, claimed_by_id=world.left.partner.id
    )

    await record_outcome(await world.principal(), fair.id, seeker.id, "interview", "鹿城物业", "保安")
    assert (await ServiceRequest.get(id=request.id)).status == RequestStatus.CLAIMED
    await record_outcome(await world.principal(), fair.id, seeker.id, "hire", "鹿城物业", "保安")

    closed = await ServiceRequest.get(id=request.id)
    assert closed.status == RequestStatus.COMPLETED
    assert (await history(request.id))[-1].kind == "hired"
    holder_staff = {user.id for user in world.left.users.values() if user.partner_id == world.left.partner.id}
    told = await Notification.filter(user_id__in=holder_staff, channel="in_app")
    assert told and all(str(request.id) in notice.body for notice in told)
    # The same hire recorded again changes nothing and tells nobody twice.
    await record_outcome(await world.worker(), fair.id, seeker.id, "hire", "鹿城物业", "保安")
    assert await Notification.filter(user_id__in=holder_staff, channel="in_app").count() == len(told)


async def test_course_offerings_are_never_on_a_claim_board_but_home_visits_are():
    world = await build_event_world()
    trainee = await add_trainee(world.left, "上门")
    request = await ServiceRequest.get(household_id=trainee.id)
    await match_requests([request.id], notify=False)
    assert not await Match.filter(offering_id=world.offering.id).exists()
    trainer = await world.principal()
    page = await board_page(trainer, BoardFilters())
    assert request.id not in [item.request_id for item in page.items]
    with pytest.raises(NotFound):
        await claim_request(trainer, request.id)

    # The same partner's home-visit tutoring for the same need is matched and claimable.
    await save_offering(
        trainer,
        OfferingForm(
            title="上门技能辅导",
            need="VOCATIONAL_TRAINING",
            base_lat=str(world.offering.base_lat),
            base_lon=str(world.offering.base_lon),
            radius_km="20",
            monthly_capacity="10",
            delivery_mode="home_visit",
        ),
    )
    await match_requests([request.id], notify=False)
    page = await board_page(trainer, BoardFilters())
    assert request.id in [item.request_id for item in page.items]
    claimed = await claim_request(trainer, request.id)
    assert claimed.offering.delivery_mode == "home_visit"
    assert (await principal_for(world.users["partner_admin"])).partner_id == world.partner.id
