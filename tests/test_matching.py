"""Matching: candidates by need, eligibility, area (radius and region subtree), capacity and partner
status; ranking and reasons in both languages; stored matches; gaps; the jobs and the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from geopy.distance import geodesic
from tortoise import Tortoise

from alliance.core import i18n
from alliance.core.access import principal_for
from alliance.core.accounts import create_user
from alliance.core.codes import PartnerStatus, RegionLevel, RequestStatus, Role
from alliance.core.regions import add_region
from alliance.core.timeutil import utc_now
from alliance.households.models import Flag, Household
from alliance.matching import board_changes
from alliance.matching.board import BoardFilters, board_page
from alliance.matching.candidates import GRID_DEGREES, OfferingIndex, month_key
from alliance.matching.distances import distance_error_bound_km, fast_distance_km
from alliance.matching.matching import match_all, match_job_id, match_offering, match_requests
from alliance.matching.models import Match, OfferingMonth, ServiceRequest
from alliance.matching.selectors import gaps_for, reason_texts, region_codes_of, region_names_of
from alliance.notifications.models import Notification
from alliance.partners.models import Offering, Partner
from tests.factories import PASSWORD, build_two_sides

CITY, LUCHENG, WENCHENG = "330300", "330302", "330328"
LUCHENG_TOWN, LUCHENG_COMMUNITY = "330302001", "330302001001"
WENCHENG_TOWN, WENCHENG_COMMUNITY = "330328001", "330328001001"
# 五马社区, Lucheng: the household point most tests use.
HOME = (28.021, 120.661)


async def build_city() -> None:
    await add_region(CITY, "温州市", RegionLevel.CITY, name_en="Wenzhou", lat=27.994, lon=120.699)
    await add_region(
        LUCHENG, "鹿城区", RegionLevel.DISTRICT, CITY, name_en="Lucheng", lat=28.015, lon=120.655
    )
    await add_region(
        LUCHENG_TOWN, "五马街道", RegionLevel.TOWN, LUCHENG, name_en="Wuma", lat=28.02, lon=120.66
    )
    await add_region(
        LUCHENG_COMMUNITY, "五马社区", RegionLevel.COMMUNITY, LUCHENG_TOWN, lat=HOME[0], lon=HOME[1]
    )
    await add_region(
        WENCHENG, "文成县", RegionLevel.DISTRICT, CITY, name_en="Wencheng", lat=27.787, lon=120.091
    )
    await add_region(
        WENCHENG_TOWN, "大峃镇", RegionLevel.TOWN, WENCHENG, name_en="Daxue", lat=27.79, lon=120.09
    )
    await add_region(
        WENCHENG_COMMUNITY, "大峃社区", RegionLevel.COMMUNITY, WENCHENG_TOWN, lat=27.791, lon=120.092
    )


def point_at(km: float, bearing: float = 90.0, origin: tuple[float, float] = HOME) -> tuple[float, float]:
    found = geodesic(kilometers=km).destination(origin, bearing)
    return found.latitude, found.longitude


_counter = iter(range(1, 1_000_000))


async def community_at(point: tuple[float, float]) -> str:
    """A community of 五马街道 centred on `point` (one per point)."""
    from alliance.core.models import Region

    found = await Region.get_or_none(parent_id=LUCHENG_TOWN, lat=point[0], lon=point[1])
    if found is not None:
        return found.code
    code = f"{LUCHENG_TOWN}{100 + await Region.filter(parent_id=LUCHENG_TOWN).count():03d}"
    await add_region(
        code, f"社区{code[-3:]}", RegionLevel.COMMUNITY, LUCHENG_TOWN, lat=point[0], lon=point[1]
    )
    return code


async def make_request(
    need: str = "HOME_CARE",
    *,
    region: str = LUCHENG_COMMUNITY,
    point: tuple[float, float] | None = HOME,
    flags: tuple[str, ...] = ("ELDERLY_ALONE",),
    inactive_flags: tuple[str, ...] = (),
    priority: int = 30,
    age_days: int = 0,
) -> ServiceRequest:
    number = next(_counter)
    if point is not None and point != HOME and region == LUCHENG_COMMUNITY:
        # Matching measures from the community's centre (never the home): a household placed
        # elsewhere lives in a community of its own, centred on its point.
        region = await community_at(point)
    household = await Household.create(
        external_id=f"M-{number}",
        head_name=f"王{number}",
        region_id=region,
        lat=point[0] if point else None,
        lon=point[1] if point else None,
    )
    for code in flags:
        await Flag.create(household=household, code=code, detected_at=utc_now(), source="test")
    for code in inactive_flags:
        await Flag.create(household=household, code=code, detected_at=utc_now(), source="test", active=False)
    request = await ServiceRequest.create(
        household=household, need_id=need, active_key=f"{household.id}:{need}", priority=priority
    )
    if age_days:
        await ServiceRequest.filter(id=request.id).update(created_at=utc_now() - timedelta(days=age_days))
    return request


async def make_partner(
    name: str, status: PartnerStatus = PartnerStatus.APPROVED, region: str = LUCHENG
) -> Partner:
    return await Partner.create(name=name, kind="service_provider", status=status, region_id=region)


async def make_offering(
    partner: Partner,
    need: str = "HOME_CARE",
    *,
    base: tuple[float, float] | None = None,
    radius_km: float | None = None,
    regions: tuple[str, ...] = (),
    capacity: int = 10,
    eligibility: tuple[str, ...] = (),
    active: bool = True,
    title: str = "",
) -> Offering:
    offering = await Offering.create(
        partner=partner,
        need_id=need,
        title=title or f"{partner.name} {need}",
        eligibility_flags=list(eligibility),
        base_lat=base[0] if base else None,
        base_lon=base[1] if base else None,
        radius_km=radius_km,
        monthly_capacity=capacity,
        active=active,
    )
    for code in regions:
        await offering.regions.add(await _region(code))
    return offering


async def _region(code: str):
    from alliance.core.models import Region

    return await Region.get(code=code)


async def matched_offerings(request: ServiceRequest) -> list[int]:
    return (
        await Match.filter(request_id=request.id)
        .order_by("-score", "distance_km")
        .values_list("offering_id", flat=True)
    )


async def test_radius_area_uses_the_geodesic_distance_and_the_same_need():
    await build_city()
    partner = await make_partner("近邻服务社")
    near = await make_offering(partner, base=point_at(3.2), radius_km=5)
    far = await make_offering(partner, base=point_at(8), radius_km=5)
    other_need = await make_offering(partner, "HOME_REPAIR", base=point_at(1), radius_km=5)
    request = await make_request()
    run = await match_requests([request.id])
    assert run.requests_matched == 1 and run.matches_stored == 1
    assert await matched_offerings(request) == [near.id]
    match = await Match.get(request_id=request.id)
    assert abs(match.distance_km - 3.2) < 0.001
    assert far.id not in await matched_offerings(request) and other_need.id not in await matched_offerings(
        request
    )
    await request.refresh_from_db()
    assert request.matched_at is not None


async def test_the_radius_edge_is_decided_by_geopy_to_the_metre():
    await build_city()
    partner = await make_partner("边界服务社")
    inside = await make_offering(partner, base=point_at(9.999, 0), radius_km=10)
    outside = await make_offering(partner, base=point_at(10.001, 180), radius_km=10)
    request = await make_request()
    await match_requests([request.id])
    assert await matched_offerings(request) == [inside.id]
    assert outside.id not in await matched_offerings(request)


def test_fast_distance_stays_within_its_bound_of_geopy():
    rng = random.Random(7)
    for _ in range(2000):
        lat, lon = rng.uniform(18, 54), rng.uniform(73, 135)
        km = rng.uniform(0, 300)
        there = geodesic(kilometers=km).destination((lat, lon), rng.uniform(0, 360))
        exact = geodesic((lat, lon), (there.latitude, there.longitude)).km
        fast = fast_distance_km(lat, lon, there.latitude, there.longitude)
        assert abs(fast - exact) <= distance_error_bound_km(fast) / 2, (lat, lon, km)


async def test_region_area_covers_the_whole_subtree_only():
    await build_city()
    partner = await make_partner("鹿城区服务中心")
    district_wide = await make_offering(partner, regions=(LUCHENG,))
    elsewhere = await make_offering(partner, regions=(WENCHENG,))
    # No coordinates at all: the region alone decides.
    request = await make_request(point=None)
    await match_requests([request.id])
    assert await matched_offerings(request) == [district_wide.id]
    match = await Match.get(request_id=request.id)
    assert match.distance_km is None
    assert {"code": "region", "region": LUCHENG} in match.reasons
    # The region is named when read, in the reader's language.
    names = await region_names_of(region_codes_of([match.reasons]))
    with i18n.language("zh_CN"):
        assert "服务鹿城区" in "".join(reason_texts(match, names)).replace(" ", "")
    with i18n.language("en"):
        assert any("Lucheng" in text for text in reason_texts(match, names))
    assert elsewhere.id not in await matched_offerings(request)


async def test_eligibility_needs_any_one_active_flag_of_the_offering():
    await build_city()
    telecom = await make_partner("中国电信温州分公司")
    discount = await make_offering(
        telecom, "TELECOM_DISCOUNT", regions=(CITY,), eligibility=("SUBSISTENCE_ALLOWANCE", "LOW_INCOME")
    )
    open_to_all = await make_offering(telecom, "TELECOM_DISCOUNT", regions=(CITY,))
    eligible = await make_request("TELECOM_DISCOUNT", flags=("ELDERLY_ALONE", "LOW_INCOME"))
    lapsed = await make_request("TELECOM_DISCOUNT", flags=("ELDERLY_ALONE",), inactive_flags=("LOW_INCOME",))
    await match_requests([eligible.id, lapsed.id])
    assert set(await matched_offerings(eligible)) == {discount.id, open_to_all.id}
    assert await matched_offerings(lapsed) == [open_to_all.id]
    match = await Match.get(request_id=eligible.id, offering_id=discount.id)
    assert {"code": "eligible", "flags": ["LOW_INCOME"]} in match.reasons


async def test_a_full_offering_is_not_a_candidate_this_month():
    await build_city()
    partner = await make_partner("满员服务社")
    full = await make_offering(partner, regions=(LUCHENG,), capacity=3)
    await OfferingMonth.create(offering=full, month=month_key(), claimed=3)
    no_places = await make_offering(partner, regions=(LUCHENG,), capacity=0)
    last_month_full = await make_offering(partner, regions=(LUCHENG,), capacity=2)
    await OfferingMonth.create(offering=last_month_full, month="2000-01", claimed=2)
    request = await make_request()
    await match_requests([request.id])
    found = await matched_offerings(request)
    assert full.id not in found and no_places.id not in found
    assert found == [last_month_full.id]


async def test_suspended_partners_and_inactive_offerings_are_left_out():
    await build_city()
    suspended = await make_partner("暂停的机构", PartnerStatus.SUSPENDED)
    pending = await make_partner("待审核的机构", PartnerStatus.PENDING)
    approved = await make_partner("正常的机构")
    await make_offering(suspended, regions=(LUCHENG,))
    await make_offering(pending, regions=(LUCHENG,))
    await make_offering(approved, regions=(LUCHENG,), active=False)
    good = await make_offering(approved, regions=(LUCHENG,))
    request = await make_request()
    await match_requests([request.id])
    assert await matched_offerings(request) == [good.id]


async def test_ranking_prefers_near_and_unbusy_partners_and_reasons_read_in_both_languages():
    await build_city()
    near_busy = await make_partner("近而忙")
    near_free = await make_partner("近而闲")
    far_free = await make_partner("远而闲")
    busy = await make_offering(near_busy, base=point_at(2), radius_km=10, capacity=10)
    await OfferingMonth.create(offering=busy, month=month_key(), claimed=9)
    free = await make_offering(
        near_free, base=point_at(3.2), radius_km=10, capacity=10, eligibility=("SUBSISTENCE_ALLOWANCE",)
    )
    await OfferingMonth.create(offering=free, month=month_key(), claimed=6)
    far = await make_offering(far_free, base=point_at(15), radius_km=20, capacity=10)
    request = await make_request(flags=("ELDERLY_ALONE", "SUBSISTENCE_ALLOWANCE"))
    await match_requests([request.id])
    assert await matched_offerings(request) == [free.id, busy.id, far.id]
    match = await Match.get(request_id=request.id, offering_id=free.id)
    with i18n.language("zh_CN"):
        assert reason_texts(match) == ["距离：3–5 公里", "剩余名额 4/10", "符合条件：低保"]
    with i18n.language("en"):
        assert reason_texts(match) == [
            "distance: 3–5 km",
            "4 of 10 places left",
            "eligible: Subsistence allowance (dibao)",
        ]


async def test_reasons_are_stored_short_and_a_board_reads_them_and_rows_from_before_alike():
    """A match's reasons are stored as short pieces (models.StoredReasons: a province rewrites twenty million of
    them a night); the board reads them in the reader's words, naming a region in its language, and
    reads the JSON rows written before the same way."""
    await build_city()
    partner = await make_partner("短理由服务社")
    near = await make_offering(
        partner, base=point_at(3.2), radius_km=10, capacity=10, eligibility=("SUBSISTENCE_ALLOWANCE",)
    )
    await OfferingMonth.create(offering=near, month=month_key(), claimed=6)
    district = await make_offering(partner, regions=(LUCHENG,), capacity=5)
    request = await make_request(flags=("ELDERLY_ALONE", "SUBSISTENCE_ALLOWANCE"))
    await match_requests([request.id])
    connection = Tortoise.get_connection("default")
    stored = {
        row["offering_id"]: row["reasons"]
        for row in await connection.execute_query_dict(
            'SELECT "offering_id", "reasons" FROM "request_match" WHERE "request_id" = '
            + ("$1" if connection.capabilities.dialect == "postgres" else "?"),
            [request.id],
        )
    }
    assert stored == {near.id: "d3-5;c4/10;eSUBSISTENCE_ALLOWANCE", district.id: f"r{LUCHENG};c5/5"}
    match = await Match.get(request_id=request.id, offering_id=district.id)
    assert match.reasons == [
        {"code": "region", "region": LUCHENG},
        {"code": "capacity", "left": 5, "capacity": 5},
    ]
    dispatcher = await create_user("dispatch-short", PASSWORD, Role.DISPATCHER, partner_id=partner.id)
    principal = await principal_for(dispatcher)
    with i18n.language("en"):
        page = await board_page(principal, BoardFilters())
        assert [item.request_id for item in page.items] == [request.id]
        best = page.items[0]
        assert best.offering_id == near.id
        assert best.reasons == [
            "distance: 3–5 km",
            "4 of 10 places left",
            "eligible: Subsistence allowance (dibao)",
        ]
    # The partner's district offering alone: the board names the region, in both languages.
    await Match.filter(offering_id=near.id).delete()
    await Match.filter(id=match.id).update(partner_best=True)
    await board_changes.touch_partners({partner.id})  # as every writer of matches does
    with i18n.language("en"):
        assert (await board_page(principal, BoardFilters())).items[0].reasons == [
            "serves Lucheng",
            "5 of 5 places left",
        ]
    with i18n.language("zh_CN"):
        assert (await board_page(principal, BoardFilters())).items[0].reasons == [
            "服务 鹿城区",
            "剩余名额 5/5",
        ]
    # A row written before the short form (JSON, the region's names inside) reads the same.
    await Match.filter(id=match.id).update(
        reasons='[{"code": "region", "region": "330302", "name": "鹿城区", "name_en": "Lucheng"}, '
        '{"code": "capacity", "left": 5, "capacity": 5}]'
    )
    await board_changes.touch_partners({partner.id})
    with i18n.language("en"):
        assert (await board_page(principal, BoardFilters())).items[0].reasons == [
            "serves Lucheng",
            "5 of 5 places left",
        ]


async def test_priority_and_waiting_rank_requests_for_a_partner():
    await build_city()
    partner = await make_partner("排序服务社")
    await make_offering(partner, regions=(LUCHENG,))
    urgent = await make_request(priority=70)
    waiting = await make_request(priority=30, age_days=90)
    fresh = await make_request(priority=30)
    await match_all()
    board = await Match.filter(partner_id=partner.id).order_by("-score").values_list("request_id", flat=True)
    assert board == [urgent.id, waiting.id, fresh.id]


async def test_rematch_replaces_stored_matches_and_leaves_a_gap():
    await build_city()
    partner = await make_partner("变更服务社")
    offering = await make_offering(partner, base=point_at(3), radius_km=5)
    request = await make_request()
    await match_requests([request.id])
    first = await Match.get(request_id=request.id)
    await match_requests([request.id])
    assert await Match.filter(request_id=request.id).count() == 1
    assert (await Match.get(request_id=request.id)).id != first.id
    # The partner shrinks its radius: re-matching the offering removes the match.
    await Offering.filter(id=offering.id).update(radius_km=2, updated_at=utc_now())
    run = await match_offering(offering.id)
    assert run.requests_matched == 1 and run.requests_without_candidate == 1
    assert await Match.filter(request_id=request.id).count() == 0
    await request.refresh_from_db()
    assert request.matched_at is not None  # matched, and nothing found: a gap


async def test_claimed_requests_keep_no_matches_after_a_full_rematch():
    await build_city()
    partner = await make_partner("认领服务社")
    await make_offering(partner, regions=(LUCHENG,))
    claimed = await make_request()
    still_open = await make_request()
    await match_all()
    await ServiceRequest.filter(id=claimed.id).update(status=RequestStatus.CLAIMED, claimed_by_id=partner.id)
    run = await match_all()
    assert run.requests_matched == 1
    assert await Match.filter(request_id=claimed.id).count() == 0
    assert await Match.filter(request_id=still_open.id).count() == 1
    await match_requests([claimed.id])
    assert await Match.filter(request_id=claimed.id).count() == 0


async def test_the_grid_only_hands_a_request_the_offerings_of_its_cell():
    await build_city()
    partner = await make_partner("网格服务社")
    await make_offering(partner, base=HOME, radius_km=5)
    await make_offering(partner, base=(27.791, 120.092), radius_km=5)  # Wencheng, 60 km away
    index = await OfferingIndex.load(["HOME_CARE"])
    cell = ("HOME_CARE", int(HOME[0] // GRID_DEGREES), int(HOME[1] // GRID_DEGREES))
    assert len(index.by_cell[cell]) == 1


async def test_gap_list_groups_by_need_and_region_within_the_coordinators_scope():
    left, right, admin = await build_two_sides()
    # Side A (鹿城区) has an offering; side B (文成县) has none: its HOME_CARE request is a gap.
    await make_offering(left.partner, regions=(left.district,))
    extra = await make_request("LEGAL_AID", region=right.community, point=(27.787, 120.091))
    await match_all()
    city = await create_user("citycoord", PASSWORD, Role.COORDINATOR, region_code=CITY)
    with i18n.language("zh_CN"):
        gaps = await gaps_for(await principal_for(city))
    assert gaps.total == 2
    assert {(row.need, row.region_code, row.region_name, row.requests) for row in gaps.rows} == {
        ("HOME_CARE", right.district, "文成县", 1),
        ("LEGAL_AID", right.district, "文成县", 1),
    }
    # The district coordinator of 文成县 sees them by town; 鹿城区's coordinator sees nothing.
    wencheng = await gaps_for(await principal_for(right.users["coordinator"]))
    assert {row.region_code for row in wencheng.rows} == {right.district + "001"} and wencheng.total == 2
    lucheng = await gaps_for(await principal_for(left.users["coordinator"]))
    assert lucheng.rows == [] and lucheng.total == 0
    everything = await gaps_for(await principal_for(admin))
    assert everything.total == 2
    assert extra.id  # the LEGAL_AID request is one of the two


async def test_match_jobs_run_on_the_real_worker_and_tell_partners_once_a_day(servers, redis, arq_worker):
    from arq import create_pool
    from arq.connections import RedisSettings

    await build_city()
    partner = await make_partner("通知服务社")
    staff = await create_user("dispatch1", PASSWORD, Role.DISPATCHER, partner_id=partner.id)
    offering = await make_offering(partner, regions=(LUCHENG,))
    first = await make_request(priority=80)
    pool = await create_pool(RedisSettings.from_dsn(servers.redis_url))
    try:
        await pool.enqueue_job("match_requests_job", [first.id], _job_id=match_job_id("requests", first.id))
        await arq_worker.main()
        assert await matched_offerings(first) == [offering.id]
        notices = await Notification.filter(user_id=staff.id)
        assert len(notices) == 1 and notices[0].status == "sent"
        assert "1 new request" in notices[0].body or "1 个" in notices[0].body
        # More good matches the same day: no second notice.
        second = await make_request(priority=80)
        await pool.enqueue_job("match_requests_job", [second.id])
        await pool.enqueue_job(
            "match_offering_job", offering.id, _job_id=match_job_id("offering", offering.id)
        )
        await pool.enqueue_job("match_all_job")
        await arq_worker.main()
        assert await matched_offerings(second) == [offering.id]
        assert await Notification.filter(user_id=staff.id).count() == 1
    finally:
        await pool.aclose()


async def test_match_command_prints_json_counts(servers):
    await build_city()
    partner = await make_partner("命令行服务社")
    await make_offering(partner, regions=(LUCHENG,))
    await make_request()
    await make_request("LEGAL_AID")
    environment = dict(os.environ, DATABASE_URL=servers.database_url, LOG_LEVEL="warning")
    environment.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "web.cli", "match", "--full", "--json"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["requests_matched"] == 2
    assert counts["requests_without_candidate"] == 1
    assert counts["matches_stored"] == 1
    assert counts["seconds"] >= 0
    assert await Match.all().count() == 1


@pytest.mark.skipif(
    os.environ.get("ALLIANCE_TEST_BACKEND") != "postgres",
    reason="the full re-match swaps tables on PostgreSQL only",
)
async def test_full_rematch_swaps_in_a_table_readers_never_miss():
    """PostgreSQL builds the new matches beside the old ones and renames them into place: the same
    indexes and constraints come back under the same names, and a reader running all along always
    finds the request's matches (the old set or the new), never an error or an empty table."""
    await build_city()
    partners = [await make_partner(f"换表服务社{index}") for index in range(3)]
    for index, partner in enumerate(partners):
        await make_offering(partner, base=point_at(1 + index), radius_km=20)
    requests = [await make_request() for _ in range(30)]
    await match_all(notify=False)
    connection = Tortoise.get_connection("default")
    schema_sql = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'request_match' ORDER BY 1"
    constraints_sql = (
        "SELECT conname, contype::text FROM pg_constraint "
        "WHERE conrelid = 'request_match'::regclass ORDER BY 1"
    )
    indexes_before = await connection.execute_query_dict(schema_sql)
    constraints_before = await connection.execute_query_dict(constraints_sql)
    stop = asyncio.Event()
    seen: list[int] = []

    async def reader() -> None:
        while not stop.is_set():
            seen.append(await Match.filter(request_id=requests[0].id).count())
            await asyncio.sleep(0)

    task = asyncio.create_task(reader())
    for _ in range(3):
        run = await match_all(notify=False)
        assert run.matches_stored == 90
    stop.set()
    await task
    assert seen and set(seen) == {3}
    assert await connection.execute_query_dict(schema_sql) == indexes_before
    assert await connection.execute_query_dict(constraints_sql) == constraints_before
    assert any(row["contype"] == "p" for row in constraints_before)
    # New ids continue the old sequence: an incremental run after the swap still inserts.
    await match_requests([requests[1].id])
    assert await Match.filter(request_id=requests[1].id).count() == 3
    stamped = await ServiceRequest.filter(id__in=[r.id for r in requests], matched_at__isnull=True).count()
    assert stamped == 0


