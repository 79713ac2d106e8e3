"""Possible duplicates: marked at intake, merged or dismissed by a coordinator of the area."""

from __future__ import annotations

import pytest

from alliance.core.access import principal_for
from alliance.core.accounts import create_user
from alliance.core.codes import RequestStatus, Role
from alliance.core.errors import InvalidInput, NotFound, PermissionDenied
from alliance.core.i18n import language
from alliance.core.models import AuditEntry, User
from alliance.households.duplicates import dismiss_duplicate, merge_duplicate, possible_duplicates
from alliance.households.household_status import household_status
from alliance.households.models import Flag, Household, HouseholdMerge
from alliance.matching.models import RequestTransition, ServiceRequest
from alliance.partners.models import Partner
from tests.factories import PASSWORD
from tests.intake_support import (
    LUCHENG,
    WENCHENG,
    WENCHENG_COMMUNITY,
    build_city,
    id_number,
    import_json,
    person,
)


@pytest.fixture(autouse=True)
async def city():
    await build_city()
    with language("en"):
        yield


@pytest.fixture
async def coordinator():
    user = await create_user("coord", PASSWORD, Role.COORDINATOR, region_code=LUCHENG)
    return await principal_for(user)


async def household(external_id: str) -> Household:
    return await Household.get(external_id=external_id)


async def test_the_same_id_number_under_another_external_id_is_imported_but_marked():
    await import_json([person(1)])
    result = await import_json([person(2, id_number=person(1)["id_number"])])
    assert result.created == 1
    assert (await household("WZ-000002")).possible_duplicate_of_id == (await household("WZ-000001")).id  # type: ignore[attr-defined]
    assert (await household("WZ-000001")).possible_duplicate_of_id is None  # type: ignore[attr-defined]


async def test_the_same_phone_and_address_is_marked_within_one_batch_too():
    await import_json([person(1), person(2, phone=person(1)["phone"], address=" 五马街1号")])
    assert (await household("WZ-000002")).possible_duplicate_of_id == (await household("WZ-000001")).id  # type: ignore[attr-defined]


async def test_a_chunk_compares_with_what_its_own_rows_become_not_with_what_they_held():
    # On PostgreSQL the holders of a chunk's ID numbers are looked up on another connection while
    # the chunk is written: household 1 giving up its ID number in the same chunk no longer holds
    # it, and holds its new one.
    await import_json([person(1)])
    old_number, new_number = person(1)["id_number"], person(9)["id_number"]
    await import_json(
        [person(1, id_number=new_number), person(4, id_number=old_number), person(5, id_number=new_number)],
        chunk_size=3,
    )
    marks = dict(await Household.all().values_list("external_id", "possible_duplicate_of__external_id"))
    assert marks == {"WZ-000001": None, "WZ-000004": None, "WZ-000005": "WZ-000001"}


async def test_the_same_phone_at_another_address_is_not_a_duplicate():
    await import_json([person(1), person(2, phone=person(1)["phone"])])
    assert (await household("WZ-000002")).possible_duplicate_of_id is None  # type: ignore[attr-defined]


async def test_a_dismissed_pair_is_not_marked_again(coordinator):
    await import_json([person(1), person(2, id_number=person(1)["id_number"])])
    duplicate = await household("WZ-000002")
    await dismiss_duplicate(coordinator, duplicate.id)
    assert (await household("WZ-000002")).possible_duplicate_of_id is None  # type: ignore[attr-defined]
    # A later change re-checks the household, but the coordinator's word stands.
    await import_json([person(2, id_number=person(1)["id_number"], head_name="王二")])
    assert (await household("WZ-000002")).possible_duplicate_of_id is None  # type: ignore[attr-defined]
    assert await AuditEntry.exists(action="household.duplicate_dismissed", object_id=str(duplicate.id))


