"""The cockpit's slow figures come from snapshots a worker writes (alliance/targets/cockpit_snapshots.py):
a page with none says they are being prepared and queues the job, the real arq worker writes it, and
the page then shows what the direct computation (the command line's) gives; stale snapshots are shown
with their age and computed again; the cron keeps the viewed scopes and drops unused ones."""

from __future__ import annotations

from datetime import timedelta

import httpx

from alliance.core.access import principal_for
from alliance.core.timeutil import utc_now
from alliance.notifications.models import OutboxJob
from alliance.targets import cockpit, cockpit_snapshots, scopes
from alliance.targets.models import CockpitSnapshot
from alliance.targets.operational import operational_figures
from alliance.targets.unserved import DEFAULT_UNSERVED_DAYS, unserved_households
from tests.factories import login
from tests.test_targets import _flagged, served_world, this_year


def _client(app, language: str = "zh-CN") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Accept-Language": language},
    )


async def _world():
    """The door world's visit done, plus two flagged households never served in the left district."""
    world = await served_world(persons=2)
    left = world.visits.claims.left
    first = await _flagged(left, "1", ["ELDERLY_ALONE"], days_ago=45, accessibility=["BLIND"])
    second = await _flagged(left, "2", ["LOW_INCOME"], days_ago=60)
    return world, left, (first, second)


async def test_no_snapshot_means_being_prepared_then_the_worker_writes_what_the_direct_computation_gives(
    app, arq_worker
):
    world, left, (first, second) = await _world()
    async with _client(app) as client:
        await login(client, left.users["coordinator"].username)
        page = await client.get("/cockpit")
        assert page.status_code == 200
        # The tallies' figures are there, the slow ones are not computed in the request.
        assert left.partner.name in page.text
        assert 'role="status" class="notice"' in page.text and "正在准备" in page.text
        assert first.head_name not in page.text and "/cockpit/unserved?" not in page.text
        assert not await CockpitSnapshot.exists()
        jobs = await OutboxJob.filter(job_name="refresh_cockpit")
        assert [job.args for job in jobs] == [[left.district, this_year(), DEFAULT_UNSERVED_DAYS]]
        # A second viewer meanwhile asks for the same job, not another one.
        await client.get("/cockpit")
        assert await OutboxJob.filter(job_name="refresh_cockpit").count() == 1
        # The unserved list's own page waits for its snapshot the same way.
        listing = await client.get("/cockpit/unserved?days=30")
        assert listing.status_code == 200 and "正在准备" in listing.text

    await arq_worker.main()  # the route queued the job in Redis; the real worker runs it
    assert arq_worker.jobs_failed == 0
    snapshot = await CockpitSnapshot.get(
        region_code=left.district, year=this_year(), days=DEFAULT_UNSERVED_DAYS
    )

    # What the command line computes directly (`alliance report targets`), for the same scope.
    scope = await scopes.scope_for(await principal_for(left.users["coordinator"]))
    direct = await cockpit.cockpit(scope, this_year(), unserved_limit=None)
    kept = await cockpit_snapshots.snapshot_figures(scope, this_year(), DEFAULT_UNSERVED_DAYS, None)
    assert kept is not None and not kept.stale
    assert kept.operational == direct.operational == await operational_figures(scope, this_year())
    assert kept.unserved.total == direct.unserved.total == 2
    assert [row.id for row in kept.unserved.rows] == [row.id for row in direct.unserved.rows]
    assert {row.id for row in kept.unserved.rows} == {first.id, second.id}
    assert snapshot.figures["unserved_total"] == cockpit.report_json(direct)["unserved"]

    async with _client(app) as client:
        await login(client, left.users["coordinator"].username)
        page = await client.get("/cockpit")
        assert first.head_name in page.text and second.head_name in page.text
        assert "正在准备" not in page.text and "数据截至" in page.text and "每五分钟" in page.text
        assert f"/cockpit/households/{first.id}/escalate" in page.text
        listing = await client.get("/cockpit/unserved?days=30")
        assert first.head_name in listing.text and "数据截至" in listing.text
        report = await client.get(f"/cockpit/report?year={this_year()}")
        assert report.status_code == 200 and "数据截至" in report.text
    async with _client(app, "en") as client:
        await login(client, left.users["coordinator"].username)
        page = await client.get("/cockpit")
        assert "Figures as of" in page.text and "every five minutes" in page.text
        assert "0–6 days" in page.text  # the age buckets' labels in the viewer's language
    # No new job: the snapshot is fresh.
    assert await OutboxJob.filter(job_name="refresh_cockpit").count() == 1


async def test_an_escalation_shows_at_once_on_a_page_from_a_snapshot(app):
    _world_, left, (first, _second) = await _world()
    await cockpit_snapshots.refresh_snapshots(left.district)
    async with _client(app, "en") as client:
        await login(client, left.users["coordinator"].username)
        from tests.factories import session_csrf

        before = await client.get("/cockpit")
        assert f"/cockpit/households/{first.id}/escalate" in before.text
        await client.post(
            f"/cockpit/households/{first.id}/escalate",
            headers={"HX-Request": "true", "X-CSRF-Token": session_csrf(client)},
        )
        after = await client.get("/cockpit")
    # The ranking is the snapshot's; the requests and their escalation are read for the rows shown.
    assert first.head_name in after.text
    assert f"/cockpit/households/{first.id}/escalate" not in after.text


