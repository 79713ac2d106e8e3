"""The running totals behind the cockpit (alliance/targets/tallies.py): written with each check-out and
correction, never doubled by a repeated check-out, and always equal to a recount from the records."""

from __future__ import annotations

from alliance.targets.models import DeliveryParticipant, DeliveryTally
from alliance.targets.tallies import rebuild_tallies, recount
from alliance.visits.checkins import check_in_by_gps
from alliance.visits.service_records import check_out, correct_record
from tests.checkin_support import build_door_world, risks

AT_THE_DOOR = (28.0155, 120.655)


async def _running() -> tuple[dict, set]:
    tallies = {row.key: (row.person_times, row.deliveries) for row in await DeliveryTally.all()}
    participants = set(await DeliveryParticipant.all().values_list("key", flat=True))
    return tallies, participants


async def _recounted() -> tuple[dict, set]:
    counted = await recount()
    return (
        {key: (value[6], value[7]) for key, value in counted.tallies.items()},
        set(counted.participants),
    )


async def test_a_check_out_counts_its_person_times_once_and_a_correction_adjusts_them():
    world = await build_door_world()
    volunteer = await world.volunteer_principal()
    await check_in_by_gps(volunteer, world.visit.id, *AT_THE_DOOR)
    fields = {
        "service": "Lunch",
        "duration_minutes": "40",
        "persons_served": "2",
        "notes": "",
        "risks": risks(),
    }

    await check_out(volunteer, world.visit.id, client_key="once", **fields)
    await check_out(volunteer, world.visit.id, client_key="once", **fields)

    tally = await DeliveryTally.get()
    assert (tally.person_times, tally.deliveries) == (2, 1)
    assert tally.region_id == world.household.region_id and tally.partner_id == world.visits.partner.id
    kinds = sorted(await DeliveryParticipant.all().values_list("kind", flat=True))
    assert kinds == ["partner", "volunteer"]  # the test offering belongs to no project

    await correct_record(await world.coordinator(), world.visit.id, reason="one was out", persons_served=1)
    tally = await DeliveryTally.get()
    assert (tally.person_times, tally.deliveries) == (1, 1)
    assert await _running() == await _recounted()


async def test_running_totals_equal_a_recount_and_a_rebuild_changes_nothing():
    world = await build_door_world()
    volunteer = await world.volunteer_principal()
    await check_in_by_gps(volunteer, world.visit.id, *AT_THE_DOOR)
    await check_out(
        volunteer,
        world.visit.id,
        service="Repairs",
        duration_minutes="60",
        persons_served="2",
        notes="",
        risks=risks(),
    )
    before = await _running()
    assert before == await _recounted()

    await rebuild_tallies()

    assert await _running() == before
