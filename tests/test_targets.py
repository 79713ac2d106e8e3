"""Yearly targets and the cockpit's figures (alliance/targets/: targets, pace, scopes, progress,
operational, unserved, cockpit): definitions, pace and forecast, scope, the unserved list and its
escalation, history of target changes, the CLI's JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from alliance.core.access import principal_for
from alliance.core.codes import PartnerStatus, TargetMetric
from alliance.core.errors import InvalidInput, NotFound, PermissionDenied
from alliance.core.timeutil import LOCAL_TZ, utc_now
from alliance.households.models import Flag, Household
from alliance.matching.models import RequestTransition, ServiceRequest
from alliance.partners.models import Offering, Partner, Project, Volunteer
from alliance.targets import cockpit, pace, progress, scopes, targets
from alliance.targets.growth import organisation_joined, volunteer_left
from alliance.targets.models import Target, TargetChange
from alliance.targets.operational import age_bucket_label, operational_figures
from alliance.targets.tallies import recount
from alliance.targets.unserved import escalate_household, unserved_households
from alliance.visits.checkins import check_in_by_gps
from alliance.visits.service_records import check_out
from tests.checkin_support import build_door_world, risks

AT_THE_DOOR = (28.0155, 120.655)
ROOT = Path(__file__).resolve().parent.parent


def this_year() -> int:
    return utc_now().astimezone(LOCAL_TZ).year


async def served_world(persons: int = 2, with_project: bool = True):
    """The door world's visit completed by its volunteer (persons served), its offering in a project."""
    world = await build_door_world()
    if with_project:
        project = await Project.create(
            year=this_year(), code="P01", name="助老上门服务", target_person_times=50
        )
        await Offering.filter(id=world.visits.request.offering_id).update(project_id=project.id)
        await Project.create(year=this_year(), code="P02", name="没有服务的项目")
    volunteer = await world.volunteer_principal()
    await check_in_by_gps(volunteer, world.visit.id, *AT_THE_DOOR)
    await check_out(
        volunteer,
        world.visit.id,
        service="Lunch",
        duration_minutes="40",
        persons_served=str(persons),
        notes="",
        risks=risks(),
    )
    return world


async def figures_for(principal, year: int | None = None) -> dict[str, progress.TargetFigure]:
    scope = await scopes.scope_for(principal)
    found = await progress.target_figures(scope, year or this_year())
    return {figure.metric: figure for figure in found}


# --- pace and forecast ------------------------------------------------------------------------


def test_expected_by_today_is_pro_rata_of_the_days_gone():
    year = 2025
    midyear = datetime(2025, 7, 2, 12, tzinfo=LOCAL_TZ)  # 182.5 of 365 days
    share = pace.year_share(year, midyear)
    assert share == pytest.approx(0.5, abs=0.001)
    assert pace.expected_by(10_000, share) == 5000
    assert pace.year_share(year, datetime(2024, 12, 31, tzinfo=LOCAL_TZ)) == 0.0
    assert pace.year_share(year, datetime(2026, 1, 2, tzinfo=LOCAL_TZ)) == 1.0
    assert pace.expected_by(None, share) is None


def test_a_monthly_curve_sets_the_pace_month_by_month():
    curve = [0, 0, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100]  # nothing in January and February
    assert pace.year_share(2025, datetime(2025, 2, 20, tzinfo=LOCAL_TZ), curve) == 0.0
    assert pace.year_share(2025, datetime(2025, 4, 1, tzinfo=LOCAL_TZ), curve) == pytest.approx(0.1)
    # Halfway through April (30 days): March's 100 + half of April's 100.
    assert pace.year_share(2025, datetime(2025, 4, 16, tzinfo=LOCAL_TZ), curve) == pytest.approx(0.15)
    assert pace.month_end_share(2025, 3, curve) == pytest.approx(0.1)
    assert pace.month_end_share(2025, 12, curve) == 1.0


def test_the_forecast_extends_the_pace_so_far_to_the_year_end():
    assert pace.forecast_year_end(2500, 0.25) == 10_000
    assert pace.forecast_year_end(2500, 1.0) == 2500  # the year is over: the actual
    assert pace.forecast_year_end(3, 0.01) == 3  # the first week: too early to extrapolate
    assert pace.forecast_year_end(6, 0.5, ceiling=10) == 10  # no more projects than exist
    assert pace.forecast_year_end(0, 0.5) == 0


def test_on_track_means_the_actual_reaches_what_the_pace_expects():
    assert progress.TargetFigure("person_times", 100, 50, 50, 100).status == "on_track"
    assert progress.TargetFigure("person_times", 100, 49, 50, 98).status == "behind"
    assert progress.TargetFigure("person_times", None, 49, None, 98).status == "no_target"