async def test_a_stale_snapshot_is_shown_with_its_age_and_computed_again(app):
    _world_, left, (first, _second) = await _world()
    await cockpit_snapshots.refresh_snapshots(left.district)
    old = utc_now() - timedelta(hours=2)
    await CockpitSnapshot.filter(region_code=left.district).update(computed_at=old)
    async with _client(app, "en") as client:
        await login(client, left.users["coordinator"].username)
        page = await client.get("/cockpit")
    assert first.head_name in page.text  # the old figures, not "being prepared"
    assert "Figures as of" in page.text
    job = await OutboxJob.get(job_name="refresh_cockpit")
    assert job.args == [left.district, this_year(), DEFAULT_UNSERVED_DAYS]
    assert job.job_id == cockpit_snapshots.snapshot_job_id(left.district, this_year(), DEFAULT_UNSERVED_DAYS)


async def test_the_cron_keeps_the_viewed_scopes_and_drops_unused_snapshots():
    world, left, _households = await _world()
    right = world.visits.claims.right
    # Another list length somebody asked for two days ago, and never again.
    unused = await cockpit_snapshots.refresh_snapshots(left.district, this_year(), 5)
    assert unused == {"snapshots": 1, "removed": 0}
    await CockpitSnapshot.filter(days=5).update(computed_at=utc_now() - timedelta(days=2))

    done = await cockpit_snapshots.refresh_snapshots()
    keys = set(await CockpitSnapshot.all().values_list("region_code", "year", "days"))
    assert keys == {
        ("", this_year(), DEFAULT_UNSERVED_DAYS),
        (left.district, this_year(), DEFAULT_UNSERVED_DAYS),
        (right.district, this_year(), DEFAULT_UNSERVED_DAYS),
    }
    assert done == {"snapshots": 3, "removed": 1}
    # Running it again changes nothing but the time: safe to run twice.
    assert (await cockpit_snapshots.refresh_snapshots())["snapshots"] == 3
    assert await CockpitSnapshot.all().count() == 3
    whole = await cockpit_snapshots.snapshot_figures(
        await scopes.scope_of_region(None), this_year(), DEFAULT_UNSERVED_DAYS, None
    )
    direct = await unserved_households(await scopes.scope_of_region(None), limit=None)
    assert whole is not None and whole.unserved.total == direct.total >= 2


async def test_a_fresh_process_serves_the_snapshots_tallies_and_reads_its_own_behind():
    import asyncio

    calls = []

    async def compute():
        calls.append(1)
        await asyncio.sleep(0.01)
        return "read now"

    cache = cockpit.FigureCache(ttl_seconds=30)
    assert await cache.get(("k",), compute, seed=lambda: "from the snapshot") == "from the snapshot"
    await asyncio.sleep(0.03)
    assert calls == [1] and await cache.get(("k",), compute, seed=lambda: "from the snapshot") == "read now"
    # No snapshot: the first viewer waits for the tallies (cheap: they are kept in each transaction).
    assert await cockpit.FigureCache().get(("k",), compute, seed=lambda: None) == "read now"


async def test_the_snapshot_keeps_the_tallies_in_both_languages():
    world, left, _households = await _world()
    await cockpit_snapshots.refresh_snapshots(left.district)
    scope = await scopes.scope_of_region(left.district)
    kept = await cockpit_snapshots.snapshot_figures(scope, this_year(), DEFAULT_UNSERVED_DAYS, 10)
    from alliance.core.i18n import language

    for code in ("zh_CN", "en"):
        with language(code):
            direct = await cockpit.cockpit(scope, this_year())
            tallies = kept.tallies()
            assert tallies["figures"] == direct.figures and tallies["partners"] == direct.partners
            assert tallies["projects"] == direct.projects and tallies["months"] == direct.months
            assert tallies["regions"] == direct.regions


async def test_the_crons_one_pass_gives_every_scope_what_its_own_computation_gives():
    """The cron reads the requests, visits and flags once and adds each community's counts up the
    region tree; every scope's figures equal the direct per-scope computation."""
    world, left, (first, second) = await _world()
    right = world.visits.claims.right
    # Open work in both districts, so the per-region counts differ between the scopes.
    await _flagged(right, "3", ["LOW_INCOME"], days_ago=40)
    await cockpit_snapshots.refresh_snapshots()
    for code in ("", left.district, right.district):
        scope = await scopes.scope_of_region(code or None)
        kept = await cockpit_snapshots.snapshot_figures(scope, this_year(), DEFAULT_UNSERVED_DAYS, None)
        direct = await unserved_households(scope, limit=None)
        assert kept is not None
        assert kept.operational == await operational_figures(scope, this_year())
        assert kept.unserved.total == direct.total
        assert [row.id for row in kept.unserved.rows] == [row.id for row in direct.rows]
    whole = await cockpit_snapshots.snapshot_figures(
        await scopes.scope_of_region(None), this_year(), DEFAULT_UNSERVED_DAYS, None
    )
    in_left = await cockpit_snapshots.snapshot_figures(
        await scopes.scope_of_region(left.district), this_year(), DEFAULT_UNSERVED_DAYS, None
    )
    assert {first.id, second.id} <= {row.id for row in in_left.unserved.rows}
    assert whole.unserved.total > in_left.unserved.total
    assert whole.operational.open_total >= in_left.operational.open_total
