"""The exports (written by the export job, alliance/core/exports.py) as the programs that open them read them: CSV bytes saved to a file and read back
with the `csv` module the way Excel does (UTF-8 with a byte-order mark, CRLF rows), spreadsheets
opened with openpyxl from the saved file; numbers stay numbers, Chinese stays Chinese, and a cell
typed to look like a formula is text (web/csv_export.py)."""

from __future__ import annotations

import csv

import httpx
from openpyxl import load_workbook

from alliance.core.models import Role
from tests.factories import PASSWORD, create_user, download_export, login
from tests.intake_support import build_city, import_json, person
from tests.test_targets import served_world, this_year


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def _saved(tmp_path, name: str, response: httpx.Response) -> list[list[str]]:
    """The download saved as a browser would, then read like Excel: BOM-marked UTF-8, CRLF rows."""
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert f'filename="{name}' in response.headers["content-disposition"]
    path = tmp_path / name
    path.write_bytes(response.content)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    assert b"\r\n" in raw and raw.count(b"\n") == raw.count(b"\r\n")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle, dialect="excel"))


async def test_the_person_times_exports_open_in_csv_and_spreadsheet_readers(app, tmp_path):
    world = await served_world(persons=2)
    left = world.visits.claims.left
    year = this_year()
    async with _client(app) as client:
        await login(client, left.users["coordinator"].username)
        rows = _saved(
            tmp_path, "person-times", await download_export(client, f"/cockpit/export.csv?year={year}")
        )
        xlsx = await download_export(client, f"/cockpit/export.xlsx?year={year}")
    assert rows[0] == ["breakdown", "key", "name", "person_times", "deliveries"]
    assert ["project", rows[1][1], "助老上门服务", "2", "1"] in rows
    assert xlsx.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    path = tmp_path / "person-times.xlsx"
    path.write_bytes(xlsx.content)
    workbook = load_workbook(path, read_only=True)
    assert workbook.sheetnames == ["By project", "By partner", "By region", "By month"]
    partner_rows = list(workbook["By partner"].iter_rows(values_only=True))
    assert partner_rows[0] == ("Code", "Name", "Person-times", "Deliveries")
    assert partner_rows[1][1:] == (left.partner.name, 2, 1)  # numbers, not text
    months = list(workbook["By month"].iter_rows(values_only=True))[1:]
    assert len(months) == 12 and sum(row[2] for row in months) == 2
    workbook.close()


async def test_refused_rows_and_the_audit_log_open_in_a_csv_reader_with_formulas_as_text(app, tmp_path):
    await build_city()
    evil = '=HYPERLINK("http://x","点我")'
    result = await import_json([person(7, head_name=evil, phone="12"), person(8, head_name="王小明")])
    await create_user("admin", PASSWORD, Role.ADMIN)
    async with _client(app) as client:
        await login(client, "admin")
        refused = _saved(
            tmp_path,
            f"intake-batch-{result.batch}-rejected.csv",
            await download_export(client, f"/intake/batches/{result.batch}/rejected.csv"),
        )
        audit_rows = _saved(tmp_path, "audit.csv", await download_export(client, "/audit/export.csv"))
    assert len(refused) == 2 and "'" + evil in refused[1] and evil not in refused[1]
    assert len({len(row) for row in audit_rows}) == 1 and len(audit_rows) > 1