async def _busy_city(requests: int = 240) -> list[ServiceRequest]:
    """Enough requests for the area search (AREA_SEARCH_FROM), offerings by radius, by region and
    asking for flags, some households without a point."""
    await build_city()
    partners = [await make_partner(f"整表服务社{index}") for index in range(4)]
    await make_offering(partners[0], base=point_at(1), radius_km=15)
    await make_offering(partners[0], base=point_at(8, 180), radius_km=12)
    await make_offering(partners[1], regions=(LUCHENG,))
    await make_offering(
        partners[2], base=point_at(3, 45), radius_km=20, eligibility=("DISABILITY", "LOW_INCOME")
    )
    await make_offering(partners[3], regions=(CITY,), eligibility=("ELDERLY_ALONE",))
    rng = random.Random(11)
    made = []
    for number in range(requests):
        point = None if number % 20 == 0 else point_at(rng.uniform(0, 12), rng.uniform(0, 360))
        flags = tuple(rng.sample(["ELDERLY_ALONE", "DISABILITY", "LOW_INCOME"], rng.randint(0, 2)))
        made.append(
            await make_request(
                point=point, flags=flags, priority=rng.randint(0, 100), age_days=rng.randint(0, 100)
            )
        )
    return made


def _freeze_matching_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scores grow with the days a request waits: runs compared row for row share one clock."""
    from alliance.matching import matching

    now = utc_now()
    monkeypatch.setattr(matching, "utc_now", lambda: now)


async def _stored_matches() -> list[tuple[Any, ...]]:
    rows = await Match.all().values_list(
        "request_id", "offering_id", "partner_id", "score", "distance_km", "reasons", "partner_best"
    )
    return sorted(rows, key=lambda row: (row[0], row[1]))


@pytest.mark.skipif(
    os.environ.get("ALLIANCE_TEST_BACKEND") != "postgres",
    reason="the full re-match swaps tables on PostgreSQL only",
)
async def test_a_full_rematch_stores_what_matching_the_same_requests_a_chunk_at_a_time_stores(monkeypatch):
    """The full re-match writes binary COPY data from two connections into a side table; matching the
    same requests in chunks writes rows through asyncpg's own COPY: the same matches, reasons and ids
    that run on from the sequence."""
    requests = await _busy_city()
    _freeze_matching_clock(monkeypatch)
    await match_all(notify=False)
    whole = await _stored_matches()
    assert len(whole) > 500 and any(row[4] is None for row in whole)
    assert any(any(reason["code"] == "eligible" for reason in row[5]) for row in whole)
    assert any(any(reason["code"] == "region" for reason in row[5]) for row in whole)
    ids = await Match.all().values_list("id", flat=True)
    assert len(set(ids)) == len(ids)
    await match_requests([request.id for request in requests], notify=False)
    assert await _stored_matches() == whole
    assert min(await Match.all().values_list("id", flat=True)) > max(ids)  # the sequence moved past them
    connection = Tortoise.get_connection("default")
    assert await connection.execute_query_dict("SELECT to_regclass('request_match_next') AS side") == [
        {"side": None}
    ]


_KILLED_REMATCH = """
import asyncio, os, sys, time
from alliance.core import db
from alliance.matching import match_copy, match_storage
from alliance.matching.matching import match_all

