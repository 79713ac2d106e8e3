"""Exports as worker jobs (alliance/core/exports.py, web/routes/exports.py): asked for on a page, written
by a real arq worker in batches, downloaded by the asker only, equal to what the synchronous export
gave, audited, and deleted when they expire."""

from __future__ import annotations

import csv
import io
import os
import stat
from datetime import timedelta
from pathlib import Path

import httpx
from openpyxl import Workbook, load_workbook

from alliance.core import audit, exports
from alliance.core.access import principal_for
from alliance.core.accounts import create_user
from alliance.core.codes import ExportState, Role
from alliance.core.models import AuditEntry, ExportJob, User
from alliance.core.retention import apply_retention
from alliance.core.timeutil import utc_now
from alliance.households.intake_history import rejected_rows_csv
from alliance.targets import cockpit, scopes
from tests.factories import PASSWORD, build_two_sides, login, session_csrf
from tests.intake_support import build_city, import_json, person
from tests.test_targets import served_world, this_year
from web.csv_export import csv_text, safe_row


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def _ask(client: httpx.AsyncClient, url: str) -> str:
    asked = await client.post(url, headers={"X-CSRF-Token": session_csrf(client)})
    assert asked.status_code == 303 and asked.headers["location"].startswith("/exports/"), asked.text
    return asked.headers["location"]


