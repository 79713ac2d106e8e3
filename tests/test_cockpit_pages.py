"""The cockpit pages (web/routes/cockpit.py): the coordinator's home, HTMX drill-down, accessible
charts, exports, the printable report, escalation from the unserved list, the admin's targets page."""

from __future__ import annotations

import csv
import io
import re

import httpx
from openpyxl import load_workbook

from alliance.core.access import principal_for
from alliance.matching.models import ServiceRequest
from alliance.targets import cockpit_snapshots
from alliance.targets.models import Target, TargetChange
from tests.factories import download_export, login, session_csrf
from tests.test_targets import _flagged, served_world, this_year


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def _targets_set(world) -> None:
    from alliance.targets import targets

    admin = await principal_for(world.visits.claims.admin)
    await targets.set_target(
        admin, this_year(), "person_times", "400", f"region:{world.visits.claims.left.district}"
    )


async def test_the_coordinators_home_is_the_cockpit_with_figures_charts_and_tables(app):
    world = await served_world(persons=2)
    await _targets_set(world)
    left = world.visits.claims.left
    async with _client(app) as client:
        await login(client, left.users["coordinator"].username)
        home = await client.get("/")
        assert home.headers["location"] == "/cockpit"
        page = await client.get("/cockpit")
    assert page.status_code == 200
    html = page.text
    # Every chart is an image with a title and a description, next to a table of the same figures.
    charts = re.findall(r"<svg[^>]*>", html)
    assert len(charts) >= 3 and all('role="img"' in svg and "aria-labelledby" in svg for svg in charts)
    assert html.count('<title id="chart-title-') == len(charts)
    assert html.count('<desc id="chart-desc-') == len(charts)
    assert "<table>" in html and 'id="cockpit-summary"' in html
    assert left.partner.name in html  # the partner breakdown
    assert "<script>" not in html and 'style="' not in html  # CSP: no inline script or style
    assert "400" in html  # the district's own target


async def test_drilling_down_is_an_htmx_fragment_and_never_leaves_the_subtree(app):
    world = await served_world(persons=2)
    left, right = world.visits.claims.left, world.visits.claims.right
    async with _client(app) as client:
        await login(client, left.users["coordinator"].username)
        town = left.district + "001"
        fragment = await client.get(f"/cockpit?region={town}", headers={"HX-Request": "true"})
        assert fragment.status_code == 200
        assert "<html" not in fragment.text and "<h1>" in fragment.text
        assert left.community in fragment.text or "一社区" in fragment.text
        assert (await client.get(f"/cockpit?region={right.district}")).status_code == 404
        assert (await client.get("/cockpit?region=330300")).status_code == 404  # above its own region


async def test_exports_hold_person_times_by_project_partner_region_and_month(app):
    world = await served_world(persons=2)
    left = world.visits.claims.left
    year = this_year()
    async with _client(app) as client:
        await login(client, left.users["coordinator"].username)
        csv_response = await download_export(client, f"/cockpit/export.csv?year={year}")
        xlsx_response = await download_export(client, f"/cockpit/export.xlsx?year={year}")
    assert csv_response.status_code == 200 and "attachment" in csv_response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(csv_response.text.lstrip("\ufeff"))))
    assert rows[0] == ["breakdown", "key", "name", "person_times", "deliveries"]
    by_kind: dict[str, list[list[str]]] = {}
    for row in rows[1:]:
        by_kind.setdefault(row[0], []).append(row)
    assert [row[2:] for row in by_kind["project"]] == [["助老上门服务", "2", "1"]]
    assert [row[2:] for row in by_kind["partner"]] == [[left.partner.name, "2", "1"]]
    assert [row[1] for row in by_kind["region"]] == [left.district + "001"]
    assert len(by_kind["month"]) == 12 and sum(int(row[3]) for row in by_kind["month"]) == 2

    workbook = load_workbook(io.BytesIO(xlsx_response.content))
    assert len(workbook.sheetnames) == 4
    partner_sheet = workbook.worksheets[1]
    values = [[cell.value for cell in row] for row in partner_sheet.iter_rows()]
    assert values[1][1:] == [left.partner.name, 2, 1]


async def test_the_monthly_report_is_printable(app):
    world = await served_world(persons=2)
    async with _client(app) as client:
        await login(client, world.visits.claims.left.users["coordinator"].username)
        page = await client.get(f"/cockpit/report?year={this_year()}")
    assert page.status_code == 200
    assert 'data-action="print"' in page.text and "/static/js/print.js" in page.text
    assert world.visits.claims.left.partner.name in page.text


async def test_escalate_from_the_unserved_list_with_one_click(app):
    world = await served_world(persons=1)
    left = world.visits.claims.left
    household = await _flagged(left, "7", ["ELDERLY_ALONE"], days_ago=45, accessibility=["BLIND"])
    # The worker's refresh of the district's snapshot (the unserved list is never computed by a page).
    await cockpit_snapshots.refresh_snapshots(left.district)
    async with _client(app) as client:
        await login(client, left.users["coordinator"].username)
        page = await client.get("/cockpit")
        assert f"/cockpit/households/{household.id}/escalate" in page.text
        request_id = (await ServiceRequest.get(household_id=household.id)).id
        assert f"/requests/{request_id}" in page.text  # assign: the request's page and its assign form
        listing = await client.get("/cockpit/unserved?days=30")
        assert household.head_name in listing.text
        response = await client.post(
            f"/cockpit/households/{household.id}/escalate",
            headers={"HX-Request": "true", "X-CSRF-Token": session_csrf(client)},
        )
    assert response.status_code == 200 and 'role="status"' in response.text
    assert (await ServiceRequest.get(household_id=household.id)).escalated


async def test_an_admin_edits_targets_on_a_page_with_history(app):
    world = await served_world(persons=1)
    year = this_year()
    async with _client(app) as client:
        await login(client, world.visits.claims.admin.username)
        page = await client.get(f"/admin/targets?year={year}")
        assert page.status_code == 200 and "curve_12" in page.text
        form = {
            "csrf_token": session_csrf(client),
            "alliance_person_times": "10000",
            "alliance_projects": "10",
        }
        form.update({f"curve_{month}": "0" for month in range(1, 13)})
        saved = await client.post(f"/admin/targets?year={year}", data=form)
        assert saved.status_code == 200 and 'class="success"' in saved.text
        form["curve_1"] = "5"
        refused = await client.post(f"/admin/targets?year={year}", data=form)
        assert 'role="alert"' in refused.text
    assert (
        await Target.get(year=year, scope_key="alliance", metric="person_times").values_list(
            "value", flat=True
        )
        == 10000
    )
    assert await TargetChange.filter(target__scope_key="alliance").count() == 2
