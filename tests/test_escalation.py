"""The crons that raise what did not happen in time (alliance/notifications/escalation.py) and the coordinators'
daily digest (alliance/targets/digest.py): each acts once however often it runs."""

from __future__ import annotations

from datetime import timedelta

from arq import create_pool
from arq.connections import RedisSettings

from alliance.core.codes import NotificationStatus, RegionLevel, VisitStatus
from alliance.core.models import Region
from alliance.core.regions import add_region
from alliance.core.timeutil import utc_now
from alliance.matching.claims import claim_request
from alliance.matching.models import ServiceRequest
from alliance.notifications.escalation import (
    escalate_after_days,
    escalate_unclaimed_requests,
    mark_missed_visits,
)
from alliance.notifications.models import Notification
from alliance.targets.digest import region_digest, send_daily_digest
from alliance.visits.models import CheckIn, Visit
from tests.claims_support import build_claim_world
from tests.factories import build_two_sides
from tests.reminders_support import scheduled_visit


async def test_escalation_days_are_inherited_from_the_nearest_ancestor():
    await build_two_sides()
    await Region.filter(code="330302").update(escalate_unclaimed_after_days=1)
    await Region.filter(code="330302001001").update(escalate_unclaimed_after_days=5)
    await add_region("330302002", "鹿城区二街道", RegionLevel.TOWN, "330302")
    found = await escalate_after_days(
        ["/330300/330302/330302001/330302001001/", "/330300/330302/330302002/", "/330300/330328/"]
    )
    assert found == {
        "/330300/330302/330302001/330302001001/": 5,
        "/330300/330302/330302002/": 1,
        "/330300/330328/": 3,
    }


async def test_a_request_unclaimed_for_the_regions_days_is_escalated_once_to_its_coordinators():
    left, right, _admin = await build_two_sides()
    await Region.filter(code=right.district).update(escalate_unclaimed_after_days=5)
    now = utc_now()
    # Day 2: nothing yet. Day 4: the left request (default 3 days), not the right one (5 days).
    assert (await escalate_unclaimed_requests(now + timedelta(days=2))).escalated == []
    sweep = await escalate_unclaimed_requests(now + timedelta(days=4))
    left_request = await ServiceRequest.get(household_id=left.household.id)
    assert sweep.escalated == [left_request.id]
    await left_request.refresh_from_db()
    assert left_request.escalated and left_request.escalated_at is not None
    notices = await Notification.filter(kind="request_escalated").prefetch_related("user")
    assert [notice.user.username for notice in notices] == ["coordA"]
    assert f"#{left_request.id}" in notices[0].body and "3" in notices[0].body
    # Run again (or on a second worker): nobody is told twice.
    assert (await escalate_unclaimed_requests(now + timedelta(days=4))).escalated == []
    later = await escalate_unclaimed_requests(now + timedelta(days=6))
    assert later.escalated == [(await ServiceRequest.get(household_id=right.household.id)).id]
    assert await Notification.filter(kind="request_escalated").count() == 2


async def test_a_claimed_request_is_not_escalated():
    world = await build_claim_world()
    await claim_request(await world.home.principal(), world.request.id)
    sweep = await escalate_unclaimed_requests(utc_now() + timedelta(days=10))
    assert world.request.id not in sweep.escalated


async def test_a_visit_without_check_in_two_hours_after_its_window_is_missed_once_and_the_dispatchers_told():
    scheduled = await scheduled_visit()
    visit = scheduled.visit
    assert (await mark_missed_visits(visit.window_end + timedelta(hours=1))).missed == []
    sweep = await mark_missed_visits(visit.window_end + timedelta(hours=2, minutes=1))
    assert sweep.missed == [visit.id]
    assert (await Visit.get(id=visit.id)).status == VisitStatus.MISSED
    told = await Notification.filter(kind="visit_missed").prefetch_related("user")
    assert {notice.user.username for notice in told} == {"padminA", "dispatchA"}
    assert all(notice.visit_id == visit.id for notice in told)
    assert (await mark_missed_visits(visit.window_end + timedelta(hours=3))).missed == []
    assert await Notification.filter(kind="visit_missed").count() == 2


async def test_a_visit_with_a_check_in_is_not_missed():
    scheduled = await scheduled_visit()
    # No check-in service yet (issue 6): the row as the check-in would write it.
    await CheckIn.create(visit_id=scheduled.visit.id, method="qr", at=scheduled.visit.window_start)
    sweep = await mark_missed_visits(scheduled.visit.window_end + timedelta(hours=3))
    assert sweep.missed == []


async def test_the_daily_digest_counts_each_coordinators_region_once_a_day():
    left, right, _admin = await build_two_sides()
    await escalate_unclaimed_requests(utc_now() + timedelta(days=4))
    digest = await region_digest("/330300/330302/")
    assert (digest.new_flags, digest.open_requests, digest.escalated) == (1, 1, 1)
    now = utc_now()
    written = await send_daily_digest(now)
    again = await send_daily_digest(now + timedelta(minutes=5))
    assert sorted(written) == sorted(again) and len(written) == 2
    digests = {
        notice.user.username: notice
        for notice in await Notification.filter(kind="daily_digest").prefetch_related("user")
    }
    assert set(digests) == {"coordA", "coordB"}
    assert "鹿城区" in digests["coordA"].body and "文成县" in digests["coordB"].body


async def test_the_crons_run_in_the_real_worker_and_deliver_their_notices(arq_worker, servers):
    left, _right, _admin = await build_two_sides()
    await ServiceRequest.filter(household_id=left.household.id).update(
        created_at=utc_now() - timedelta(days=4)
    )
    pool = await create_pool(RedisSettings.from_dsn(servers.redis_url))
    try:
        for job in ("escalate_unclaimed_requests", "mark_missed_visits", "send_daily_digest"):
            await pool.enqueue_job(job)
    finally:
        await pool.aclose()
    await arq_worker.main()
    assert arq_worker.jobs_failed == 0
    assert await Notification.filter(kind="request_escalated").count() == 1
    assert await Notification.filter(kind="daily_digest").count() == 2
    assert await Notification.filter(status=NotificationStatus.PENDING).count() == 0
