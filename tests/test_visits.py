"""Scheduling (alliance/visits/scheduling.py, suggestions.py, household_responses.py): who may
schedule, which volunteers are suggested and why, the earliest slot, no double booking (also under a
real concurrent race on PostgreSQL), moving and cancelling, and the household's answer through its
signed personal link or its community worker."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

import alliance.visits.notices
from alliance.core.access import principal_for
from alliance.core.codes import HouseholdResponse, RequestStatus, VisitStatus
from alliance.core.errors import InvalidInput, NotFound, PermissionDenied
from alliance.core.i18n import language
from alliance.matching.claims import places_used
from alliance.matching.models import RequestTransition, ServiceRequest
from alliance.notifications.models import Notification, OutboxJob
from alliance.partners.models import Volunteer
from alliance.visits import scheduling, selectors, windows
from alliance.visits.household_responses import respond_by_link, respond_on_behalf
from alliance.visits.links import (
    LinkExpired,
    LinkInvalid,
    calendar_token,
    response_token,
    visit_id_from_token,
)
from alliance.visits.models import Visit, VolunteerBooking
from alliance.visits.scheduling import (
    VolunteerDoubleBooked,
    cancel_visit,
    change_volunteers,
    reschedule_visit,
    schedule_visit,
)
from alliance.visits.suggestions import earliest_slot, suggest_volunteers
from tests.conftest import BACKEND, TEST_SECRET
from tests.visits_support import (
    FAR,
    MIDDLE,
    NEAR,
    add_volunteer,
    build_visit_world,
    days_ahead,
    more_claimed_requests,
    window,
)


@pytest.fixture
async def world():
    return await build_visit_world()


@pytest.fixture
def notices(monkeypatch):
    """Record each visit_changed call (helper B's module writes the real notices) and hand back ids."""
    calls: list[tuple[int, str, int]] = []

    async def visit_changed(visit, change):
        calls.append((visit.id, str(change), visit.schedule_version))
        return [f"job-{visit.id}-{change}-{visit.schedule_version}"]

    monkeypatch.setattr(alliance.visits.notices, "visit_changed", visit_changed)
    return calls


async def test_schedule_books_the_volunteers_and_the_request_becomes_scheduled(world, notices):
    ann = await add_volunteer(world.partner, "安志愿")
    bo = await add_volunteer(world.partner, "薄志愿", home=MIDDLE)
    start, end = window(2, 9)
    outcome = await schedule_visit(
        world.dispatcher, world.request.id, start, end, [ann.id, bo.id], "带上血压计"
    )
    visit = await Visit.get(id=outcome.visit.id)
    assert (visit.window_start, visit.window_end, visit.status) == (start, end, VisitStatus.SCHEDULED)
    assert visit.schedule_version == 1 and visit.notes == "带上血压计"
    assert visit.partner_id == world.partner.id
    booked = await VolunteerBooking.filter(visit_id=visit.id, active=True).values_list(
        "volunteer_id", flat=True
    )
    assert sorted(booked) == [ann.id, bo.id]
    request = await ServiceRequest.get(id=world.request.id)
    assert request.status == RequestStatus.SCHEDULED
    last = await RequestTransition.filter(request_id=request.id).order_by("-id").first()
    assert (last.from_status, last.to_status) == (RequestStatus.CLAIMED, RequestStatus.SCHEDULED)
    assert last.reason.startswith(f"schedule: #{visit.id}")
    assert notices == [(visit.id, "scheduled", 1)]
    assert outcome.job_ids == [f"job-{visit.id}-scheduled-1"]


async def test_the_notices_and_reminders_are_written_in_the_scheduling_transaction(world):
    ann = await add_volunteer(world.partner, "安志愿")
    outcome = await schedule_visit(world.dispatcher, world.request.id, *window(2, 9), [ann.id])
    assert outcome.job_ids
    stored = set(await OutboxJob.all().values_list("job_id", flat=True))
    assert set(outcome.job_ids) <= stored
    assert await Notification.filter(visit_id=outcome.visit.id).exists()


async def test_a_failure_after_the_notices_rolls_everything_back(world, monkeypatch):
    ann = await add_volunteer(world.partner, "安志愿")
    real = alliance.visits.notices.visit_changed

    async def written_then_fails(visit, change):
        await real(visit, change)
        raise RuntimeError("crash after the notices")

    monkeypatch.setattr(alliance.visits.notices, "visit_changed", written_then_fails)
    with pytest.raises(RuntimeError):
        await schedule_visit(world.dispatcher, world.request.id, *window(2, 9), [ann.id])
    assert await Visit.all().count() == 0 and await VolunteerBooking.all().count() == 0
    assert (
        await OutboxJob.all().count() == 0 and await Notification.filter(visit_id__isnull=False).count() == 0
    )
    assert (await ServiceRequest.get(id=world.request.id)).status == RequestStatus.CLAIMED


async def test_only_the_holder_schedules(world, notices):
    ann = await add_volunteer(world.partner, "安志愿")
    start, end = window(2, 9)
    rival = await world.claims.rival.principal()
    far = await world.claims.far.principal()
    for outsider in (rival, far):
        with pytest.raises(NotFound):
            await schedule_visit(outsider, world.request.id, start, end, [ann.id])
        with pytest.raises(NotFound):
            await suggest_volunteers(outsider, world.request.id, start, end)
    for role in ("coordinator", "community_worker", "volunteer", "household"):
        principal = await principal_for(world.claims.left.users[role])
        with pytest.raises(PermissionDenied):
            await schedule_visit(principal, world.request.id, start, end, [ann.id])
    outcome = await schedule_visit(world.dispatcher, world.request.id, start, end, [ann.id])
    with pytest.raises(NotFound):
        await cancel_visit(rival, outcome.visit.id, "不是我们的")
    with pytest.raises(NotFound):
        await reschedule_visit(far, outcome.visit.id, *window(3, 9))
    assert (await Visit.get(id=outcome.visit.id)).status == VisitStatus.SCHEDULED


async def test_another_partners_volunteer_cannot_be_booked(world, notices):
    stranger = await add_volunteer(world.claims.rival.partner, "外来志愿")
    with pytest.raises(InvalidInput) as refused:
        await schedule_visit(world.dispatcher, world.request.id, *window(2, 9), [stranger.id])
    assert "volunteer_ids" in refused.value.errors
    assert (await ServiceRequest.get(id=world.request.id)).status == RequestStatus.CLAIMED


async def test_a_volunteer_without_the_needed_skill_is_refused(world, notices):
    repairer = await add_volunteer(world.partner, "修志愿", skills=("REPAIR",))
    with pytest.raises(InvalidInput) as refused:
        await schedule_visit(world.dispatcher, world.request.id, *window(2, 9), [repairer.id])
    assert "修志愿" in refused.value.errors["volunteer_ids"]


async def test_windows_in_the_past_or_backwards_are_refused(world, notices):
    ann = await add_volunteer(world.partner, "安志愿")
    start, end = window(2, 9)
    for bad in (
        (end, start),
        (start - timedelta(days=3), end - timedelta(days=3)),
        (start, start + timedelta(hours=13)),
    ):
        with pytest.raises(InvalidInput):
            await schedule_visit(world.dispatcher, world.request.id, *bad, [ann.id])
    assert await Visit.all().count() == 0


async def test_suggestions_keep_only_volunteers_with_skill_time_reach_and_no_booking(world, notices):
    near = await add_volunteer(world.partner, "近志愿", home=NEAR)
    await add_volunteer(world.partner, "无技能", skills=("REPAIR",))
    await add_volunteer(world.partner, "太远", home=FAR, max_travel_km=10)
    await add_volunteer(
        world.partner, "只周末", availability={"sat": [["09:00", "12:00"]], "sun": [["09:00", "12:00"]]}
    )
    far_but_willing = await add_volunteer(world.partner, "远但愿意", home=FAR, max_travel_km=50)
    busy = await add_volunteer(world.partner, "已约", home=NEAR)
    await add_volunteer(world.claims.rival.partner, "别家志愿", home=NEAR)
    # The busy one is booked on another visit overlapping the window.
    [other] = await more_claimed_requests(world, 1)
    start, end = window(7, 10)  # a week ahead: same weekday as today, never a weekend-only trap
    weekday_start, weekday_end = start, end
    while weekday_start.weekday() >= 5:
        weekday_start, weekday_end = weekday_start + timedelta(days=1), weekday_end + timedelta(days=1)
    await schedule_visit(
        world.dispatcher,
        other.id,
        weekday_start - timedelta(minutes=30),
        weekday_start + timedelta(minutes=30),
        [busy.id],
    )
    with language("en"):
        suggested = await suggest_volunteers(world.dispatcher, world.request.id, weekday_start, weekday_end)
    assert [fit.name for fit in suggested] == ["近志愿", "远但愿意"]
    assert suggested[0].volunteer_id == near.id and suggested[1].volunteer_id == far_but_willing.id
    assert suggested[0].distance_km == pytest.approx(0.74, abs=0.05)
    assert any("km" in reason for reason in suggested[0].reasons)
    with language("en"):
        everyone = await suggest_volunteers(
            world.dispatcher, world.request.id, weekday_start, weekday_end, include_unsuitable=True
        )
    why_not = {fit.name: " ".join(fit.reasons) for fit in everyone if not fit.suitable}
    assert set(why_not) == {"无技能", "太远", "只周末", "已约", world.claims.left.volunteer.name}
    assert "Lacks the skill" in why_not["无技能"]
    assert "Too far" in why_not["太远"]
    assert "Not available" in why_not["只周末"]
    assert "Already booked" in why_not["已约"]
    assert "别家志愿" not in {fit.name for fit in everyone}


async def test_suggestions_rank_by_distance_and_current_load(world, notices):
    near_busy = await add_volunteer(world.partner, "近但忙", home=NEAR)
    middle_idle = await add_volunteer(world.partner, "中且闲", home=MIDDLE)
    near_idle = await add_volunteer(world.partner, "近且闲", home=NEAR)
    # Two upcoming visits on the near busy one (2 x 2 km) outweigh its ~3 km head start.
    others = await more_claimed_requests(world, 2)
    for offset, request in enumerate(others):
        await schedule_visit(world.dispatcher, request.id, *window(3 + offset, 9), [near_busy.id])
    with language("en"):
        suggested = await suggest_volunteers(world.dispatcher, world.request.id, *window(2, 14))
    assert [fit.volunteer_id for fit in suggested] == [near_idle.id, middle_idle.id, near_busy.id]
    assert [fit.load for fit in suggested] == [0, 0, 2]
    assert "2 upcoming visits" in suggested[2].reasons
    # The reasons are written in the reader's language.
    with language("zh_CN"):
        chinese = await suggest_volunteers(world.dispatcher, world.request.id, *window(2, 14))
    assert "已有 2 次待走访" in chinese[2].reasons


async def test_double_booking_is_refused_naming_the_volunteer_and_the_clashing_visit(world, notices):
    ann = await add_volunteer(world.partner, "安志愿")
    bo = await add_volunteer(world.partner, "薄志愿")
    [other] = await more_claimed_requests(world, 1)
    first = await schedule_visit(world.dispatcher, other.id, *window(2, 9, hours=2), [ann.id])
    with pytest.raises(VolunteerDoubleBooked) as clash:
        await schedule_visit(world.dispatcher, world.request.id, *window(2, 10), [bo.id, ann.id])
    assert clash.value.volunteer_id == ann.id and clash.value.visit_id == first.visit.id
    assert "安志愿" in clash.value.message and f"#{first.visit.id}" in clash.value.message
    # All or nothing: no visit, no booking for bo, the request still claimed.
    assert await Visit.all().count() == 1
    assert not await VolunteerBooking.exists(volunteer_id=bo.id)
    assert (await ServiceRequest.get(id=world.request.id)).status == RequestStatus.CLAIMED
    # Back to back is not a clash.
    await schedule_visit(world.dispatcher, world.request.id, *window(2, 11), [ann.id])


async def test_earliest_slot_skips_bookings_and_unavailable_hours(world, notices):
    only_tomorrow_morning = {day: [["09:00", "11:00"]] for day in windows.DAY_KEYS}
    ann = await add_volunteer(world.partner, "安志愿", availability=only_tomorrow_morning)
    [other] = await more_claimed_requests(world, 1)
    after = days_ahead(1, 0)
    await schedule_visit(world.dispatcher, other.id, days_ahead(1, 9), days_ahead(1, 10), [ann.id])
    slot = await earliest_slot(world.dispatcher, world.request.id, timedelta(hours=1), after=after)
    assert slot.window_start == days_ahead(1, 10) and slot.window_end == days_ahead(1, 11)
    assert [fit.volunteer_id for fit in slot.volunteers] == [ann.id]
    # Ninety minutes do not fit after the booking: the next morning.
    longer = await earliest_slot(world.dispatcher, world.request.id, timedelta(minutes=90), after=after)
    assert longer.window_start == days_ahead(2, 9)
    # Nobody suitable at all: no slot.
    await Volunteer.filter(id=ann.id).update(weekly_availability={})
    assert await earliest_slot(world.dispatcher, world.request.id, timedelta(hours=1), after=after) is None


async def test_reschedule_moves_the_window_bumps_the_version_and_rechecks_bookings(world, notices):
    ann = await add_volunteer(world.partner, "安志愿")
    [other] = await more_claimed_requests(world, 1)
    blocker = await schedule_visit(world.dispatcher, other.id, *window(3, 9), [ann.id])
    outcome = await schedule_visit(world.dispatcher, world.request.id, *window(2, 9), [ann.id])
    await respond_by_link(TEST_SECRET, response_token(TEST_SECRET, outcome.visit), "confirmed")
    with pytest.raises(VolunteerDoubleBooked) as clash:
        await reschedule_visit(world.dispatcher, outcome.visit.id, *window(3, 9, minute=30))
    assert clash.value.visit_id == blocker.visit.id
    # Moving within its own old window is no clash with itself.
    moved = await reschedule_visit(world.dispatcher, outcome.visit.id, *window(2, 9, minute=30))
    visit = await Visit.get(id=outcome.visit.id)
    assert visit.window_start == days_ahead(2, 9, 30) and visit.schedule_version == 2
    assert visit.household_response == HouseholdResponse.PENDING  # asked again for the new time
    booking = await VolunteerBooking.get(visit_id=visit.id, volunteer_id=ann.id)
    assert booking.window_start == visit.window_start and booking.window_end == visit.window_end
    assert moved.job_ids == [f"job-{visit.id}-moved-2"]


async def test_cancel_frees_the_volunteers_and_the_request_is_claimed_again(world, notices):
    ann = await add_volunteer(world.partner, "安志愿")
    start, end = window(2, 9)
    outcome = await schedule_visit(world.dispatcher, world.request.id, start, end, [ann.id])
    with pytest.raises(InvalidInput):
        await cancel_visit(world.dispatcher, outcome.visit.id, " ")
    cancelled = await cancel_visit(world.dispatcher, outcome.visit.id, "志愿者生病")
    visit = await Visit.get(id=outcome.visit.id)
    assert visit.status == VisitStatus.CANCELLED and visit.schedule_version == 2
    assert not await VolunteerBooking.exists(visit_id=visit.id, active=True)
    request = await ServiceRequest.get(id=world.request.id)
    assert request.status == RequestStatus.CLAIMED and request.claimed_by_id == world.partner.id
    assert cancelled.job_ids == [f"job-{visit.id}-cancelled-2"]
    with pytest.raises(scheduling.InvalidTransition):
        await cancel_visit(world.dispatcher, visit.id, "again")
    # The volunteer is free again for the same window.
    again = await schedule_visit(world.dispatcher, world.request.id, start, end, [ann.id])
    assert again.visit.id != visit.id


async def test_change_volunteers_frees_the_removed_and_books_the_added(world, notices):
    ann = await add_volunteer(world.partner, "安志愿")
    bo = await add_volunteer(world.partner, "薄志愿")
    cy = await add_volunteer(world.partner, "陈志愿")
    [other] = await more_claimed_requests(world, 1)
    await schedule_visit(world.dispatcher, other.id, *window(2, 9), [cy.id])
    outcome = await schedule_visit(world.dispatcher, world.request.id, *window(2, 9), [ann.id])
    with pytest.raises(VolunteerDoubleBooked):
        await change_volunteers(world.dispatcher, outcome.visit.id, [ann.id, cy.id])
    changed = await change_volunteers(world.dispatcher, outcome.visit.id, [bo.id])
    active = await VolunteerBooking.filter(visit_id=outcome.visit.id, active=True).values_list(
        "volunteer_id", flat=True
    )
    assert active == [bo.id]
    assert changed.visit.schedule_version == 2
    # Putting ann back re-activates her row (one booking row per volunteer and visit).
    await change_volunteers(world.dispatcher, outcome.visit.id, [ann.id, bo.id])
    assert await VolunteerBooking.filter(visit_id=outcome.visit.id, volunteer_id=ann.id).count() == 1
    unchanged = await change_volunteers(world.dispatcher, outcome.visit.id, [bo.id, ann.id])
    assert unchanged.job_ids == []


# --- the household's personal link ------------------------------------------------------------------


async def test_a_personal_link_opens_its_visit_and_nothing_else(world, notices):
    ann = await add_volunteer(world.partner, "安志愿")
    [other] = await more_claimed_requests(world, 1)
    mine = (await schedule_visit(world.dispatcher, world.request.id, *window(2, 9), [ann.id])).visit
    theirs = (await schedule_visit(world.dispatcher, other.id, *window(3, 9), [ann.id])).visit
    token = response_token(TEST_SECRET, mine)
    assert visit_id_from_token(TEST_SECRET, token) == mine.id
    # Expired: the link lives until two days after the window.
    with pytest.raises(LinkExpired):
        visit_id_from_token(TEST_SECRET, token, now=mine.window_end + timedelta(days=2, minutes=1))
    # Forged: another key, a changed payload, garbage.
    with pytest.raises(LinkInvalid):
        visit_id_from_token(TEST_SECRET, response_token("another-key", mine))
    payload, _sep, signature = token.partition(".")
    tampered = response_token(TEST_SECRET, theirs).partition(".")[0] + "." + signature
    with pytest.raises(LinkInvalid):
        visit_id_from_token(TEST_SECRET, tampered)
    with pytest.raises(LinkInvalid):
        visit_id_from_token(TEST_SECRET, "not-a-token")
    # Another kind of signed link (the volunteer's calendar, same key) is not a visit link.
    with pytest.raises(LinkInvalid):
        visit_id_from_token(TEST_SECRET, calendar_token(TEST_SECRET, mine.id))
    # Answering with my link touches my visit only.
    await respond_by_link(TEST_SECRET, token, "confirmed")
    assert (await Visit.get(id=mine.id)).household_response == HouseholdResponse.CONFIRMED
    assert (await Visit.get(id=theirs.id)).household_response == HouseholdResponse.PENDING


async def test_household_confirms_once(world, notices):
    ann = await add_volunteer(world.partner, "安志愿")
    visit = (await schedule_visit(world.dispatcher, world.request.id, *window(2, 9), [ann.id])).visit
    token = response_token(TEST_SECRET, visit)
    first = await respond_by_link(TEST_SECRET, token, "confirmed")
    second = await respond_by_link(TEST_SECRET, token, "confirmed")
    assert first.job_ids == [f"job-{visit.id}-household_confirmed-1"] and second.job_ids == []
    stored = await Visit.get(id=visit.id)
    assert stored.household_response == HouseholdResponse.CONFIRMED and stored.household_responded_at


async def test_household_asks_for_another_time_with_a_note(world, notices):
    ann = await add_volunteer(world.partner, "安志愿")
    visit = (await schedule_visit(world.dispatcher, world.request.id, *window(2, 9), [ann.id])).visit
    token = response_token(TEST_SECRET, visit)
    with pytest.raises(InvalidInput):
        await respond_by_link(TEST_SECRET, token, "reschedule", "")
    outcome = await respond_by_link(TEST_SECRET, token, "reschedule", "周三上午去医院，下午可以")
    stored = await Visit.get(id=visit.id)
    assert stored.household_response == HouseholdResponse.RESCHEDULE_REQUESTED
    assert stored.household_response_note == "周三上午去医院，下午可以"
    assert stored.status == VisitStatus.SCHEDULED  # the dispatcher moves it; nothing is freed yet
    assert notices[-1] == (visit.id, "household_reschedule", 1) and outcome.job_ids
    rows = await selectors.partner_visits(world.dispatcher)
    assert rows[0].visit_id == visit.id and rows[0].household_response_note.startswith("周三")


async def test_household_declines_and_the_request_returns_to_the_pool(world, notices):
    ann = await add_volunteer(world.partner, "安志愿")
    assert await places_used(world.claims.home.offering.id) == 1
    visit = (await schedule_visit(world.dispatcher, world.request.id, *window(2, 9), [ann.id])).visit
    outcome = await respond_by_link(
        TEST_SECRET, response_token(TEST_SECRET, visit), "declined", "已由子女照顾"
    )
    assert outcome.released_request_id == world.request.id
    stored = await Visit.get(id=visit.id)
    assert stored.status == VisitStatus.CANCELLED and stored.household_response == HouseholdResponse.DECLINED
    assert stored.schedule_version == 2
    assert not await VolunteerBooking.exists(volunteer_id=ann.id, active=True)
    request = await ServiceRequest.get(id=world.request.id)
    assert request.status == RequestStatus.OPEN and request.claimed_by_id is None
    assert await places_used(world.claims.home.offering.id) == 0
    history = await RequestTransition.filter(request_id=request.id).order_by("id")
    assert [(step.from_status, step.to_status) for step in history] == [
        (RequestStatus.OPEN, RequestStatus.CLAIMED),
        (RequestStatus.CLAIMED, RequestStatus.SCHEDULED),
        (RequestStatus.SCHEDULED, RequestStatus.OPEN),
    ]
    assert history[-1].reason == "household_declined: 已由子女照顾" and history[-1].actor_id is None
    with pytest.raises(scheduling.InvalidTransition):
        await respond_by_link(TEST_SECRET, response_token(TEST_SECRET, visit), "confirmed")


async def test_the_community_worker_answers_for_the_household_of_their_community_only(world, notices):
    ann = await add_volunteer(world.partner, "安志愿")
    visit = (await schedule_visit(world.dispatcher, world.request.id, *window(2, 9), [ann.id])).visit
    other_worker = await principal_for(world.claims.right.users["community_worker"])
    with pytest.raises(NotFound):
        await respond_on_behalf(other_worker, visit.id, "confirmed")
    with pytest.raises(PermissionDenied):
        await respond_on_behalf(world.dispatcher, visit.id, "confirmed")
    worker = await principal_for(world.claims.left.users["community_worker"])
    await respond_on_behalf(worker, visit.id, "confirmed")
    assert (await Visit.get(id=visit.id)).household_response == HouseholdResponse.CONFIRMED
    household, shown = await selectors.household_visits(worker, world.claims.left.household.id)
    assert [item.visit_id for item in shown] == [visit.id] and shown[0].household_response == "confirmed"


# --- the race -------------------------------------------------------------------------------------


async def _race(world, attempts: int) -> None:
    """`attempts` dispatchers' calls at once, each scheduling a different request with the same
    volunteer in overlapping windows: exactly one wins, every other names the winner's visit."""
    ann = await add_volunteer(world.partner, "抢手志愿")
    requests = [world.request, *await more_claimed_requests(world, attempts - 1)]
    # Two-hour windows starting at most 58 minutes apart: every pair overlaps.
    starts = [days_ahead(2, 9) + timedelta(minutes=2 * (index % 30)) for index in range(attempts)]

    async def attempt(index: int):
        try:
            return await schedule_visit(
                world.dispatcher,
                requests[index].id,
                starts[index],
                starts[index] + timedelta(hours=2),
                [ann.id],
            )
        except VolunteerDoubleBooked as clash:
            return clash

    answers = await asyncio.gather(*(attempt(index) for index in range(attempts)))
    won = [answer for answer in answers if isinstance(answer, scheduling.VisitOutcome)]
    lost = [answer for answer in answers if isinstance(answer, VolunteerDoubleBooked)]
    assert len(won) == 1 and len(lost) == attempts - 1, answers
    assert {clash.visit_id for clash in lost} == {won[0].visit.id}
    assert await VolunteerBooking.filter(volunteer_id=ann.id, active=True).count() == 1
    assert await Visit.all().count() == 1
    assert await ServiceRequest.filter(status=RequestStatus.SCHEDULED).count() == 1
    assert await ServiceRequest.filter(status=RequestStatus.CLAIMED).count() == attempts - 1


@pytest.mark.skipif(
    BACKEND != "postgres", reason="the race runs on real PostgreSQL (ALLIANCE_TEST_BACKEND=postgres)"
)
async def test_thirty_concurrent_bookings_of_one_volunteer_exactly_one_wins(world, notices):
    await _race(world, 30)


@pytest.mark.skipif(BACKEND == "postgres", reason="the thirty-booking race above covers PostgreSQL")
async def test_concurrent_bookings_of_one_volunteer_exactly_one_wins_on_sqlite(world, notices):
    await _race(world, 8)