# --- definitions ------------------------------------------------------------------------------


async def test_each_target_counts_by_its_definition():
    world = await served_world(persons=2)
    coordinator = await world.coordinator()

    figures = await figures_for(coordinator)

    # One project with a completed delivery (the second project has none) and the two persons served.
    # Organisations and volunteers count growth: the partner was entered approved, never joined.
    assert figures["projects"].actual == 1
    assert figures["organisations"].actual == 0
    assert figures["volunteers"].actual == 0
    assert figures["person_times"].actual == 2
    # Joining (the first approval) counts the organisation and its active volunteers.
    await organisation_joined(world.visits.partner.id)
    figures = await figures_for(coordinator)
    its_volunteers = await Volunteer.filter(partners__id=world.visits.partner.id, active=True).count()
    assert figures["organisations"].actual == 1
    assert figures["volunteers"].actual == its_volunteers >= 1
    # Another year has nothing.
    assert all(figure.actual == 0 for figure in (await figures_for(coordinator, this_year() + 1)).values())

    await Partner.filter(id=world.visits.partner.id).update(status=PartnerStatus.SUSPENDED)
    await Volunteer.filter(id=world.volunteer.id).update(active=False)
    await volunteer_left(world.volunteer.id)
    figures = await figures_for(coordinator)
    assert figures["organisations"].actual == 1  # it joined this year, whatever came later
    assert figures["volunteers"].actual == its_volunteers - 1  # only active volunteers count
    assert figures["person_times"].actual == 2


async def test_a_scheduled_visit_counts_nothing_until_it_is_completed():
    world = await build_door_world()
    figures = await figures_for(await world.coordinator())
    assert [figure.actual for figure in figures.values()] == [0, 0, 0, 0]


async def test_tally_figures_equal_a_count_from_scratch():
    world = await served_world(persons=2)
    coordinator = await world.coordinator()
    scope = await scopes.scope_for(coordinator)
    counted = await recount()
    year = this_year()

    in_scope = [
        row for row in counted.tallies.values() if row[0] == year and row[3].startswith(scope.region_path)
    ]
    participants = [
        row
        for row in counted.participants.values()
        if row[0] == year and row[4].startswith(scope.region_path)
    ]
    figures = await figures_for(coordinator)

    assert figures["person_times"].actual == sum(row[6] for row in in_scope) == 2
    assert figures["projects"].actual == len({row[2] for row in participants if row[1] == "project"})
    by_month = await progress.by_month(scope, year)
    assert sum(row.person_times for row in by_month) == 2
    assert sum(row.deliveries for row in by_month) == sum(row[7] for row in in_scope) == 1


# --- scope ------------------------------------------------------------------------------------


async def test_a_district_coordinator_sees_only_its_subtree():
    world = await served_world(persons=2)
    left = await world.coordinator("left")
    right = await world.coordinator("right")

    assert (await figures_for(left))["person_times"].actual == 2
    assert (await figures_for(right))["person_times"].actual == 0
    right_scope = await scopes.scope_for(right)
    assert await progress.by_partner(right_scope, this_year()) == []
    assert await progress.by_project(right_scope, this_year()) == []
    assert (await unserved_households(right_scope, days=0)).total == 1  # its own household only
    with pytest.raises(NotFound):
        await scopes.scope_for(right, world.visits.claims.left.district)
    with pytest.raises(NotFound):
        await scopes.scope_for(right, world.visits.claims.left.community)


async def test_the_region_breakdown_is_one_level_below_and_drills_down():
    world = await served_world(persons=2)
    admin = await principal_for(world.visits.claims.admin)
    left = world.visits.claims.left

    city = await scopes.scope_for(admin, "330300")
    rows = {row.key: row for row in await progress.by_region(city, this_year())}
    assert rows[left.district].person_times == 2 and rows[left.district].drillable
    assert rows[world.visits.claims.right.district].person_times == 0

    district = await scopes.scope_for(admin, left.district)
    towns = await progress.by_region(district, this_year())
    assert [(row.key, row.person_times) for row in towns] == [(left.district + "001", 2)]
    community = await scopes.scope_for(admin, left.community)
    assert await progress.by_region(community, this_year()) == []


async def test_only_coordinators_and_admins_see_the_figures():
    world = await build_door_world()
    with pytest.raises(PermissionDenied):
        await scopes.scope_for(await world.volunteer_principal())
    worker = await principal_for(world.visits.claims.left.users["community_worker"])
    with pytest.raises(PermissionDenied):
        await scopes.scope_for(worker)


