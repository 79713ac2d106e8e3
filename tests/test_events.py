"""Events (alliance/events/): invitations matched by need, eligibility, distance and venue access,
best first; seats and the waiting list (also under real concurrency on PostgreSQL); the deadline;
attendance counted into person-times once; employment outcomes; reminders once; permissions."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest

from alliance.core.access import principal_for
from alliance.core.errors import InvalidInput, NotFound, PermissionDenied
from alliance.core.i18n import language
from alliance.core.timeutil import utc_now
from alliance.events import notices
from alliance.events.attendance import record_attendance, record_attendance_by_card
from alliance.events.codes import EventError, RegistrationClosed
from alliance.events.forms import event_form_of
from alliance.events.invitations import invite_households
from alliance.events.models import Attendance, Event, EventInvitation, EventSession, Registration
from alliance.events.outcomes import hires_in_region, record_outcome
from alliance.events.publishing import cancel_event, update_event
from alliance.events.registrations import (
    cancel_registration,
    link_target,
    register_by_link,
    register_by_partner,
    register_on_behalf,
    registration_path,
)
from alliance.households.models import Household
from alliance.matching.models import ServiceRequest
from alliance.notifications.models import Notification, OutboxJob
from alliance.targets.models import DeliveryParticipant, DeliveryTally
from alliance.targets.tallies import recount
from alliance.visits.cards import CardRefused, card_token, short_code
from tests.conftest import BACKEND, TEST_SECRET
from tests.events_support import (
    ASKED_BY_PHONE,
    FAR,
    MIDDLE,
    NEAR,
    add_trainee,
    build_event_world,
    community_at,
    published,
    start_sessions_now,
)
from tests.reminders_support import TEST_TIME_SCALE, relay_all


async def _registered_ids(event: Event) -> list[int]:
    return (
        await Registration.filter(event_id=event.id, status="registered")
        .order_by("id")
        .values_list("household_id", flat=True)
    )


async def test_invitations_match_need_eligibility_distance_and_venue_access_best_first():
    world = await build_event_world()
    side = world.left
    near = await add_trainee(side, "近", region_id=await community_at(side, NEAR))
    middle = await add_trainee(side, "中", at=MIDDLE, region_id=await community_at(side, MIDDLE))
    urgent_middle = await add_trainee(
        side, "急", at=MIDDLE, priority=100, region_id=await community_at(side, MIDDLE)
    )
    await add_trainee(side, "远", at=FAR, region_id=await community_at(side, FAR))
    await add_trainee(side, "求职", need="JOB_PLACEMENT")
    wheelchair = await add_trainee(side, "轮椅", accessibility=("WHEELCHAIR",))
    await add_trainee(side, "聋", accessibility=("DEAF",))  # the venue has no interpreter
    await add_trainee(side, "卧床", accessibility=("BEDRIDDEN",))
    claimed = await add_trainee(side, "已认领")
    await ServiceRequest.filter(household_id=claimed.id).update(status="claimed")
    event = await published(world, seats="10", waitlist_margin="0")

    run = await invite_households(event.id, TEST_SECRET)

    invitations = await EventInvitation.filter(event_id=event.id).order_by("rank")
    order = [invitation.household_id for invitation in invitations]
    assert order == [urgent_middle.id, near.id, wheelchair.id, middle.id] or order == [
        urgent_middle.id,
        wheelchair.id,
        near.id,
        middle.id,
    ]
    assert run.invited == 4
    by_household = {invitation.household_id: invitation for invitation in invitations}
    codes = [reason["code"] for reason in by_household[wheelchair.id].reasons]
    assert codes == ["need", "distance", "venue_accessible"]
    assert by_household[wheelchair.id].reasons[2]["features"] == ["step_free"]
    assert 0.5 < by_household[near.id].distance_km < 1.0
    assert all(invitation.notified_at is not None for invitation in invitations)


async def test_eligibility_flags_are_any_of_and_the_limit_is_seats_plus_margin():
    world = await build_event_world()
    side = world.left
    disabled = [await add_trainee(side, f"残{i}", flags=("DISABILITY",)) for i in range(4)]
    dibao = await add_trainee(side, "低保", flags=("SUBSISTENCE_ALLOWANCE", "UNEMPLOYED"))
    await add_trainee(side, "失业", flags=("UNEMPLOYED",))
    event = await published(
        world, seats="3", waitlist_margin="1", eligibility_flags=("DISABILITY", "SUBSISTENCE_ALLOWANCE")
    )

    await invite_households(event.id, TEST_SECRET)

    invited = set(await EventInvitation.filter(event_id=event.id).values_list("household_id", flat=True))
    assert len(invited) == 4
    assert invited <= {household.id for household in disabled} | {dibao.id}


async def test_invitations_reach_each_household_in_its_channel_and_a_second_run_adds_nothing():
    world = await build_event_world()
    side = world.left
    blind = await add_trainee(side, "盲", accessibility=("BLIND",), contact="SMS")
    no_phone = await add_trainee(side, "无电话", phone=None)
    texter = await add_trainee(side, "短信")
    event = await published(world, venue_accessibility=("step_free", "large_print"))

    first = await invite_households(event.id, TEST_SECRET)
    second = await invite_households(event.id, TEST_SECRET)

    assert first.invited == 3 and second.invited == 0
    rows = await Notification.filter(kind=notices.INVITATION).order_by("id")
    assert len(rows) == 3
    by_household = {row.household_id: row for row in rows}
    assert by_household[blind.id].channel == "voice"
    assert by_household[texter.id].channel == "sms"
    relayed = by_household[no_phone.id]
    assert relayed.channel == "in_app" and relayed.user_id == side.users["community_worker"].id
    assert "无电话" in relayed.body


async def test_publishing_queues_the_invitation_job_which_the_worker_runs(servers, arq_worker):
    world = await build_event_world()
    household = await add_trainee(world.left, "工人")
    event = await published(world)
    job = await OutboxJob.get(job_name="invite_event_households")
    assert job.args == [event.id]

    await relay_all(servers.redis_url, [job.job_id])
    await arq_worker.main()

    assert arq_worker.jobs_failed == 0
    invitation = await EventInvitation.get(event_id=event.id)
    assert invitation.household_id == household.id
    notice = await Notification.get(kind=notices.INVITATION)
    assert notice.status == "sent"


async def test_publishing_refuses_bad_fields_with_messages():
    world = await build_event_world()
    from alliance.events.publishing import publish_event
    from tests.events_support import training_form

    with pytest.raises(InvalidInput) as refused:
        await publish_event(
            await world.principal(),
            training_form(
                world, title="", seats="0", venue_lat="91", sessions="tomorrow morning", kind="job_fair"
            ),
        )
    assert {"title", "seats", "venue_lat", "sessions", "employers"} <= set(refused.value.errors)


async def test_seats_then_waiting_list_and_a_cancellation_moves_the_first_waiting_up():
    world = await build_event_world()
    side = world.left
    households = [await add_trainee(side, f"学员{i}") for i in range(5)]
    event = await published(world, seats="2", waitlist_margin="3")
    await invite_households(event.id, TEST_SECRET)
    partner = await world.principal("dispatcher")

    outcomes = [
        await register_by_partner(partner, event.id, household.id, ASKED_BY_PHONE) for household in households
    ]

    statuses = [outcome.registration.status for outcome in outcomes]
    assert statuses == ["registered", "registered", "waitlisted", "waitlisted", "waitlisted"]
    assert [outcome.registration.waitlist_position for outcome in outcomes[2:]] == [1, 2, 3]
    again = await register_by_partner(partner, event.id, households[0].id, ASKED_BY_PHONE)
    assert again.changed is False
    assert (await Event.get(id=event.id)).seats_taken == 2

    await cancel_registration(partner, outcomes[1].registration.id, "ill")

    assert await _registered_ids(event) == [households[0].id, households[2].id]
    assert (await Event.get(id=event.id)).seats_taken == 2
    promoted = await Notification.get(kind=notices.PROMOTED)
    assert promoted.household_id == households[2].id
    # A waiting household that cancels frees no seat.
    await cancel_registration(partner, outcomes[3].registration.id)
    assert await _registered_ids(event) == [households[0].id, households[2].id]
    # More seats move the waiting list up at once.
    form = event_form_of(
        await Event.get(id=event.id), await EventSession.filter(event_id=event.id).order_by("starts_at")
    )
    from dataclasses import replace

    await update_event(partner, event.id, replace(form, seats="4"))
    assert set(await _registered_ids(event)) == {households[0].id, households[2].id, households[4].id}
    assert (await Event.get(id=event.id)).seats_taken == 3


async def test_registration_closes_at_the_deadline_and_for_a_cancelled_event():
    world = await build_event_world()
    household = await add_trainee(world.left, "迟到")
    other = await add_trainee(world.left, "另一个")
    tomorrow = (utc_now() + timedelta(days=1)).astimezone().date().isoformat()
    event = await published(world, deadline_date=tomorrow, deadline_time="12:00")
    await invite_households(event.id, TEST_SECRET)
    await Event.filter(id=event.id).update(registration_deadline=utc_now() - timedelta(minutes=1))

    with pytest.raises(RegistrationClosed):
        await register_on_behalf(await world.worker(), household.id, event.id)

    await Event.filter(id=event.id).update(registration_deadline=None)
    await cancel_event(await world.principal(), event.id, "venue flooded")
    with pytest.raises(RegistrationClosed):
        await register_on_behalf(await world.worker(), other.id, event.id)


async def test_the_personal_link_registers_and_cancels_and_is_not_forgeable():
    world = await build_event_world()
    household = await add_trainee(world.left, "链接")
    event = await published(world)
    await invite_households(event.id, TEST_SECRET)
    token = registration_path(TEST_SECRET, event.id, household.id, None).rsplit("/", 1)[1]

    assert link_target(TEST_SECRET, token) == (event.id, household.id)
    outcome = await register_by_link(TEST_SECRET, token)
    assert outcome.registration.status == "registered" and outcome.registration.registered_by_id is None
    from alliance.visits.links import LinkInvalid

    with pytest.raises(LinkInvalid):
        link_target("another-secret", token)


async def test_a_community_worker_registers_a_fitting_household_of_the_community_only():
    world = await build_event_world()
    fitting = await add_trainee(world.left, "合适")
    deaf = await add_trainee(world.left, "聋人", accessibility=("DEAF",))
    event = await published(world)
    worker = await world.worker()

    outcome = await register_on_behalf(worker, fitting.id, event.id)
    assert outcome.registration.status == "registered"
    assert outcome.registration.registered_by_id == world.left.users["community_worker"].id
    with language("en"), pytest.raises(EventError) as refused:
        await register_on_behalf(worker, deaf.id, event.id)
    assert "interpreter" in refused.value.message
    other_worker = await principal_for(world.right.users["community_worker"])
    with pytest.raises(NotFound):
        await register_on_behalf(other_worker, fitting.id, event.id)


async def _race(households: int, seats: int, cancellers: int) -> None:
    world = await build_event_world()
    people = [await add_trainee(world.left, f"抢{i}") for i in range(households)]
    event = await published(world, seats=str(seats), waitlist_margin=str(households))
    await invite_households(event.id, TEST_SECRET)
    partner = await world.principal("dispatcher")
    early = [
        await register_by_partner(partner, event.id, household.id, ASKED_BY_PHONE)
        for household in people[:cancellers]
    ]

    async def register(household: Household):
        return await register_by_partner(partner, event.id, household.id, ASKED_BY_PHONE)

    async def cancel(registration: Registration):
        return await cancel_registration(partner, registration.id)

    calls = [register(household) for household in people[cancellers:]]
    calls += [cancel(outcome.registration) for outcome in early]
    random.Random(8).shuffle(calls)
    results = await asyncio.gather(*calls, return_exceptions=True)

    assert not [result for result in results if isinstance(result, Exception)], results
    event = await Event.get(id=event.id)
    registered = await Registration.filter(event_id=event.id, status="registered").count()
    waiting = await Registration.filter(event_id=event.id, status="waitlisted").values_list(
        "waitlist_position", flat=True
    )
    assert registered == event.seats_taken == min(seats, households - cancellers)
    assert len(waiting) == households - cancellers - registered
    assert len(set(waiting)) == len(waiting), "two households share a waiting-list place"


@pytest.mark.skipif(
    BACKEND != "postgres", reason="the race runs on real PostgreSQL (ALLIANCE_TEST_BACKEND=postgres)"
)
async def test_many_simultaneous_registrations_and_cancellations_never_pass_the_seats():
    await _race(households=60, seats=12, cancellers=10)


async def test_attendance_counts_one_person_time_per_session_once_and_equals_the_recount():
    world = await build_event_world()
    first, second = await add_trainee(world.left, "甲"), await add_trainee(world.left, "乙")
    event = await published(world)
    worker = await world.worker()
    registrations = [
        (await register_on_behalf(worker, household.id, event.id)).registration
        for household in (first, second)
    ]
    sessions = await start_sessions_now(event)
    partner = await world.principal("dispatcher")

    ticked = await record_attendance(partner, sessions[0].id, [r.id for r in registrations])
    again = await record_attendance(partner, sessions[0].id, [r.id for r in registrations])
    household = await Household.get(id=first.id)
    by_card = await record_attendance_by_card(
        partner,
        sessions[1].id,
        TEST_SECRET,
        token=card_token(TEST_SECRET, household.id, household.card_serial),
    )
    by_code = await record_attendance_by_card(
        partner, sessions[1].id, TEST_SECRET, code=short_code(TEST_SECRET, second.id, 1).lower()
    )
    repeat_card = await record_attendance_by_card(
        partner,
        sessions[1].id,
        TEST_SECRET,
        token=card_token(TEST_SECRET, household.id, household.card_serial),
    )

    assert len(ticked.recorded) == 2 and again.recorded == [] and len(again.already) == 2
    assert by_card.household_name == "甲" and by_code.household_name == "乙"
    assert repeat_card.recorded == []
    assert await Attendance.all().count() == 4
    tally = await DeliveryTally.get()
    assert (tally.person_times, tally.deliveries) == (4, 4)
    assert tally.project_id == world.project.id and tally.partner_id == world.partner.id
    assert tally.region_id == world.left.community
    assert set(await DeliveryParticipant.all().values_list("kind", flat=True)) == {"partner", "project"}
    counted = await recount()
    running = {row.key: (row.person_times, row.deliveries) for row in await DeliveryTally.all()}
    assert running == {key: (value[6], value[7]) for key, value in counted.tallies.items()}
    assert set(await DeliveryParticipant.all().values_list("key", flat=True)) == set(counted.participants)


async def test_cards_of_replaced_or_unregistered_households_are_refused():
    world = await build_event_world()
    registered = await add_trainee(world.left, "已报名")
    stranger = await add_trainee(world.left, "未报名")
    event = await published(world)
    await register_on_behalf(await world.worker(), registered.id, event.id)
    sessions = await start_sessions_now(event)
    partner = await world.principal()

    with pytest.raises(EventError):
        await record_attendance_by_card(
            partner, sessions[0].id, TEST_SECRET, token=card_token(TEST_SECRET, stranger.id, 1)
        )
    await Household.filter(id=registered.id).update(card_serial=2)
    with pytest.raises(CardRefused):
        await record_attendance_by_card(
            partner, sessions[0].id, TEST_SECRET, token=card_token(TEST_SECRET, registered.id, 1)
        )
    with pytest.raises(CardRefused):
        await record_attendance_by_card(partner, sessions[0].id, TEST_SECRET, code="ABCD-EFGH")
    assert await Attendance.all().count() == 0


async def test_attendance_is_not_open_days_before_the_session():
    world = await build_event_world()
    household = await add_trainee(world.left, "早")
    event = await published(world)
    registration = (await register_on_behalf(await world.worker(), household.id, event.id)).registration
    session = await EventSession.filter(event_id=event.id).order_by("starts_at").first()
    with pytest.raises(EventError):
        await record_attendance(await world.principal(), session.id, [registration.id])


async def test_outcomes_by_partner_and_community_worker_and_hires_in_the_region():
    world = await build_event_world(need="JOB_PLACEMENT")
    seeker = await add_trainee(world.left, "求职者", need="JOB_PLACEMENT")
    event = await published(
        world,
        kind="job_fair",
        sessions="\n".join([__import__("tests.events_support", fromlist=["x"]).session_line(3, 9, 6)]),
        employers="温州汽车美容: 洗车工, 前台\n鹿城物业: 保安",
    )
    assert event.employers[0] == {"name": "温州汽车美容", "jobs": ["洗车工", "前台"]}
    await register_on_behalf(await world.worker(), seeker.id, event.id)
    partner = await world.principal()

    await record_outcome(partner, event.id, seeker.id, "interview", "温州汽车美容", "洗车工")
    await record_outcome(partner, event.id, seeker.id, "offer", "温州汽车美容", "洗车工")
    hire = await record_outcome(
        await world.worker(), event.id, seeker.id, "hire", "温州汽车美容", "洗车工", "签约"
    )
    same = await record_outcome(await world.worker(), event.id, seeker.id, "hire", "温州汽车美容", "洗车工")
    assert same.id == hire.id
    with pytest.raises(InvalidInput):
        await record_outcome(partner, event.id, seeker.id, "hire", "")

    coordinator = await principal_for(world.left.users["coordinator"])
    report = await hires_in_region(coordinator, utc_now().astimezone().year)
    assert report.hires == 1 and report.households == 1
    assert report.rows[0].head_name == "求职者" and report.rows[0].flags == ["UNEMPLOYED"]
    other = await hires_in_region(await principal_for(world.right.users["coordinator"]), utc_now().year)
    assert other.hires == 0
    with pytest.raises(PermissionDenied):
        await hires_in_region(partner, utc_now().year)


async def test_other_partners_and_workers_cannot_touch_the_event():
    world = await build_event_world()
    household = await add_trainee(world.left, "本地")
    event = await published(world)
    await invite_households(event.id, TEST_SECRET)
    registration = (await register_on_behalf(await world.worker(), household.id, event.id)).registration
    sessions = await start_sessions_now(event)
    stranger = await principal_for(world.right.users["dispatcher"])
    for attempt in (
        register_by_partner(stranger, event.id, household.id, ASKED_BY_PHONE),
        cancel_registration(stranger, registration.id),
        record_attendance(stranger, sessions[0].id, [registration.id]),
        record_outcome(stranger, event.id, household.id, "interview"),
        cancel_event(stranger, event.id),
        cancel_registration(await principal_for(world.right.users["community_worker"]), registration.id),
    ):
        with pytest.raises((NotFound, PermissionDenied)):
            await attempt
    assert (await Registration.get(id=registration.id)).status == "registered"
    assert await Attendance.all().count() == 0


async def test_session_reminders_are_planned_once_and_sent_once_and_skip_moved_sessions():
    world = await build_event_world()
    household = await add_trainee(world.left, "提醒")
    event = await published(world)
    await register_on_behalf(await world.worker(), household.id, event.id)
    sessions = await EventSession.filter(event_id=event.id).order_by("starts_at")
    jobs = await OutboxJob.filter(job_name="send_session_reminder").order_by("id")
    assert len(jobs) == 2 * len(sessions)
    planned_again = await notices.plan_session_reminders(sessions)
    assert await OutboxJob.filter(job_name="send_session_reminder").count() == len(jobs)
    assert sorted(planned_again) == sorted(job.job_id for job in jobs)

    session_id, starts_at, kind = jobs[0].args
    first = await notices.send_session_reminder(session_id, starts_at, kind)
    second = await notices.send_session_reminder(session_id, starts_at, kind)
    assert len(first.written) == 1 and first.written == second.written
    assert await Notification.filter(kind=f"event_reminder_{kind}", household_id=household.id).count() == 1
    moved = await notices.send_session_reminder(session_id, starts_at + 3600, kind)
    assert moved.skipped == "moved"
    await cancel_event(await world.principal(), event.id)
    assert (await notices.send_session_reminder(session_id, starts_at, kind)).skipped == "cancelled"


async def test_session_reminders_go_out_through_the_worker_once(servers, arq_worker, monkeypatch):
    monkeypatch.setenv("ALLIANCE_REMINDER_TIME_SCALE", TEST_TIME_SCALE)  # 24 h ≈ 4 s, 2 h ≈ 0.4 s
    world = await build_event_world()
    household = await add_trainee(world.left, "准时")
    event = await published(world)
    await register_on_behalf(await world.worker(), household.id, event.id)
    first = await EventSession.filter(event_id=event.id).order_by("starts_at").first()
    start = utc_now() + timedelta(seconds=9)
    await EventSession.filter(id=first.id).update(starts_at=start, ends_at=start + timedelta(hours=2))
    await OutboxJob.filter(job_name="send_session_reminder").delete()
    planned = await notices.plan_session_reminders([await EventSession.get(id=first.id)])
    assert len(planned) == 2

    await relay_all(servers.redis_url, planned)
    await OutboxJob.filter(job_id__in=planned).update(status="pending")
    await relay_all(servers.redis_url, planned)  # relayed twice: arq holds each job id once
    await arq_worker.main()

    assert arq_worker.jobs_failed == 0
    rows = await Notification.filter(kind__startswith="event_reminder_").order_by("kind")
    assert [row.kind for row in rows] == ["event_reminder_24h", "event_reminder_2h"]
    assert all(row.status == "sent" and row.household_id == household.id for row in rows)
