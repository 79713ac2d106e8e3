"""Region settings (alliance/visits/region_settings.py): inherited down the region tree with their
source shown, checked on the server in both languages, audited with a history, set by a coordinator
for their own regions only; and the rules that obey them — escalation, unscheduled claims, transfer
auto-approval, the check-in geofence at the door and on regular visits — plus the command line."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from alliance.core.access import principal_for
from alliance.core.codes import LocationPrecision, TransferStatus
from alliance.core.errors import InvalidInput, NotFound, PermissionDenied
from alliance.core.i18n import language
from alliance.core.models import AuditEntry, Region
from alliance.core.timeutil import utc_now
from alliance.households.models import Household
from alliance.matching.claims import claim_request
from alliance.matching.matching import match_all
from alliance.matching.models import ServiceRequest
from alliance.matching.transfers import ask_transfer, auto_approve_due_transfers
from alliance.matching.unscheduled_claims import schedule_within_days
from alliance.notifications.escalation import escalate_unclaimed_requests
from alliance.visits import regular
from alliance.visits.checkins import check_in_by_gps
from alliance.visits.region_settings import region_overview, region_settings, set_region_settings
from alliance.visits.scheduling import schedule_visit
from tests.checkin_support import build_door_world
from tests.claims_support import add_household_request, add_partner, build_claim_world
from tests.factories import build_two_sides, login, session_csrf
from tests.visits_support import more_claimed_requests
from web.cli import build_parser
from web.cli_regions import region_command

CITY = "330300"
# ~300 m north of a household at (lat, lon): about 0.0027° of latitude.
NORTH_300_M = 0.0027


def _by_key(page) -> dict:
    return {item.setting.key: item for item in page.settings}


async def test_settings_are_inherited_with_their_source_audited_and_kept_to_the_coordinators_regions():
    left, right, admin = await build_two_sides()
    chief = await principal_for(admin)
    coordinator = await principal_for(left.users["coordinator"])
    await set_region_settings(chief, CITY, {"claim_deadline_days": "5"}, "10.0.0.1")
    change = await set_region_settings(
        coordinator, left.district, {"stale_claim_days": "2", "checkin_radius_m": "500"}
    )
    assert change.changed == {"stale_claim_days": (None, 2), "checkin_radius_m": (None, 500)}

    page = _by_key(await region_settings(coordinator, left.community))
    assert (page["claim_deadline_days"].value, page["claim_deadline_days"].source) == (5, "inherited")
    assert page["claim_deadline_days"].source_region.code == CITY
    assert (page["stale_claim_days"].value, page["stale_claim_days"].source_region.code) == (2, left.district)
    assert (page["checkin_radius_m"].value, page["checkin_radius_m"].own) == (500, None)
    # Nothing set anywhere: the built-in default (the environment's for hours and radius).
    assert (page["transfer_auto_approve_hours"].value, page["transfer_auto_approve_hours"].source) == (
        36,
        "default",
    )
    assert (page["verification_required"].value, page["verification_required"].source) == (False, "default")
    with language("en"):
        assert page["claim_deadline_days"].source_text == "inherited from 温州市"
        own = _by_key(await region_settings(coordinator, left.district))["stale_claim_days"]
        assert (own.source_text, own.value_text) == ("own value", "2 days")
    # The rules read the same inherited values.
    community = await Region.get(code=left.community)
    assert (await schedule_within_days([community.path]))[community.path] == 2

    # Emptying a field inherits again; every change is audited with its old and new value.
    await set_region_settings(coordinator, left.district, {"checkin_radius_m": ""})
    entries = await AuditEntry.filter(action="region.policy").order_by("id")
    assert [
        (e.actor_name, e.object_id, e.details["setting"], e.details["from"], e.details["to"]) for e in entries
    ] == [
        ("admin", CITY, "escalate_unclaimed_after_days", None, 5),
        (left.users["coordinator"].username, left.district, "schedule_claim_within_days", None, 2),
        (left.users["coordinator"].username, left.district, "checkin_radius_m", None, 500),
        (left.users["coordinator"].username, left.district, "checkin_radius_m", 500, None),
    ]
    assert entries[0].address == "10.0.0.1"
    # The coordinator of the district finds the changes of their region in the audit trail too.
    assert {entry.region_path for entry in entries[1:]} == {(await Region.get(code=left.district)).path}
    with language("en"):
        history = (await region_settings(coordinator, left.district)).history
    assert [(row.setting, row.old, row.new) for row in history[:2]] == [
        ("Check-in radius", "500 m", "inherit"),
        ("Check-in radius", "inherit", "500 m"),
    ]

    # A coordinator sets their own region and those under it, nothing above or beside.
    rows, _history = await region_overview(coordinator)
    assert [row.region.code for row in rows] == [left.district, f"{left.district}001", left.community]
    for code in (CITY, right.district, right.community):
        with pytest.raises(NotFound):
            await set_region_settings(coordinator, code, {"claim_deadline_days": "1"})
        with pytest.raises(NotFound):
            await region_settings(coordinator, code)
    with pytest.raises(PermissionDenied):
        await set_region_settings(await principal_for(left.users["partner_admin"]), left.district, {})
    rows, _history = await region_overview(chief)
    assert {row.region.code for row in rows} >= {CITY, left.district, right.community}


async def test_out_of_range_values_are_refused_all_at_once_in_both_languages_and_nothing_is_written():
    left, _right, admin = await build_two_sides()
    chief = await principal_for(admin)
    wanted = {
        "claim_deadline_days": "0",
        "stale_claim_days": "91",
        "transfer_auto_approve_hours": "721",
        "checkin_radius_m": "19",
        "verification_required": "maybe",
    }
    with language("en"), pytest.raises(InvalidInput) as refused:
        await set_region_settings(chief, left.district, wanted)
    assert set(refused.value.errors) == set(wanted)
    assert refused.value.errors["checkin_radius_m"] == (
        "Check-in radius: enter a whole number from 20 to 5000, or leave it empty to inherit."
    )
    assert "1 to 720" in refused.value.errors["transfer_auto_approve_hours"]
    with language("zh_CN"), pytest.raises(InvalidInput) as refused:
        await set_region_settings(chief, left.district, {"claim_deadline_days": "三天"})
    assert (
        "1" in refused.value.errors["claim_deadline_days"]
        and "90" in refused.value.errors["claim_deadline_days"]
    )
    assert "whole number" not in refused.value.errors["claim_deadline_days"]
    district = await Region.get(code=left.district)
    assert (district.escalate_unclaimed_after_days, district.checkin_radius_m) == (None, None)
    assert not await AuditEntry.filter(action="region.policy").exists()
    # The edges are allowed.
    await set_region_settings(
        chief,
        left.district,
        {"claim_deadline_days": "90", "transfer_auto_approve_hours": "720", "checkin_radius_m": "20"},
    )
    district = await Region.get(code=left.district)
    assert (
        district.escalate_unclaimed_after_days,
        district.transfer_auto_approve_hours,
        district.checkin_radius_m,
    ) == (
        90,
        720,
        20,
    )


async def test_escalation_follows_the_claim_deadline_a_district_passes_to_its_communities():
    world = await build_claim_world()
    chief = await principal_for(world.admin)
    await set_region_settings(chief, world.left.district, {"claim_deadline_days": "1"})
    right_request = await ServiceRequest.get(household_id=world.right.household.id)
    sweep = await escalate_unclaimed_requests(now=utc_now() + timedelta(days=1, minutes=5))
    # The left community inherits 1 day from its district; the right one keeps the default 3.
    assert world.request.id in sweep.escalated and right_request.id not in sweep.escalated
    sweep = await escalate_unclaimed_requests(now=utc_now() + timedelta(days=3, minutes=5))
    assert right_request.id in sweep.escalated


async def test_a_transfer_is_approved_after_its_regions_hours_not_after_the_siblings_default():
    world = await build_claim_world()
    chief = await principal_for(world.admin)
    # The left district sets 2 hours: its community (the request's household) inherits them. The
    # right district, its sibling, is left at the default (TRANSFER_AUTO_APPROVE_HOURS, 36).
    await set_region_settings(chief, world.left.district, {"transfer_auto_approve_hours": "2"})
    right_rival = await add_partner("右侧对手", world.right.district, suffix="right-rival")
    await match_all(notify=False)
    right_request = await ServiceRequest.get(household_id=world.right.household.id)
    await claim_request(await world.home.principal(), world.request.id)
    await claim_request(await world.far.principal(), right_request.id)
    left_ask = await ask_transfer(await world.rival.principal(), world.request.id, "我们更近")
    right_ask = await ask_transfer(await right_rival.principal(), right_request.id, "我们更近")
    asked_at = utc_now()
    assert left_ask.transfer.due_at <= asked_at + timedelta(hours=2)
    assert right_ask.transfer.due_at > asked_at + timedelta(hours=35)

    sweep = await auto_approve_due_transfers(now=asked_at + timedelta(hours=2, minutes=1))
    assert sweep.approved == [left_ask.transfer.id]
    assert (await ServiceRequest.get(id=world.request.id)).claimed_by_id == world.rival.partner.id
    await right_ask.transfer.refresh_from_db()
    assert right_ask.transfer.status == TransferStatus.PENDING
    sweep = await auto_approve_due_transfers(now=asked_at + timedelta(hours=36, minutes=1))
    assert sweep.approved == [right_ask.transfer.id]


async def test_the_check_in_geofence_is_the_households_regions_radius_at_the_door_and_on_regular_visits():
    world = await build_door_world()
    left = world.visits.claims.left
    chief = await principal_for(world.visits.claims.admin)
    volunteer = await world.volunteer_principal()
    far = (world.household.lat + NORTH_300_M, world.household.lon)
    # The default radius (ALLIANCE_CHECKIN_RADIUS_M, 150 m): 300 m away is flagged.
    first = await check_in_by_gps(volunteer, world.visit.id, *far)
    assert first.needs_review and "radius 150 m" in first.check_in.reason
    assert 280 < first.check_in.distance_m < 320
    worker = await principal_for(left.users["community_worker"])
    await Household.filter(id=left.household.id).update(location_precision=LocationPrecision.ADDRESS)
    assert (await regular.check_in_by_gps(worker, left.household.id, *far)).needs_review

    # The district sets 500 m; the household's community inherits it.
    await set_region_settings(chief, left.district, {"checkin_radius_m": "500"})
    (other,) = await more_claimed_requests(world.visits, 1)
    await Household.filter(id=other.household_id).update(location_precision=LocationPrecision.EXACT)
    start = utc_now() + timedelta(hours=3)
    second_visit = (
        await schedule_visit(
            world.visits.dispatcher, other.id, start, start + timedelta(hours=1), [world.volunteer.id]
        )
    ).visit
    second = await check_in_by_gps(volunteer, second_visit.id, *far)
    assert not second.needs_review and second.check_in.reason == ""
    neighbour = await add_household_request(left, "geo")
    await Household.filter(id=neighbour.household_id).update(location_precision=LocationPrecision.ADDRESS)
    assert not (await regular.check_in_by_gps(worker, neighbour.household_id, *far)).needs_review

    # Beyond the region's radius it is flagged again, naming that radius.
    await set_region_settings(chief, left.community, {"checkin_radius_m": "100"})
    start = utc_now() + timedelta(hours=6)
    (third_request,) = await more_claimed_requests(world.visits, 1)
    await Household.filter(id=third_request.household_id).update(location_precision=LocationPrecision.EXACT)
    third_visit = (
        await schedule_visit(
            world.visits.dispatcher, third_request.id, start, start + timedelta(hours=1), [world.volunteer.id]
        )
    ).visit
    third = await check_in_by_gps(volunteer, third_visit.id, *far)
    assert third.needs_review and "radius 100 m" in third.check_in.reason


async def test_the_page_shows_sources_saves_refuses_in_the_readers_language_and_keeps_history(app, client):
    left, right, _admin = await build_two_sides()
    await login(client, left.users["coordinator"].username)
    headers = {"X-CSRF-Token": session_csrf(client)}
    listed = await client.get("/admin/region-settings")
    assert listed.status_code == 200 and f"/admin/region-settings/{left.community}" in listed.text
    assert right.district not in listed.text and 'href="/admin/region-settings"' in listed.text
    # The old address of the region policy sends the coordinator here.
    moved = await client.get("/admin/region-policy")
    assert moved.status_code == 301 and moved.headers["location"] == "/admin/region-settings"

    refused = await client.post(
        f"/admin/region-settings/{left.district}", data={"checkin_radius_m": "9000"}, headers=headers
    )
    assert refused.status_code == 422
    assert "Check-in radius: enter a whole number from 20 to 5000" in refused.text
    assert 'aria-invalid="true"' in refused.text and 'value="9000"' in refused.text
    await client.post("/language", data={"language": "zh_CN", "next": "/"}, headers=headers)
    refused = await client.post(
        f"/admin/region-settings/{left.district}", data={"checkin_radius_m": "9000"}, headers=headers
    )
    assert refused.status_code == 422 and "签到半径：请填写 20 至 5000 之间的整数" in refused.text
    await client.post("/language", data={"language": "en", "next": "/"}, headers=headers)

    saved = await client.post(
        f"/admin/region-settings/{left.district}",
        data={"claim_deadline_days": "4", "stale_claim_days": "", "verification_required": ""},
        headers=headers,
    )
    assert saved.status_code == 303
    page = await client.get(f"/admin/region-settings/{left.community}")
    assert page.status_code == 200
    assert "In force: 4 days" in page.text and "inherited from 鹿城区" in page.text
    assert "In force: 36 hours" in page.text and "In force: 150 m" in page.text
    district = await client.get(f"/admin/region-settings/{left.district}")
    assert left.users["coordinator"].username in district.text and "Claim deadline" in district.text
    assert (await client.get(f"/admin/region-settings/{right.district}")).status_code == 404


async def test_the_command_line_shows_and_sets_through_the_same_rules(capsys, monkeypatch):
    left, _right, _admin = await build_two_sides()
    monkeypatch.setenv("TRANSFER_AUTO_APPROVE_HOURS", "48")
    parser = build_parser()

    async def alliance(*words: str) -> tuple[int, str, str]:
        status = await region_command(parser.parse_args(["region", "settings", *words]))
        out, err = capsys.readouterr()
        return status, out, err

    coordinator = left.users["coordinator"].username
    status, out, err = await alliance(
        "set",
        left.district,
        "--as",
        coordinator,
        "--claim-deadline-days",
        "2",
        "--checkin-radius-m",
        "400",
        "--json",
    )
    assert status == 0, err
    shown = json.loads(out)["settings"]
    assert shown["claim_deadline_days"] == {
        "own": 2,
        "in_force": 2,
        "source": "own",
        "from_region": left.district,
    }
    status, _out, err = await alliance(
        "set", left.district, "--as", coordinator, "--transfer-auto-approve-hours", "0"
    )
    assert status == 2 and "--transfer-auto-approve-hours" in err and "from 1 to 720" in err
    # Another district is not the coordinator's; an unknown user acts as nobody.
    assert (await alliance("set", "330328", "--as", coordinator, "--claim-deadline-days", "2"))[0] == 2
    assert (await alliance("set", left.district, "--as", "nobody", "--claim-deadline-days", "2"))[0] == 2
    status, out, err = await alliance("show", left.community, "--json")
    assert status == 0, err
    report = json.loads(out)
    assert report["settings"]["checkin_radius_m"] == {
        "own": None,
        "in_force": 400,
        "source": "inherited",
        "from_region": left.district,
    }
    # The environment's value is the default of a region that sets none.
    assert report["settings"]["transfer_auto_approve_hours"]["in_force"] == 48
    status, out, _err = await alliance("show", left.district)
    lines = out.splitlines()
    assert status == 0 and lines[0].startswith(left.district)
    assert "claim_deadline_days" in lines[1] and "(own)" in lines[1] and "(default)" in lines[2]
    district = json.loads((await alliance("show", left.district, "--json"))[1])
    assert [(row["by"], row["to"]) for row in district["history"]] == [
        (coordinator, "400 m"),
        (coordinator, "2 days"),
    ]