async def test_merge_moves_requests_flags_and_history_to_the_kept_household(coordinator):
    await import_json(
        [
            person(1, flags=["ELDERLY_ALONE"]),
            person(2, id_number=person(1)["id_number"], flags=["UNEMPLOYED", "ELDERLY_ALONE"]),
        ]
    )
    original, duplicate = await household("WZ-000001"), await household("WZ-000002")
    partner = await Partner.create(name="伙伴", kind="service_provider", status="approved", region_id=LUCHENG)
    claimed = await ServiceRequest.get(household_id=duplicate.id, need_id="JOB_PLACEMENT")
    claimed.status, claimed.claimed_by_id = RequestStatus.CLAIMED, partner.id  # type: ignore[attr-defined]
    await claimed.save()
    await RequestTransition.create(request=claimed, from_status="open", to_status="claimed", partner=partner)
    user = await create_user("house2", PASSWORD, Role.HOUSEHOLD, household_id=duplicate.id)

    kept = await merge_duplicate(coordinator, duplicate.id, keep="original")

    assert kept.id == original.id
    assert not await Household.exists(id=duplicate.id)
    moved = await ServiceRequest.get(id=claimed.id)
    assert moved.household_id == original.id and moved.active_key == f"{original.id}:JOB_PLACEMENT"  # type: ignore[attr-defined]
    assert await RequestTransition.filter(request_id=claimed.id).count() == 1
    # The duplicate's own HOME_CARE (open) request is closed as a duplicate; the original's stays.
    home_care = await ServiceRequest.filter(household_id=original.id, need_id="HOME_CARE").order_by("id")
    assert [(str(request.status), request.close_reason) for request in home_care] == [
        ("open", None),
        ("cancelled", "duplicate"),
    ]
    assert await ServiceRequest.filter(household_id=original.id, active_key__isnull=False).count() == 5
    assert sorted(await Flag.filter(household_id=original.id).values_list("code", flat=True)) == [
        "ELDERLY_ALONE",
        "UNEMPLOYED",
    ]
    assert (await User.get(id=user.id)).household_id == original.id  # type: ignore[attr-defined]
    assert await HouseholdMerge.exists(external_id="WZ-000002", kept_id=original.id)
    assert await AuditEntry.exists(action="household.merged", object_id=str(original.id))


async def test_a_merged_away_external_id_is_refused_naming_the_kept_one(coordinator):
    await import_json([person(1), person(2, id_number=person(1)["id_number"])])
    await merge_duplicate(coordinator, (await household("WZ-000002")).id, keep="original")
    result = await import_json([person(2)])
    assert result.created == 0
    assert "WZ-000001" in result.rejected[0].errors[0].message
    assert (await household_status("WZ-000002"))["merged_into"] == "WZ-000001"


async def test_merge_can_keep_the_newer_household(coordinator):
    await import_json([person(1), person(2, id_number=person(1)["id_number"])])
    duplicate = await household("WZ-000002")
    kept = await merge_duplicate(coordinator, duplicate.id, keep="duplicate")
    assert kept.id == duplicate.id and not await Household.exists(external_id="WZ-000001")
    assert kept.possible_duplicate_of_id is None  # type: ignore[attr-defined]


async def test_merge_refuses_when_both_requests_are_with_partners(coordinator):
    await import_json(
        [person(1, flags=["LOW_INCOME"]), person(2, id_number=person(1)["id_number"], flags=["LOW_INCOME"])]
    )
    await ServiceRequest.all().update(status=RequestStatus.CLAIMED)
    with pytest.raises(InvalidInput):
        await merge_duplicate(coordinator, (await household("WZ-000002")).id, keep="original")
    assert await Household.all().count() == 2


async def test_a_coordinator_of_another_district_can_neither_see_nor_merge(coordinator):
    await import_json(
        [
            person(1, region_code=WENCHENG_COMMUNITY),
            person(2, region_code=WENCHENG_COMMUNITY, id_number=person(1)["id_number"]),
        ]
    )
    assert (await possible_duplicates(coordinator)).total == 0
    with pytest.raises(NotFound):
        await merge_duplicate(coordinator, (await household("WZ-000002")).id, keep="original")
    worker = await principal_for(
        await create_user("worker", PASSWORD, Role.COMMUNITY_WORKER, region_code=WENCHENG_COMMUNITY)
    )
    with pytest.raises(PermissionDenied):
        await dismiss_duplicate(worker, (await household("WZ-000002")).id)
    wencheng = await principal_for(
        await create_user("coord-wc", PASSWORD, Role.COORDINATOR, region_code=WENCHENG)
    )
    assert (await possible_duplicates(wencheng)).total == 1


async def test_an_original_outside_the_area_is_listed_without_its_details(coordinator):
    await import_json(
        [person(1, region_code=WENCHENG_COMMUNITY, id_number=id_number("33032819500101123")), person(2)]
    )
    await import_json([person(3, id_number=id_number("33032819500101123"))])
    page = await possible_duplicates(coordinator)
    assert page.total == 1
    assert page.pairs[0].duplicate.external_id == "WZ-000003" and page.pairs[0].original is None