# --- targets and their history ----------------------------------------------------------------


async def test_an_admin_sets_targets_and_every_change_is_kept():
    world = await build_door_world()
    admin = await principal_for(world.visits.claims.admin)
    year = this_year()

    await targets.set_target(admin, year, TargetMetric.PERSON_TIMES, "10,000")
    await targets.set_target(admin, year, TargetMetric.PERSON_TIMES, "12000")
    await targets.set_target(admin, year, TargetMetric.PERSON_TIMES, "12000")  # unchanged: no history

    target = await Target.get(year=year, metric="person_times", scope_key="alliance")
    assert target.value == 12000
    changes = (
        await TargetChange.filter(target_id=target.id).order_by("id").values_list("old_value", "new_value")
    )
    assert changes == [(None, 10000), (10000, 12000)]

    with pytest.raises(InvalidInput):
        await targets.set_target(admin, year, TargetMetric.PERSON_TIMES, "-5")
    with pytest.raises(InvalidInput):
        await targets.set_target(admin, year, TargetMetric.PERSON_TIMES, "5", "region:999999")
    with pytest.raises(PermissionDenied):
        await targets.set_target(await world.coordinator(), year, TargetMetric.PERSON_TIMES, "1")


async def test_region_targets_apply_to_their_region_and_the_alliance_targets_to_the_root():
    world = await served_world(persons=2)
    admin = await principal_for(world.visits.claims.admin)
    left = world.visits.claims.left
    year = this_year()
    await targets.set_target(admin, year, TargetMetric.PERSON_TIMES, "10000")
    await targets.set_target(admin, year, TargetMetric.PERSON_TIMES, "400", f"region:{left.district}")

    district = await progress.target_figures(await scopes.scope_for(admin, left.district), year)
    city = await progress.target_figures(await scopes.scope_for(admin, "330300"), year)
    other = await progress.target_figures(
        await scopes.scope_for(admin, world.visits.claims.right.district), year
    )

    assert district[3].target == 400
    assert city[3].target == 10000
    assert other[3].target is None and other[3].status == "no_target"


async def test_a_monthly_curve_must_add_up_to_a_thousand_per_mille():
    world = await build_door_world()
    admin = await principal_for(world.visits.claims.admin)
    year = this_year()
    with pytest.raises(InvalidInput):
        await targets.set_monthly_curve(admin, year, ["100"] * 12)
    await targets.set_monthly_curve(admin, year, ["0", "0"] + ["100"] * 10)
    assert await targets.monthly_curve(year) == [0, 0] + [100] * 10
    await targets.set_monthly_curve(admin, year, ["0"] * 12)
    assert await targets.monthly_curve(year) is None  # back to pro-rata, the history kept
    assert await TargetChange.filter(target__scope_key="curve:03").count() == 2


# --- the unserved list ------------------------------------------------------------------------


async def _flagged(side, suffix: str, flags: list[str], days_ago: int, accessibility=(), members: int = 1):
    household = await Household.create(
        external_id=f"EXT-U{suffix}",
        head_name=f"王{suffix}",
        region_id=side.community,
        member_count=members,
        accessibility=list(accessibility),
    )
    for code in flags:
        await Flag.create(household=household, code=code, detected_at=utc_now() - timedelta(days=days_ago))
    await ServiceRequest.create(
        household=household, need_id="HOME_CARE", active_key=f"{household.id}:HOME_CARE"
    )
    return household


async def test_the_unserved_list_puts_the_most_vulnerable_then_the_longest_waiting_first():
    world = await served_world(persons=1)  # the left side's own household is served now
    left = world.visits.claims.left
    low_old = await _flagged(left, "1", ["LOW_INCOME"], days_ago=200)
    bedridden = await _flagged(left, "2", ["ELDERLY_ALONE"], days_ago=40, accessibility=["BEDRIDDEN"])
    low_older = await _flagged(left, "3", ["LOW_INCOME"], days_ago=300)
    await _flagged(left, "4", ["SPECIAL_HARDSHIP"], days_ago=10)  # flagged too recently
    scope = await scopes.scope_for(await world.coordinator())

    unserved = await unserved_households(scope)

    assert [row.id for row in unserved.rows] == [bedridden.id, low_older.id, low_old.id]
    assert unserved.total == 3 and unserved.days == 30
    assert unserved.rows[0].priority == 45 and unserved.rows[0].days_waiting == 40
    assert world.household.id not in [row.id for row in unserved.rows]
    assert (await unserved_households(scope, days=5)).total == 4


