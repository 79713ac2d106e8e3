"""The supervision page (issue 18): figures per need, risk ages, overdue visits, breakdowns and the
communities' map, computed into a snapshot by the real arq worker; the page, its scope, its audit,
its export and its monthly report."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import httpx
from arq import create_pool
from arq.connections import RedisSettings

from alliance.core.access import principal_for
from alliance.core.models import AuditEntry
from alliance.core.timeutil import LOCAL_TZ, utc_now
from alliance.households.models import Household
from alliance.matching.models import ServiceRequest
from alliance.notifications.models import OutboxJob
from alliance.targets import scopes, supervision
from alliance.targets.models import SupervisionSnapshot
from alliance.visits.models import (
    RegularDue,
    RegularRisk,
    RegularVisit,
    RiskCheck,
    ServiceRecord,
    Visit,
)
from tests.factories import build_two_sides, download_export, login


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def _world():
    """Side A's household was helped with its phone bill, still waits 40 days for home care, asked
    for a job 5 days ago (not late yet); it is blind and has three open risks of different ages, an
    overdue regular visit and a follow-up past due. Side B's household waits for home care too."""
    left, right, admin = await build_two_sides()
    now = utc_now()
    today = now.astimezone(LOCAL_TZ).date()
    household = left.household
    await Household.filter(id=household.id).update(accessibility=["BLIND"])
    long_ago = now - timedelta(days=40)
    await ServiceRequest.filter(household_id__in=[household.id, right.household.id]).update(
        created_at=long_ago
    )
    phone = await ServiceRequest.create(household=household, need_id="TELECOM_DISCOUNT", status="completed")
    await ServiceRequest.filter(id=phone.id).update(created_at=long_ago)
    job = await ServiceRequest.create(
        household=household, need_id="JOB_PLACEMENT", active_key=f"{household.id}:JOB_PLACEMENT"
    )
    await ServiceRequest.filter(id=job.id).update(created_at=now - timedelta(days=5))
    worker = left.users["community_worker"]
    recent = await RegularVisit.create(
        household=household,
        worker=worker,
        method="gps",
        checked_in_at=now - timedelta(days=3),
        checked_out_at=now - timedelta(days=3),
    )
    older = await RegularVisit.create(
        household=household,
        worker=worker,
        method="gps",
        checked_in_at=now - timedelta(days=40),
        checked_out_at=now - timedelta(days=40),
    )
    await RegularRisk.create(
        visit=recent,
        household=household,
        aspect="health",
        level="high",
        owner=worker,
        due_on=today - timedelta(days=2),
    )
    await RegularRisk.create(visit=recent, household=household, aspect="housing", level="low")
    await RegularRisk.create(visit=older, household=household, aspect="care", level="medium")
    await RegularRisk.create(
        visit=older, household=household, aspect="economy", level="high", resolved_at=now
    )
    home_care = await ServiceRequest.get(household_id=household.id, need_id="HOME_CARE")
    visit = await Visit.create(
        request=home_care,
        partner=left.partner,
        window_start=now - timedelta(days=100),
        window_end=now - timedelta(days=100),
        status="completed",
    )
    record = await ServiceRecord.create(visit=visit, completed_at=now - timedelta(days=100))
    await RiskCheck.create(record=record, household=household, aspect="economy", level="high")
    await RegularDue.create(
        worker=worker,
        household=household,
        kind="other",
        interval_days=14,
        due_on=today - timedelta(days=5),
        refreshed_at=now,
    )
    return left, right, admin


async def test_figures_per_need_risk_ages_overdue_visits_and_breakdowns_in_scope():
    left, right, _admin = await _world()
    scope = await scopes.scope_for(await principal_for(left.users["coordinator"]))
    figures = await supervision.compute_figures(scope)
    # Served for the phone bill, not for home care: waiting for home care only; the job is not late.
    assert figures["unserved"] == {"needs_total": 1, "households": 1, "by_need": {"HOME_CARE": 1}}
    risks = figures["risks"]
    assert risks["health"]["0-7"] == 1 and risks["health"]["total"] == 1
    assert risks["care"]["31-90"] == 1
    assert risks["economy"]["90+"] == 1 and risks["economy"]["total"] == 1  # the resolved one is gone
    assert risks["housing"]["total"] == 0  # low is no open risk
    overdue = figures["overdue"]
    assert overdue["visits_total"] == 1
    assert [row["count"] for row in overdue["by_community"]] == [1]
    assert overdue["by_community"][0]["code"] == left.community
    assert [row["name"] for row in overdue["by_worker"]] == ["workerA"] or overdue["by_worker"][0][
        "count"
    ] == 1
    assert overdue["follow_ups_total"] == 1 and overdue["follow_ups_by_aspect"] == {"health": 1}
    assert figures["flags"]["ELDERLY_ALONE"] == {
        "households": 1,
        "unserved_households": 1,
        "unserved_needs": 1,
    }
    assert figures["accessibility"]["BLIND"] == {
        "households": 1,
        "unserved_households": 1,
        "unserved_needs": 1,
    }
    assert figures["accessibility"]["DEAF"]["households"] == 0
    community = next(row for row in figures["communities"] if row["code"] == left.community)
    assert (community["households"], community["unserved_households"]) == (1, 1)
    assert community["lat"] is not None
    visited_month = supervision.month_key(utc_now() - timedelta(days=3))
    assert figures["months"][visited_month]["regular_visits"] >= 1
    # The other district sees only its own household; the whole alliance both.
    other = await scopes.scope_for(await principal_for(right.users["coordinator"]))
    other_figures = await supervision.compute_figures(other)
    assert other_figures["unserved"]["by_need"] == {"HOME_CARE": 1}
    assert other_figures["risks"]["health"]["total"] == 0 and other_figures["overdue"]["visits_total"] == 0
    whole = await supervision.compute_figures(await scopes.scope_of_region(None))
    assert whole["unserved"]["by_need"] == {"HOME_CARE": 2}
    rows, more = await supervision.unserved_needs(scope, "HOME_CARE")
    assert [(row.household_id, row.need) for row in rows] == [(left.household.id, "HOME_CARE")] and not more
    assert (await supervision.unserved_needs(scope, "TELECOM_DISCOUNT"))[0] == []