match_storage.COPY_BATCH = 1
encode = match_copy.CopyEncoder.encode

def slow_encode(self, tiles):
    if self.next_id > self.first_id + 30:  # some rows are in the side table: tell, and wait to die
        open(sys.argv[1], "w").close()
        time.sleep(60)
    return encode(self, tiles)

match_copy.CopyEncoder.encode = slow_encode

async def main():
    await db.connect(os.environ["DATABASE_URL"])
    await match_all(notify=False)

asyncio.run(main())
"""


@pytest.mark.skipif(
    os.environ.get("ALLIANCE_TEST_BACKEND") != "postgres",
    reason="the full re-match swaps tables on PostgreSQL only",
)
async def test_a_full_rematch_killed_while_copying_leaves_the_old_matches_and_the_next_run_finishes(
    servers, tmp_path, monkeypatch
):
    """SIGKILL in the middle of the COPY: readers still have every old match, the half-filled side
    table is dropped by the next run, which stores the same matches again."""
    await _busy_city()
    _freeze_matching_clock(monkeypatch)
    await match_all(notify=False)
    before = await _stored_matches()
    marker = tmp_path / "copying"
    environment = dict(os.environ, DATABASE_URL=servers.database_url, LOG_LEVEL="warning")
    process = subprocess.Popen([sys.executable, "-c", _KILLED_REMATCH, str(marker)], env=environment)
    try:
        for _ in range(600):
            if marker.exists() or process.poll() is not None:
                break
            await asyncio.sleep(0.1)
        assert marker.exists(), "the run never reached its COPY"
        connection = Tortoise.get_connection("default")
        # The side table is there, its rows not yet committed.
        assert await connection.execute_query_dict("SELECT to_regclass('request_match_next') AS side") != [
            {"side": None}
        ]
        process.kill()
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert await _stored_matches() == before
    await match_all(notify=False)
    assert await _stored_matches() == before
    assert await connection.execute_query_dict("SELECT to_regclass('request_match_next') AS side") == [
        {"side": None}
    ]


async def test_a_partner_with_two_offerings_for_a_need_lists_the_request_once_with_its_best():
    await build_city()
    partner = await make_partner("双点服务社")
    near = await make_offering(partner, base=point_at(1), radius_km=10)
    far = await make_offering(partner, base=point_at(6), radius_km=10)
    request = await make_request()
    await match_all(notify=False)
    rows = await Match.filter(request_id=request.id).order_by("-score").values("offering_id", "partner_best")
    assert rows == [
        {"offering_id": near.id, "partner_best": True},
        {"offering_id": far.id, "partner_best": False},
    ]
    dispatcher = await create_user("dispatch-two", PASSWORD, Role.DISPATCHER, partner_id=partner.id)
    page = await board_page(await principal_for(dispatcher), BoardFilters())
    assert page.total == 1 and [item.request_id for item in page.items] == [request.id]
    assert page.items[0].offering_id == near.id


@pytest.mark.skipif(
    os.environ.get("ALLIANCE_TEST_BACKEND") != "postgres",
    reason="concurrent runs race on PostgreSQL (SQLite has one writer)",
)
async def test_requests_matched_by_another_run_during_a_full_rematch_keep_their_matches():
    """New requests matched by their own job while the nightly run computes: their matches went into
    the table the full run replaces. The full run matches them again, so none is left as a gap."""
    await build_city()
    partner = await make_partner("夜间服务社")
    await make_offering(partner, base=point_at(1), radius_km=20)
    for _ in range(400):
        await make_request()
    late: list[int] = []
    full = asyncio.create_task(match_all(notify=False))
    while not full.done():
        request = await make_request()
        await match_requests([request.id], notify=False)
        late.append(request.id)
    await full
    assert late
    unmatched = (
        await ServiceRequest.filter(status=RequestStatus.OPEN)
        .exclude(id__in=await Match.all().values_list("request_id", flat=True))
        .values_list("id", flat=True)
    )
    assert unmatched == []


def _random_city() -> tuple[Any, list[Any], Any, Any]:
    """An offering index of 300 offerings and 3,000 requests on a random city (a radius edge decided
    by geopy included): the index, the requests, the time and the edge offering."""
    from alliance.matching.candidates import OfferingCandidate, RequestCase

    rng = random.Random(7)
    needs, flags = ["HOME_CARE", "MEALS", "REPAIRS"], ["ELDERLY_ALONE", "DISABILITY", "LOW_INCOME", "CHILD"]
    towns = [f"3303020{t:02d}" for t in range(6)]
    communities = [(f"{town}{c:03d}", town) for town in towns for c in range(4)]
    now = utc_now()
    offerings = []
    for number in range(1, 301):
        lat, lon = 27.9 + rng.random() * 0.4, 120.5 + rng.random() * 0.4
        by_radius = rng.random() < 0.7
        offerings.append(
            OfferingCandidate(
                id=number,
                partner_id=rng.randint(1, 40),
                need=rng.choice(needs),
                eligibility=frozenset(rng.sample(flags, rng.randint(1, 2)) if rng.random() < 0.3 else []),
                lat=lat if by_radius or rng.random() < 0.3 else None,
                lon=lon if by_radius or rng.random() < 0.3 else None,
                radius_km=rng.uniform(1, 20) if by_radius else None,
                capacity=rng.randint(5, 40),
                claimed=rng.randint(0, 4),
                updated_at=now,
                region_codes=[] if by_radius else rng.sample([CITY, LUCHENG, *towns], rng.randint(1, 2)),
            )
        )
    # One offering whose radius ends within a few metres of a household: geopy decides there.
    edge = offerings[0]
    edge.lat, edge.lon, edge.radius_km, edge.region_codes = HOME[0], HOME[1], 5.0, []
    edge_point = point_at(5.0000004, 30.0)
    index = OfferingIndex(offerings)
    requests = []
    for number in range(1, 3001):
        community, town = rng.choice(communities)
        point = (27.9 + rng.random() * 0.4, 120.5 + rng.random() * 0.4) if number > 100 else None
        if number == 101:
            point = edge_point
        requests.append(
            RequestCase(
                id=number,
                need=edge.need if number == 101 else rng.choice(needs),
                priority=rng.randint(0, 100),
                created_at=now - timedelta(days=rng.uniform(0, 120)),
                matched_at=None,
                household_id=number,
                lat=point[0] if point else None,
                lon=point[1] if point else None,
                region_codes=[CITY, LUCHENG, town, community],
                flags=frozenset(rng.sample(flags, rng.randint(0, 2))),
            )
        )

    return index, requests, now, edge


async def test_the_area_search_finds_what_the_one_by_one_search_finds():
    """A full re-match scores requests area by area as arrays (area_candidates.py): the same
    candidates, scores, distances, reasons and order as the per-request search, on a random city."""
    from alliance.matching.candidates import MAX_MATCHES_PER_REQUEST
    from alliance.matching.match_storage import AREA_SEARCH_FROM, MatchRun, _Matcher

    index, requests, now, edge = _random_city()
    run_one, run_area = MatchRun(), MatchRun()
    one, by_area = _Matcher(index, now, run_one), _Matcher(index, now, run_area)
    one_by_one = {request.id: one.rows(request) for request in requests}
    assert len(requests) >= AREA_SEARCH_FROM
    found = {rows[0][0]: rows for rows in by_area.rows_of_many(requests) if rows}
    assert found == {request_id: rows for request_id, rows in one_by_one.items() if rows}
    assert run_area.requests_without_candidate == run_one.requests_without_candidate
    assert by_area.good_new == one.good_new and one.good_new
    assert sum(map(len, found.values())) > 10_000  # a real test: most requests have candidates
    assert max(map(len, found.values())) == MAX_MATCHES_PER_REQUEST  # the best kept where more qualify
    assert edge.id not in {row[1] for row in one_by_one[101]}


async def test_the_copy_data_of_a_full_rematch_holds_the_rows_the_one_by_one_search_makes(monkeypatch):
    """A full re-match on PostgreSQL sends its rows as binary COPY data built with numpy
    (match_copy.py): decoded, they are the per-request search's rows to the last digit, reasons
    text included, numbered from the first id; the requests without a point come through too."""
    from alliance.matching import match_storage
    from alliance.matching.match_copy import HEADER, TRAILER, CopyEncoder, decode
    from alliance.matching.match_storage import MatchRun, _Matcher

    monkeypatch.setattr(match_storage, "COPY_BATCH", 2000)  # many batches, ids running on across them
    index, requests, now, _edge = _random_city()
    one, by_area = _Matcher(index, now, MatchRun()), _Matcher(index, now, MatchRun())
    expected = {(row[0], row[1]): row for request in requests for row in one.rows(request)}
    data = (
        HEADER + b"".join(by_area.copy_chunks(requests, CopyEncoder(by_area.area_search(), 1000))) + TRAILER
    )
    decoded = list(decode(data))
    assert len(decoded) == len(expected) == by_area.stored > 10_000
    assert sorted(row[0] for row in decoded) == list(range(1000, 1000 + len(decoded)))
    got = {(row[1], row[2]): (row[1], row[2], row[3], row[4], row[5], row[7], row[6]) for row in decoded}
    assert got == expected
    assert any(row[5] is None for row in decoded) and any(row[1] <= 100 for row in decoded)
    assert (
        by_area.good_new == one.good_new
        and by_area.run.requests_without_candidate == one.run.requests_without_candidate
    )
    assert sorted(by_area.to_stamp) == sorted(one.to_stamp)


async def test_a_few_requests_read_only_the_offerings_that_reach_them_and_score_the_same():
    """Matching one new request loads the offerings whose box or regions reach it (not all of its
    need's), and the partner's load is still taken over all its offerings: the same rows either way."""
    from alliance.matching.candidates import _load_requests
    from alliance.matching.match_storage import MatchRun, _Matcher

    await build_city()
    rng = random.Random(3)
    busy = await make_partner("忙碌服务社")
    near_partner = await make_partner("近邻服务社")
    for number in range(12):
        # Far from HOME, full-ish: they count in the busy partner's load, never as candidates here.
        await make_offering(
            busy, base=point_at(40 + number, 200), radius_km=5, capacity=10, title=f"far {number}"
        )
    await OfferingMonth.create(
        offering_id=(await Offering.filter(partner=busy).first()).id, month=month_key(), claimed=9
    )
    await make_offering(busy, base=point_at(2, 10), radius_km=6, title="busy near")
    await make_offering(near_partner, base=point_at(3, 100), radius_km=4, title="edge")
    await make_offering(near_partner, regions=(LUCHENG_TOWN,), title="town")
    await make_offering(near_partner, regions=(WENCHENG,), title="other district")
    await make_offering(near_partner, base=(27.791, 120.092), radius_km=80, title="wide")
    requests = [await make_request(point=point_at(rng.uniform(0, 5), rng.uniform(0, 360))) for _ in range(6)]
    cases = await _load_requests([request.id for request in requests])
    now = utc_now()
    everything = await OfferingIndex.load(["HOME_CARE"], now=now)
    nearby = await OfferingIndex.load(["HOME_CARE"], now=now, near=cases)
    assert len(nearby.offerings) < len(everything.offerings) - 10
    assert nearby.partner_load == {
        partner: load for partner, load in everything.partner_load.items() if partner in nearby.partner_load
    }
    for case in cases:
        one, other = _Matcher(everything, now, MatchRun()), _Matcher(nearby, now, MatchRun())
        assert one.rows(case) == other.rows(case)
        assert one.rows(case)
    run = await match_requests([requests[0].id])
    assert run.matches_stored == len(_Matcher(everything, now, MatchRun()).rows(cases[0]))


async def test_a_full_rematch_stamps_only_requests_never_matched_or_with_an_offering_changed_since():
    """matched_at says which matches are new to a partner: a nightly run re-stamps the requests
    never matched and those matched to an offering changed since their stamp, and leaves the rest
    (rewriting every request's stamp cost more than storing their matches)."""
    await build_city()
    await make_offering(await make_partner("全城服务社"), base=HOME, radius_km=8)
    nearby = await make_offering(await make_partner("小区服务社"), base=point_at(1), radius_km=0.5)
    unchanged, near_the_change = await make_request(), await make_request(point=point_at(1))
    await match_all(notify=False)

    async def stamps() -> dict[int, object]:
        return dict(await ServiceRequest.all().values_list("id", "matched_at"))

    first = await stamps()
    newcomer = await make_request(point=point_at(2))
    await Offering.filter(id=nearby.id).update(updated_at=utc_now())
    await asyncio.sleep(0.01)
    second_run = await match_all(notify=False)
    second = await stamps()
    assert second[unchanged.id] == first[unchanged.id]
    assert second[near_the_change.id] > first[near_the_change.id]
    assert second[newcomer.id] is not None
    assert second_run.matches_stored == 4
    assert nearby.id in await matched_offerings(near_the_change)
    await match_all(notify=False)
    assert await stamps() == second
