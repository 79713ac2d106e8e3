"""Check-in at the door (alliance/visits/checkins.py): the visit card (valid, another household's, forged,
replaced), the short code, the GPS geofence in and out, a coordinator on the volunteer's behalf,
lifecycle refusals, and idempotency under retries, offline replays and concurrent duplicates."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from alliance.core.access import principal_for
from alliance.core.codes import CheckInMethod, RequestStatus, VisitStatus
from alliance.core.errors import InvalidInput, NotFound, PermissionDenied
from alliance.core.i18n import language
from alliance.core.timeutil import utc_now
from alliance.matching.claims import InvalidTransition
from alliance.matching.models import RequestTransition, ServiceRequest
from alliance.visits.cards import CardProblem, CardRefused, card_token, reissue_card, short_code
from alliance.visits.checkins import (
    check_in_by_card,
    check_in_by_gps,
    check_in_on_behalf,
    check_ins_to_review,
    review_check_in,
)
from alliance.visits.models import CheckIn, Visit
from alliance.visits.scheduling import cancel_visit
from tests.checkin_support import build_door_world
from tests.conftest import TEST_SECRET

HOUSEHOLD_POINT = (28.015, 120.655)
# ~55 m north of the household: inside the default 150 m.
AT_THE_DOOR = (28.0155, 120.655)
# ~1.1 km away.
DOWN_THE_ROAD = (28.025, 120.655)


async def test_the_households_card_checks_in_and_starts_the_service():
    world = await build_door_world()
    volunteer = await world.volunteer_principal()
    token = card_token(TEST_SECRET, world.household.id, world.household.card_serial)

    outcome = await check_in_by_card(volunteer, world.visit.id, TEST_SECRET, token=token, client_key="tap-1")

    assert outcome.created and not outcome.needs_review
    assert outcome.check_in.method == CheckInMethod.QR
    assert (await Visit.get(id=world.visit.id)).status == VisitStatus.CHECKED_IN
    request = await ServiceRequest.get(id=world.visits.request.id)
    assert request.status == RequestStatus.IN_SERVICE
    last = await RequestTransition.filter(request_id=request.id).order_by("-id").first()
    assert last.to_status == RequestStatus.IN_SERVICE and last.reason.startswith("check_in")


async def test_the_short_code_under_the_qr_works_typed_in_any_case_and_spacing():
    world = await build_door_world()
    code = short_code(TEST_SECRET, world.household.id, world.household.card_serial)
    typed = code.lower().replace("-", " ")

    outcome = await check_in_by_card(
        await world.volunteer_principal(), world.visit.id, TEST_SECRET, code=typed
    )

    assert outcome.created


async def test_another_households_card_is_refused_and_nothing_is_written():
    world = await build_door_world()
    other = world.visits.claims.right.household
    token = card_token(TEST_SECRET, other.id, other.card_serial)

    with pytest.raises(CardRefused) as refused:
        await check_in_by_card(await world.volunteer_principal(), world.visit.id, TEST_SECRET, token=token)

    assert refused.value.problem == CardProblem.OTHER_HOUSEHOLD
    with language("en"):
        assert "another household" in refused.value.message
    assert await CheckIn.all().count() == 0
    assert (await Visit.get(id=world.visit.id)).status == VisitStatus.SCHEDULED


async def test_a_forged_card_is_refused():
    world = await build_door_world()
    genuine = card_token(TEST_SECRET, world.household.id, world.household.card_serial)
    forged = card_token("somebody-elses-key", world.household.id, world.household.card_serial)
    tampered = genuine.replace(f"ALC1.{world.household.id}.", f"ALC1.{world.household.id + 1}.")

    for token in (forged, tampered, "https://example.com/not-a-card"):
        with pytest.raises(CardRefused) as refused:
            await check_in_by_card(
                await world.volunteer_principal(), world.visit.id, TEST_SECRET, token=token
            )
        assert refused.value.problem == CardProblem.FORGED
    with pytest.raises(CardRefused) as wrong:
        await check_in_by_card(
            await world.volunteer_principal(), world.visit.id, TEST_SECRET, code="0000-0000"
        )
    assert wrong.value.problem == CardProblem.WRONG_CODE


async def test_a_reissued_card_revokes_the_old_card_and_its_code():
    world = await build_door_world()
    old_token = card_token(TEST_SECRET, world.household.id, world.household.card_serial)
    old_code = short_code(TEST_SECRET, world.household.id, world.household.card_serial)
    worker = await principal_for(world.visits.claims.left.users["community_worker"])

    household = await reissue_card(worker, world.household.id)

    assert household.card_serial == world.household.card_serial + 1
    volunteer = await world.volunteer_principal()
    for kwargs in ({"token": old_token}, {"code": old_code}):
        with pytest.raises(CardRefused) as refused:
            await check_in_by_card(volunteer, world.visit.id, TEST_SECRET, **kwargs)
        assert refused.value.problem == CardProblem.REVOKED
    new_token = card_token(TEST_SECRET, household.id, household.card_serial)
    assert (await check_in_by_card(volunteer, world.visit.id, TEST_SECRET, token=new_token)).created


async def test_a_community_worker_of_another_community_cannot_reissue_the_card():
    world = await build_door_world()
    stranger = await principal_for(world.visits.claims.right.users["community_worker"])
    with pytest.raises(NotFound):
        await reissue_card(stranger, world.household.id)


async def test_gps_at_the_door_checks_in_without_review():
    world = await build_door_world()

    outcome = await check_in_by_gps(await world.volunteer_principal(), world.visit.id, *AT_THE_DOOR)

    assert outcome.created and not outcome.needs_review
    assert 40 < outcome.check_in.distance_m < 70


async def test_gps_far_away_is_accepted_but_flagged_for_review_with_the_distance():
    world = await build_door_world()

    outcome = await check_in_by_gps(
        await world.volunteer_principal(), world.visit.id, *DOWN_THE_ROAD, accuracy_m=20
    )

    assert outcome.created and outcome.needs_review
    assert 1000 < outcome.check_in.distance_m < 1200
    assert "radius 150 m" in outcome.check_in.reason
    coordinator = await world.coordinator()
    rows = await check_ins_to_review(coordinator)
    assert [row.check_in_id for row in rows] == [outcome.check_in.id]
    assert await check_ins_to_review(await world.coordinator("right")) == []
    reviewed = await review_check_in(coordinator, outcome.check_in.id)
    assert reviewed.reviewed_at is not None
    assert await check_ins_to_review(coordinator) == []


async def test_the_radius_is_configurable(monkeypatch):
    world = await build_door_world()
    monkeypatch.setenv("ALLIANCE_CHECKIN_RADIUS_M", "30")

    outcome = await check_in_by_gps(await world.volunteer_principal(), world.visit.id, *AT_THE_DOOR)

    assert outcome.needs_review


async def test_a_household_placed_only_at_its_region_centre_is_flagged_whatever_the_distance():
    world = await build_door_world()
    await world.household.__class__.filter(id=world.household.id).update(location_precision="region")

    outcome = await check_in_by_gps(await world.volunteer_principal(), world.visit.id, *HOUSEHOLD_POINT)

    assert outcome.needs_review and "region" in outcome.check_in.reason


async def test_no_position_is_refused_so_the_page_falls_back_to_the_card():
    world = await build_door_world()
    with pytest.raises(InvalidInput) as refused:
        await check_in_by_gps(await world.volunteer_principal(), world.visit.id, None, None)
    assert "lat" in refused.value.errors
    assert await CheckIn.all().count() == 0


async def test_a_double_tap_and_a_retry_make_one_check_in():
    world = await build_door_world()
    volunteer = await world.volunteer_principal()

    first = await check_in_by_gps(volunteer, world.visit.id, *AT_THE_DOOR, client_key="k-1")
    again = await check_in_by_gps(volunteer, world.visit.id, *AT_THE_DOOR, client_key="k-1")
    other_tap = await check_in_by_gps(volunteer, world.visit.id, *AT_THE_DOOR, client_key="k-2")

    assert first.created and not again.created and not other_tap.created
    assert again.check_in.id == first.check_in.id == other_tap.check_in.id
    assert await CheckIn.all().count() == 1
    assert await RequestTransition.filter(reason__startswith="check_in").count() == 1


async def test_concurrent_duplicate_check_ins_land_once():
    world = await build_door_world()
    volunteer = await world.volunteer_principal()
    token = card_token(TEST_SECRET, world.household.id, world.household.card_serial)

    async def tap(index: int):
        if index % 2:
            return await check_in_by_card(
                volunteer, world.visit.id, TEST_SECRET, token=token, client_key="same"
            )
        return await check_in_by_gps(volunteer, world.visit.id, *AT_THE_DOOR, client_key=f"tap-{index}")

    outcomes = await asyncio.gather(*(tap(index) for index in range(12)), return_exceptions=True)

    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert errors == []
    assert sum(1 for outcome in outcomes if outcome.created) == 1
    assert await CheckIn.all().count() == 1
    assert await RequestTransition.filter(reason__startswith="check_in").count() == 1


async def test_an_offline_check_in_keeps_its_original_time_and_is_accepted_once():
    world = await build_door_world()
    volunteer = await world.volunteer_principal()
    tapped_at = utc_now() - timedelta(minutes=20)
    with pytest.raises(InvalidInput) as future:
        await check_in_by_gps(
            volunteer, world.visit.id, *AT_THE_DOOR, client_key="late", at=utc_now() + timedelta(hours=1)
        )
    assert "at" in future.value.errors

    first = await check_in_by_gps(
        volunteer, world.visit.id, *AT_THE_DOOR, client_key="offline-1", at=tapped_at
    )
    replay = await check_in_by_gps(
        volunteer, world.visit.id, *AT_THE_DOOR, client_key="offline-1", at=tapped_at
    )

    assert first.created and not replay.created
    assert abs((first.check_in.at - tapped_at).total_seconds()) < 1


async def test_no_check_in_on_a_cancelled_visit():
    world = await build_door_world()
    await cancel_visit(world.visits.dispatcher, world.visit.id, "household in hospital")
    # Cancelling frees the volunteer's booking: the visit is no longer theirs to check in to.
    with pytest.raises((InvalidTransition, NotFound)):
        await check_in_by_gps(await world.volunteer_principal(), world.visit.id, *AT_THE_DOOR)
    assert await CheckIn.all().count() == 0


async def test_no_check_in_on_a_completed_visit():
    world = await build_door_world()
    await Visit.filter(id=world.visit.id).update(status=VisitStatus.COMPLETED)
    with pytest.raises(InvalidTransition):
        await check_in_by_gps(await world.volunteer_principal(), world.visit.id, *AT_THE_DOOR)
    assert await CheckIn.all().count() == 0


async def test_a_volunteer_not_booked_on_the_visit_cannot_check_in():
    world = await build_door_world()
    stranger = await principal_for(world.visits.claims.right.users["volunteer"])
    with pytest.raises(NotFound):
        await check_in_by_gps(stranger, world.visit.id, *AT_THE_DOOR)


async def test_a_coordinator_checks_in_for_the_volunteer_with_a_reason_kept_in_history():
    world = await build_door_world()
    coordinator = await world.coordinator()

    with pytest.raises(InvalidInput):
        await check_in_on_behalf(coordinator, world.visit.id, world.volunteer.id, "  ")
    outcome = await check_in_on_behalf(coordinator, world.visit.id, world.volunteer.id, "phone battery empty")

    assert outcome.created and outcome.check_in.method == CheckInMethod.ON_BEHALF
    assert outcome.check_in.recorded_by_id == world.visits.claims.left.users["coordinator"].id
    history = await RequestTransition.filter(request_id=world.visits.request.id).order_by("-id").first()
    assert "phone battery empty" in history.reason
    with pytest.raises(NotFound):
        await check_in_on_behalf(await world.coordinator("right"), world.visit.id, world.volunteer.id, "x")
    with pytest.raises(PermissionDenied):
        await check_in_on_behalf(await world.volunteer_principal(), world.visit.id, world.volunteer.id, "x")