async def test_escalating_an_unserved_household_escalates_its_requests_with_history():
    world = await served_world(persons=1)
    left = world.visits.claims.left
    household = await _flagged(left, "9", ["DISABILITY"], days_ago=60)
    coordinator = await world.coordinator()

    assert await escalate_household(coordinator, household.id) == 1
    assert await escalate_household(coordinator, household.id) == 0  # once

    request = await ServiceRequest.get(household_id=household.id)
    assert request.escalated and request.escalated_at is not None
    transition = await RequestTransition.get(request_id=request.id)
    assert transition.reason.startswith("escalate") and transition.actor_id == coordinator.user_id
    unserved = await unserved_households(await scopes.scope_for(coordinator))
    assert unserved.rows[0].escalated

    with pytest.raises(NotFound):
        await escalate_household(await world.coordinator("right"), household.id)


async def test_operational_figures_count_open_requests_by_age_and_waiting_claims():
    world = await served_world(persons=1)
    left = world.visits.claims.left
    await _flagged(left, "5", ["DISABILITY"], days_ago=60)
    old = await ServiceRequest.filter(household__external_id="EXT-U5").first()
    await ServiceRequest.filter(id=old.id).update(created_at=utc_now() - timedelta(days=45))
    scope = await scopes.scope_for(await world.coordinator())

    operational = await operational_figures(scope, this_year())

    by_age = dict(operational.open_by_age)
    assert sum(by_age.values()) == operational.open_total
    assert by_age[age_bucket_label(30, 90)] == 1
    assert operational.median_days_to_first_service is not None
    assert operational.households_served == 1


# --- the command line -------------------------------------------------------------------------

PREPARE = """
import asyncio
from alliance.core import db
from alliance.core.config import load_settings
from alliance.households.reference import ensure_reference_data
from fixtures.demo_city import build_demo_city

async def main():
    url = load_settings().database_url
    await db.migrate(url)
    await db.connect(url)
    await ensure_reference_data()
    await build_demo_city(households=150, seed=3)
    await db.disconnect()

asyncio.run(main())
"""


@pytest.mark.slow
@pytest.mark.sqlite_only
def test_report_targets_prints_the_issue_json_shape(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        DATABASE_URL=f"sqlite://{tmp_path / 'report.sqlite3'}",
        ALLIANCE_DATA_DIR=str(tmp_path / "data"),
        ALLIANCE_LANGUAGE="en",
        PYTHONPATH=str(ROOT),
        LOG_LEVEL="WARNING",
    )
    subprocess.run([sys.executable, "-c", PREPARE], env=env, cwd=ROOT, check=True, timeout=300)
    year = str(this_year())

    done = subprocess.run(
        [sys.executable, "-m", "web.cli", "report", "targets", "--year", year, "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # exactly one JSON object on stdout
    assert set(report) == {"year", "region", "targets", "by_project", "by_region", "unserved"}
    assert report["year"] == int(year) and report["region"] is None
    assert set(report["targets"]) == {"projects", "organisations", "volunteers", "person_times"}
    for figure in report["targets"].values():
        assert set(figure) == {"target", "actual", "expected_by_today", "forecast"}
    assert [report["targets"][metric]["target"] for metric in report["targets"]] == [10, 100, 1000, 10000]
    assert report["targets"]["person_times"]["actual"] == sum(
        row["person_times"] for row in report["by_project"]
    )
    assert isinstance(report["unserved"], int)

    district = subprocess.run(
        [
            sys.executable,
            "-m",
            "web.cli",
            "report",
            "targets",
            "--year",
            year,
            "--region",
            "330302",
            "--json",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert json.loads(district.stdout)["region"] == "330302"
    unknown = subprocess.run(
        [sys.executable, "-m", "web.cli", "report", "targets", "--region", "999999", "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unknown.returncode == 2


# --- the page's cache -------------------------------------------------------------------------


async def test_the_page_cache_computes_once_and_serves_stale_figures_while_refreshing():
    import asyncio

    calls = []

    async def compute():
        calls.append(1)
        await asyncio.sleep(0.01)
        return len(calls)

    cache = cockpit.FigureCache(ttl_seconds=0.05)
    first = await asyncio.gather(*(cache.get(("k",), compute) for _ in range(5)))
    assert first == [1] * 5 and len(calls) == 1  # concurrent misses share one computation
    await asyncio.sleep(0.06)
    assert await cache.get(("k",), compute) == 1  # stale: served at once, refreshed behind
    await asyncio.sleep(0.03)
    assert await cache.get(("k",), compute) == 2 and len(calls) == 2
    cache.clear()
    assert await cache.get(("k",), compute) == 3
