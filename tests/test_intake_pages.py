"""The coordinator's intake pages: batch history scoped by region, refused rows as CSV, duplicates."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from alliance.core.accounts import create_user
from alliance.core.codes import Role
from alliance.households.models import Household, IntakeBatch
from tests.factories import PASSWORD, download_export, login, session_csrf
from tests.intake_support import (
    LUCHENG,
    LUCHENG_COMMUNITY,
    WENCHENG,
    WENCHENG_COMMUNITY,
    build_city,
    import_json,
    person,
)


@pytest.fixture
async def batch(app):
    await build_city()
    for username, role, region in (
        ("coord-lc", Role.COORDINATOR, LUCHENG),
        ("coord-wc", Role.COORDINATOR, WENCHENG),
        ("worker-lc", Role.COMMUNITY_WORKER, LUCHENG_COMMUNITY),
        ("admin", Role.ADMIN, None),
    ):
        await create_user(username, PASSWORD, role, region_code=region)
    result = await import_json(
        [
            person(1, head_name="鹿城甲"),
            person(2, phone="12345", head_name="鹿城坏行"),
            person(3, region_code=WENCHENG_COMMUNITY, head_name="文成甲"),
            person(4, region_code=WENCHENG_COMMUNITY, id_number="42", head_name="文成坏行"),
            person(5, region_code="000000", head_name="无名地区"),
        ],
        filename="sais-2026-06.csv",
    )
    return result.batch


async def client_for(app, username: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    await client.__aenter__()
    await login(client, username)
    return client


async def test_the_history_shows_only_the_coordinators_part_of_a_batch(app, batch):
    client = await client_for(app, "coord-lc")
    try:
        page = await client.get("/intake")
        assert page.status_code == 200
        assert "sais-2026-06.csv" in page.text and f"/intake/batches/{batch}" in page.text
        detail = await client.get(f"/intake/batches/{batch}")
        assert "1 created, 0 updated, 0 unchanged, 1 rejected" in detail.text
        assert "WZ-000002" in detail.text
        assert "WZ-000004" not in detail.text and "WZ-000005" not in detail.text
    finally:
        await client.__aexit__(None, None, None)


async def test_the_refused_rows_download_as_csv_for_fixing_and_resending(app, batch):
    client = await client_for(app, "coord-lc")
    try:
        response = await download_export(client, f"/intake/batches/{batch}/rejected.csv")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
        assert rows[0][:3] == ["row", "external_id", "head_name"] and rows[0][-1] == "errors"
        assert [row[1] for row in rows[1:]] == ["WZ-000002"]
        assert rows[1][4] == "12345" and "phone:" in rows[1][-1]
    finally:
        await client.__aexit__(None, None, None)


async def test_an_admin_sees_every_refused_row_including_unknown_regions(app, batch):
    client = await client_for(app, "admin")
    try:
        response = await download_export(client, f"/intake/batches/{batch}/rejected.csv")
        assert [row[1] for row in list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))[1:]] == [
            "WZ-000002",
            "WZ-000004",
            "WZ-000005",
        ]
        detail = await client.get(f"/intake/batches/{batch}")
        assert "2 created, 0 updated, 0 unchanged, 3 rejected" in detail.text
    finally:
        await client.__aexit__(None, None, None)


async def test_a_batch_that_never_touched_the_area_is_not_found(app, batch):
    await import_json([person(9, region_code=WENCHENG_COMMUNITY)])
    client = await client_for(app, "coord-lc")
    try:
        assert (await client.get(f"/intake/batches/{batch + 1}")).status_code == 404
        assert (await client.get(f"/intake/batches/{batch + 1}/rejected.csv")).status_code == 404
        assert f"/intake/batches/{batch + 1}" not in (await client.get("/intake")).text
    finally:
        await client.__aexit__(None, None, None)


@pytest.mark.parametrize("path", ["/intake", "/intake/duplicates"])
async def test_community_workers_have_no_intake_pages(app, batch, path):
    client = await client_for(app, "worker-lc")
    try:
        assert (await client.get(path)).status_code == 403
    finally:
        await client.__aexit__(None, None, None)


async def test_htmx_paging_answers_only_the_results_block(app, batch):
    client = await client_for(app, "coord-lc")
    try:
        response = await client.get("/intake?page=1", headers={"HX-Request": "true"})
        assert response.status_code == 200
        assert "<html" not in response.text and "sais-2026-06.csv" in response.text
    finally:
        await client.__aexit__(None, None, None)


async def test_a_coordinator_merges_a_duplicate_from_the_page(app, batch):
    await import_json([person(6, id_number=person(1)["id_number"], head_name="鹿城乙")])
    duplicate = await Household.get(external_id="WZ-000006")
    client = await client_for(app, "coord-lc")
    try:
        page = await client.get("/intake/duplicates")
        assert "鹿城乙" in page.text and "鹿城甲" in page.text
        response = await client.post(
            f"/intake/duplicates/{duplicate.id}/merge",
            data={"keep": "original"},
            headers={"X-CSRF-Token": session_csrf(client), "HX-Request": "true"},
        )
        assert response.status_code == 200 and "WZ-000001" in response.text
        assert not await Household.exists(id=duplicate.id)
    finally:
        await client.__aexit__(None, None, None)


async def test_a_coordinator_dismisses_a_mark_with_a_plain_form(app, batch):
    await import_json([person(6, id_number=person(1)["id_number"])])
    duplicate = await Household.get(external_id="WZ-000006")
    client = await client_for(app, "coord-lc")
    try:
        response = await client.post(
            f"/intake/duplicates/{duplicate.id}/dismiss", data={"csrf_token": session_csrf(client)}
        )
        assert response.status_code == 303
        assert (await Household.get(id=duplicate.id)).possible_duplicate_of_id is None  # type: ignore[attr-defined]
    finally:
        await client.__aexit__(None, None, None)


async def test_a_coordinator_of_another_district_cannot_merge(app, batch):
    await import_json([person(6, id_number=person(1)["id_number"])])
    duplicate = await Household.get(external_id="WZ-000006")
    client = await client_for(app, "coord-wc")
    try:
        assert "WZ-000006" not in (await client.get("/intake/duplicates")).text
        response = await client.post(
            f"/intake/duplicates/{duplicate.id}/merge",
            data={"keep": "original"},
            headers={"X-CSRF-Token": session_csrf(client)},
        )
        assert response.status_code == 404
        assert await Household.exists(id=duplicate.id)
    finally:
        await client.__aexit__(None, None, None)


async def test_a_running_batch_shows_a_progress_bar_that_follows_the_import(app):
    await build_city()
    await create_user("coord-lc", PASSWORD, Role.COORDINATOR, region_code=LUCHENG)
    client = await client_for(app, "coord-lc")
    seen: list[tuple[str, str]] = []

    async def look(done: int, total: int) -> None:
        # After each chunk has committed: what a coordinator's browser sees at that moment.
        batch_id = (await IntakeBatch.all().order_by("-id").first()).id
        page = await client.get(f"/intake/batches/{batch_id}")
        polled = await client.get(f"/intake/batches/{batch_id}/progress", headers={"HX-Request": "true"})
        seen.append((page.text, polled.text))

    try:
        result = await import_json([person(number) for number in range(1, 7)], chunk_size=2, on_progress=look)
        assert len(seen) == 3
        page, polled = seen[0]
        assert '<progress id="intake-progress-bar" max="100" value="33">' in page
        assert '<label for="intake-progress-bar">' in page and "2 of 6 rows done" in page
        assert 'http-equiv="refresh"' in page  # without JavaScript, the page refreshes itself
        assert 'role="status" aria-live="polite"' in polled and "hx-get" in polled
        assert 'value="66"' in seen[1][1] and "4 of 6 rows done" in seen[1][1]

        ended = await client.get(f"/intake/batches/{result.batch}/progress", headers={"HX-Request": "true"})
        assert ended.headers.get("HX-Refresh") == "true"
        plain = await client.get(f"/intake/batches/{result.batch}/progress")
        assert plain.status_code == 303 and plain.headers["location"] == f"/intake/batches/{result.batch}"
        finished = await client.get(f"/intake/batches/{result.batch}")
        assert "<progress" not in finished.text and 'http-equiv="refresh"' not in finished.text
    finally:
        await client.__aexit__(None, None, None)
