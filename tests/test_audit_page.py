"""The audit page (who sees which entries, filters, pages, CSV), refusals on the record, the API
token as actor, and CSV cells escaped against formula injection in every export."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest

from alliance.core import audit
from alliance.core.access import principal_for
from alliance.core.accounts import create_user
from alliance.core.codes import Role
from alliance.core.models import AuditEntry
from alliance.core.timeutil import LOCAL_TZ
from alliance.households.sources import add_source, sign
from alliance.partners.tokens import create_token_for
from tests.claims_support import build_claim_world
from tests.factories import PASSWORD, build_two_sides, download_export, login
from tests.intake_support import build_city, import_json, person
from web.csv_export import FORMULA_STARTS, csv_text, safe_cell


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))


async def _two_regions():
    left, right, admin = await build_two_sides()
    for side in (left, right):
        coordinator = await principal_for(side.users["coordinator"])
        await audit.viewed(coordinator, "household.view", households=[side.household.id], address="10.0.0.9")
    return left, right, admin


async def test_a_coordinator_sees_only_the_entries_of_their_region(client):
    left, right, _admin = await _two_regions()
    await login(client, "coordA")
    page = await client.get("/audit")
    assert page.status_code == 200
    assert f'household={left.household.id}"' in page.text
    assert f'household={right.household.id}"' not in page.text
    # Asking for the other region's household by number finds nothing either.
    other = await client.get(f"/audit?household={right.household.id}")
    assert "No entry matches." in other.text
    exported = _csv(await download_export(client, "/audit/export.csv"))
    assert exported[0][:3] == ["id", "at_utc", "actor"]
    assert {row[8] for row in exported[1:]} == {str(left.household.id)}


async def test_an_admin_sees_every_region_and_the_others_are_refused(client, app):
    left, right, _admin = await _two_regions()
    await login(client, "admin")
    page = await client.get("/audit")
    assert f'household={left.household.id}"' in page.text and f'household={right.household.id}"' in page.text
    for username in ("padminA", "workerA", "volA", "houseA"):
        await client.post("/logout", headers={"X-CSRF-Token": ""})
        client.cookies.clear()
        await login(client, username)
        assert (await client.get("/audit")).status_code == 403, username
        assert (await download_export(client, "/audit/export.csv")).status_code == 403, username


async def test_filters_by_person_household_action_and_date_and_pages(client):
    left, right, admin = await _two_regions()
    admin_principal = await principal_for(admin)
    for _ in range(55):
        await audit.viewed(admin_principal, "visit.view", households=[left.household.id])
    await login(client, "admin")
    by_person = _csv(await download_export(client, "/audit/export.csv?actor=coordB"))
    assert [row[2] for row in by_person[1:]] == ["coordB"]
    by_household = _csv(await download_export(client, f"/audit/export.csv?household={right.household.id}"))
    assert {row[8] for row in by_household[1:]} == {str(right.household.id)}
    by_action = _csv(await download_export(client, "/audit/export.csv?action=visit"))
    assert len(by_action) == 1 + 55 and {row[5] for row in by_action[1:]} == {"visit.view"}
    assert len(_csv(await download_export(client, "/audit/export.csv?action=household.view"))) == 1 + 2
    # Dates are local days, the end day included; the future holds nothing.
    today = (await AuditEntry.first()).at.astimezone(LOCAL_TZ).date().isoformat()
    assert len(_csv(await download_export(client, f"/audit/export.csv?since=2000-01-01&until={today}"))) >= 58
    assert len(_csv(await download_export(client, "/audit/export.csv?since=2999-01-01"))) == 1
    first = await client.get("/audit?action=visit")
    assert "55 entries" in first.text and "Page 1 of 2" in first.text
    second = await client.get("/audit?action=visit&page=2")
    assert "Page 2 of 2" in second.text
    wrong = await client.get("/audit?since=yesterday&household=abc")
    assert wrong.status_code == 422
    assert "YYYY-MM-DD" in wrong.text and "household number" in wrong.text


async def test_a_refused_access_is_recorded_once_with_who_what_and_where(client):
    left, _right, _admin = await build_two_sides()
    await login(client, "coordB")
    path = f"/households/{left.household.id}"
    assert (await client.get(path)).status_code == 404
    refusals = await AuditEntry.filter(action__startswith="access.")
    assert len(refusals) == 1
    refusal = refusals[0]
    assert refusal.action == "access.not_found" and refusal.actor_name == "coordB"
    assert refusal.details["path"] == path and refusal.details["action"] == "view_households"
    await client.post("/logout", headers={"X-CSRF-Token": ""})
    client.cookies.clear()
    await login(client, "padminA")
    assert (await client.get("/outbox")).status_code == 403
    forbidden = await AuditEntry.get(action="access.forbidden")
    assert forbidden.actor_name == "padminA" and forbidden.details["action"] == "view_notifications"
    # An address that does not exist is no refusal.
    await client.get("/no-such-page")
    assert await AuditEntry.filter(action__startswith="access.").count() == 2


async def test_bad_tokens_and_bad_signatures_are_recorded(client):
    await build_claim_world()
    for header in ("Bearer alli_notatokenatall", "Bearer nonsense", "Basic abc"):
        response = await client.get("/api/v1/partner/requests", headers={"Authorization": header})
        assert response.status_code == 401
    refused = await AuditEntry.filter(action="api.token_refused").order_by("id")
    assert len(refused) == 3
    assert refused[0].details["prefix"] == "alli_notatok" and refused[0].actor_id is None
    assert "alli_notatokenatall" not in json.dumps([entry.details for entry in refused])


async def test_bad_intake_signatures_are_recorded(client):
    await build_city()
    _source, secret = await add_source("sais-test")
    body = json.dumps([person(1)]).encode()
    timestamp = str(int(time.time()))
    headers = {
        "X-Alliance-Timestamp": timestamp,
        "X-Alliance-Signature": sign(
            secret + "x", timestamp, body, method="POST", path="/api/v1/intake/households"
        ),
    }
    assert (await client.post("/api/v1/intake/households", content=body, headers=headers)).status_code == 401
    bad = await AuditEntry.get(action="api.signature_refused")
    assert bad.details["path"] == "/api/v1/intake/households" and bad.details["reason"]


async def test_api_actions_name_the_token_not_its_creator(client):
    world = await build_claim_world()
    created = await create_token_for(world.home.partner.name, "robot")
    path = f"/api/v1/partner/requests/{world.request.id}/claim"
    response = await client.post(path, headers={"Authorization": f"Bearer {created.secret}"})
    assert response.status_code == 200
    for action in ("request.claim", "household.contact_view"):
        entry = await AuditEntry.get(action=action)
        assert entry.actor_token_id == created.token.id, action
        assert entry.actor_partner_id == world.home.partner.id and entry.actor_id is None
        assert entry.actor_name == f"api:{created.token.prefix}"
        # Found under the household, and in its region, as any entry about a request is.
        assert entry.household_id == world.left.household.id, action
    assert (await audit.verify()).ok


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_a_cell_that_starts_a_formula_is_escaped(start):
    value = f'{start}HYPERLINK("http://evil.example")'
    assert safe_cell(value) == "'" + value
    assert safe_cell("张三") == "张三" and safe_cell(-5) == -5
    assert _csv_text_cells(csv_text([[value, "ok"]])) == [["'" + value, "ok"]]


def _csv_text_cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def test_rejected_rows_and_the_audit_export_escape_formulas(client):
    await build_city()
    evil = "=cmd|' /C calc'!A0"
    result = await import_json([person(7, head_name=evil, phone="12")])
    assert result.rejected
    await create_user("admin", PASSWORD, Role.ADMIN)
    await login(client, "admin")
    rows = _csv(await download_export(client, f"/intake/batches/{result.batch}/rejected.csv"))
    assert "'" + evil in rows[1] and evil not in rows[1]
    await audit.record(None, "test.thing", "thing", "+1+1")
    exported = _csv(await download_export(client, "/audit/export.csv?action=test"))
    assert exported[1][7] == "'+1+1"