def _old_xlsx(rows: list[tuple[str, str, str, int, int]]) -> dict[str, list[list[object]]]:
    """What the synchronous export wrote (web/routes/cockpit.py before the job), read back."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for breakdown, title in (
        ("project", "By project"),
        ("partner", "By partner"),
        ("region", "By region"),
        ("month", "By month"),
    ):
        sheet = workbook.create_sheet(title=title)
        sheet.append(["Code", "Name", "Person-times", "Deliveries"])
        for kind, key, name, person_times, deliveries in rows:
            if kind == breakdown:
                sheet.append(safe_row([key, name, person_times, deliveries]))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _sheets(buffer.getvalue())


def _sheets(content: bytes) -> dict[str, list[list[object]]]:
    workbook = load_workbook(io.BytesIO(content))
    return {
        sheet.title: [[cell.value for cell in row] for row in sheet.iter_rows()]
        for sheet in workbook.worksheets
    }


async def test_the_cockpit_exports_are_written_by_the_worker_and_equal_the_synchronous_files(app, arq_worker):
    world = await served_world(persons=2)
    left = world.visits.claims.left
    coordinator = left.users["coordinator"]
    year = this_year()
    async with _client(app) as client:
        await login(client, coordinator.username)
        csv_page = await _ask(client, f"/cockpit/export.csv?year={year}")
        xlsx_page = await _ask(client, f"/cockpit/export.xlsx?year={year}")
        # Until a worker writes it, the page shows an accessible progress bar that polls, and a
        # link that works without script.
        waiting = await client.get(csv_page)
        assert waiting.status_code == 200
        assert "<progress" in waiting.text and 'aria-live="polite"' in waiting.text
        assert 'for="export-progress-bar"' in waiting.text and f'href="{csv_page}"' in waiting.text
        polled = await client.get(csv_page + "/progress", headers={"HX-Request": "true"})
        assert "<progress" in polled.text and "HX-Refresh" not in polled.headers
        assert (await client.get(csv_page + "/download")).status_code == 404

        await arq_worker.main()

        done = await client.get(csv_page + "/progress", headers={"HX-Request": "true"})
        assert done.headers.get("HX-Refresh") == "true"
        page = await client.get(csv_page)
        assert f'href="{csv_page}/download"' in page.text and "<progress" not in page.text
        assert "deleted on" in page.text
        listing = await client.get("/exports")
        assert csv_page in listing.text and xlsx_page in listing.text
        csv_file = await client.get(csv_page + "/download")
        xlsx_file = await client.get(xlsx_page + "/download")

    assert csv_file.status_code == 200 and "attachment" in csv_file.headers["content-disposition"]
    assert f"person-times-{year}-{left.district}.csv" in csv_file.headers["content-disposition"]
    assert csv_file.headers["cache-control"] == "no-store"
    principal = await principal_for(coordinator)
    scope = await scopes.scope_for(principal, None)
    rows = await cockpit.export_rows(scope, year)
    old_csv = "\ufeff" + csv_text([["breakdown", "key", "name", "person_times", "deliveries"], *rows])
    assert csv_file.text == old_csv
    assert list(csv.reader(io.StringIO(csv_file.text.lstrip("\ufeff"))))[1:] != []
    assert _sheets(xlsx_file.content) == _old_xlsx(rows)

    for job in await ExportJob.all():
        assert job.state == ExportState.READY and job.progress == 100
        assert stat.S_IMODE(os.stat(job.file_path).st_mode) == 0o600
        assert Path(job.file_path).parent == app.state.settings.data_dir / "exports"
        assert not list(Path(job.file_path).parent.glob("*.part*"))
    downloads = await AuditEntry.filter(action="export.download").count()
    assert downloads == 2


async def test_rejected_rows_and_the_audit_trail_are_written_in_batches_equal_to_the_old_files(
    app, arq_worker, monkeypatch
):
    # Batches of two rows, so every file crosses several batch boundaries.
    monkeypatch.setattr(exports, "BATCH_ROWS", 2)
    await build_city()
    evil = "=cmd|' /C calc'!A0"
    result = await import_json(
        [person(index, head_name=f"{evil}{index}", phone="12") for index in range(1, 8)]
    )
    assert len(result.rejected) == 7
    admin_user = await create_user("admin", PASSWORD, Role.ADMIN)
    admin = await principal_for(admin_user)
    for index in range(5):
        await audit.record(None, "test.thing", "thing", f"+{index}")
    old_rejected = "\ufeff" + csv_text(list(await rejected_rows_csv(admin, result.batch)))
    old_audit = "\ufeff" + csv_text(await audit.export_rows(admin, audit.AuditFilter(action="test")))
    async with _client(app) as client:
        await login(client, "admin")
        rejected_page = await _ask(client, f"/intake/batches/{result.batch}/rejected.csv")
        audit_page = await _ask(client, "/audit/export.csv?action=test")
        await arq_worker.main()
        rejected = await client.get(rejected_page + "/download")
        trail = await client.get(audit_page + "/download")
    assert rejected.text == old_rejected and trail.text == old_audit
    assert "'" + evil + "1" in rejected.text
    assert (await ExportJob.get(id=int(rejected_page.rsplit("/", 1)[1]))).row_count == 7


async def test_only_the_asker_downloads_and_not_once_their_scope_changed(app, arq_worker):
    left, right, _admin = await build_two_sides()
    async with _client(app) as client:
        await login(client, "coordA")
        page = await _ask(client, f"/cockpit/export.csv?year={this_year()}")
        await arq_worker.main()
        assert (await client.get(page + "/download")).status_code == 200
    # Another coordinator, and an admin, cannot open it or download it: it reads as not found.
    for username in ("coordB", "admin"):
        async with _client(app) as client:
            await login(client, username)
            assert (await client.get(page)).status_code == 404, username
            assert (await client.get(page + "/download")).status_code == 404, username
            assert page not in (await client.get("/exports")).text
    # Moved to another region: the file of the old region is refused.
    coordinator = await User.get(username="coordA")
    await User.filter(id=coordinator.id).update(region_id=right.district)
    async with _client(app) as client:
        await login(client, "coordA")
        assert (await client.get(page + "/download")).status_code == 403
    # Asked for by someone later deactivated: the worker writes nothing.
    await User.filter(id=coordinator.id).update(region_id=left.district)
    async with _client(app) as client:
        await login(client, "coordA")
        second = await _ask(client, f"/cockpit/export.csv?year={this_year()}")
    await User.filter(id=coordinator.id).update(is_active=False)
    await arq_worker.main()
    job = await ExportJob.get(id=int(second.rsplit("/", 1)[1]))
    assert job.state == ExportState.FAILED and job.error == "no_longer_allowed"
    assert not Path(job.file_path).exists()


async def test_a_killed_run_is_written_again_whole_and_files_expire(app, arq_worker):
    await build_two_sides()
    async with _client(app) as client:
        await login(client, "coordA")
        page = await _ask(client, f"/cockpit/export.csv?year={this_year()}")
    job = await ExportJob.get(id=int(page.rsplit("/", 1)[1]))
    # What a worker killed mid-file leaves: the row running, a half-written temporary file.
    await ExportJob.filter(id=job.id).update(state=ExportState.RUNNING, progress=40)
    path = Path(job.file_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    half = path.with_name(path.name + ".part999")
    half.write_text("\ufeffbreakdown,key\nproject,P0")
    await arq_worker.main()
    await job.refresh_from_db()
    assert job.state == ExportState.READY and not half.exists()
    assert path.read_text(encoding="utf-8").startswith("\ufeffbreakdown,key,name,person_times,deliveries")
    assert job.expires_at is not None and job.expires_at - utc_now() > timedelta(days=6)

    # The retention job deletes the file once it expires; the page says so.
    run = await apply_retention(now=job.expires_at + timedelta(minutes=1))
    assert run.export_files_deleted == 1 and not path.exists()
    assert (await ExportJob.get(id=job.id)).state == ExportState.EXPIRED
    async with _client(app) as client:
        await login(client, "coordA")
        assert (await client.get(page + "/download")).status_code == 404
        assert "has expired" in (await client.get(page)).text


def test_the_export_job_has_its_own_timeout_so_a_killed_one_runs_again_within_two_minutes():
    from workers.settings import FUNCTIONS
    from workers.timeouts import lock_seconds

    (function,) = [f for f in FUNCTIONS if f.name == "run_export_job"]
    assert function.timeout_s is not None and lock_seconds(int(function.timeout_s)) <= 120