async def test_the_cron_writes_snapshots_and_the_page_shows_them_in_scope(app, arq_worker, servers):
    left, right, _admin = await _world()
    async with _client(app) as client:
        await login(client, left.users["coordinator"].username)
        # No snapshot yet: the page says so and asks a worker for one (no figure computed here).
        first = await client.get("/cockpit/supervision")
        assert first.status_code == 200 and 'role="status"' in first.text
        assert "张A" not in first.text
        assert await OutboxJob.filter(job_name="refresh_supervision").exists()
        assert not await SupervisionSnapshot.exists()

    pool = await create_pool(RedisSettings.from_dsn(servers.redis_url))
    try:
        await pool.enqueue_job("refresh_supervision", _job_id="supervision-test-1")
        await arq_worker.main()
    finally:
        await pool.aclose()
    assert arq_worker.jobs_failed == 0
    codes = set(await SupervisionSnapshot.all().values_list("region_code", flat=True))
    # The whole alliance and each coordinator's district.
    assert {"", left.district, right.district} <= codes
    snapshot = await SupervisionSnapshot.get(region_code=left.district)
    assert snapshot.figures["unserved"]["by_need"] == {"HOME_CARE": 1}

    async with _client(app) as client:
        await login(client, left.users["coordinator"].username)
        page = await client.get("/cockpit/supervision")
        assert page.status_code == 200
        assert "张A" in page.text and "张B" not in page.text
        assert "<svg" in page.text and "map-place" in page.text
        assert 'href="/requests/' in page.text
        entry = await AuditEntry.filter(action="supervision.view").order_by("-id").first()
        assert entry is not None and entry.actor_id == left.users["coordinator"].id
        # One need at a time: nobody waits for the phone bill.
        phone = await client.get("/cockpit/supervision?need=TELECOM_DISCOUNT")
        assert "张A" not in phone.text
        # Another district is out of reach.
        assert (await client.get(f"/cockpit/supervision?region={right.district}")).status_code == 404
        month = supervision.month_key(utc_now())
        report = await client.get(f"/cockpit/supervision/report?month={month}")
        assert report.status_code == 200 and month in report.text and "张A" not in report.text
        assert "<script" not in report.text.split("</header>")[-1].split("<footer")[0]
        exported = await download_export(client, "/cockpit/supervision/export.csv")
        assert exported.status_code == 200
        rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
        assert rows[0] == supervision.UNSERVED_NEEDS_HEADER
        assert [(row[1], row[3]) for row in rows[1:]] == [(str(left.household.id), "张A")]

    async with _client(app) as client:
        await login(client, right.users["coordinator"].username)
        page = await client.get("/cockpit/supervision")
        assert page.status_code == 200 and "张B" in page.text and "张A" not in page.text
        # A community worker has no supervision page.
    async with _client(app) as client:
        await login(client, left.users["community_worker"].username)
        assert (await client.get("/cockpit/supervision")).status_code in (403, 404)


def test_the_waiting_requests_index_covers_exactly_the_active_statuses():
    """The unserved lists' partial indexes (migration 0040) must hold every request still waiting and
    no other: a status added to the active ones without them would walk millions of rows again."""
    import importlib
    import re

    from alliance.core.codes import ACTIVE_REQUEST_STATUSES

    migration = importlib.import_module("alliance.migrations.0040_active_request_indexes")
    assert set(re.findall(r"'(\w+)'", migration.WAITING)) == {
        status.value for status in ACTIVE_REQUEST_STATUSES
    }
