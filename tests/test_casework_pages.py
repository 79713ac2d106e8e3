"""Casework pages as a worker and a household use them: register offline (errors, duplicates, link),
the case page, and the household's own actions."""

from __future__ import annotations

import pytest

from alliance.cases.models import CaseNote, Referral
from alliance.households.models import Household
from alliance.matching.models import ServiceRequest
from tests.factories import build_two_sides, login, session_csrf
from tests.intake_support import id_number


@pytest.fixture
async def sides():
    return await build_two_sides()


def _form(community: str, **changes) -> dict:
    data = {
        "head_name": "陈阿婆",
        "id_number": id_number("33030219400101002"),
        "phone": "13955556666",
        "address": "五马街88号",
        "region_code": community,
        "member_count": "1",
        "flags": "ELDERLY_ALONE",
        "contact_preference": "VOICE",
        "source": "door_knock",
        "referrer_name": "",
    }
    data.update(changes)
    return data


async def test_worker_registers_offline_sees_errors_then_duplicates_then_links(client, sides):
    left, _right, _admin = sides
    assert (await login(client, left.users["community_worker"].username)).status_code == 303
    client.headers["Accept-Language"] = "en"
    page = await client.get("/households/register")
    assert page.status_code == 200 and 'name="referrer_agency"' in page.text
    csrf = {"X-CSRF-Token": session_csrf(client)}
    before = await Household.all().count()
    bad = await client.post(
        "/households/register", data=_form(left.community, id_number="12345", source="agency"), headers=csrf
    )
    assert bad.status_code == 422
    assert 'id="id_number-error"' in bad.text and 'id="referrer_agency-error"' in bad.text
    assert await Household.all().count() == before
    # Same name in the same community as nobody; same phone as the left household: a possible duplicate.
    dup = await client.post(
        "/households/register", data=_form(left.community, phone="13812345678"), headers=csrf
    )
    assert dup.status_code == 409 and f"/households/register/link/{left.household.id}" in dup.text
    assert await Household.all().count() == before
    linked = await client.post(
        f"/households/register/link/{left.household.id}", data={"source": "door_knock"}, headers=csrf
    )
    assert linked.status_code == 303 and linked.headers["location"] == f"/households/{left.household.id}/case"
    assert await CaseNote.exists(household_id=left.household.id)
    created = await client.post(
        "/households/register",
        data={**_form(left.community, phone="13812345678"), "confirmed_new": "1"},
        headers=csrf,
    )
    assert created.status_code == 303
    household = await Household.get(head_name="陈阿婆")
    assert not household.verified and (await Referral.get(household_id=household.id)).source == "door_knock"
    case = await client.get(f"/households/{household.id}/case")
    assert case.status_code == 200 and "Registered offline" in case.text and "Needs assessment" in case.text


async def test_case_page_takes_notes_and_assessments_with_field_errors(client, sides):
    left, _right, _admin = sides
    await login(client, left.users["coordinator"].username)
    client.headers["Accept-Language"] = "en"
    csrf = {"X-CSRF-Token": session_csrf(client)}
    base = f"/households/{left.household.id}/case"
    empty = await client.post(f"{base}/notes", data={"kind": "call", "text": ""}, headers=csrf)
    assert empty.status_code == 422 and 'id="note-text-error"' in empty.text
    saved = await client.post(f"{base}/notes", data={"kind": "call", "text": "老人说腿疼"}, headers=csrf)
    assert saved.status_code == 303
    assessed = await client.post(
        f"{base}/assessments",
        data={"need": "HEALTH_SUPPORT", "description": "腿疼", "severity": "3", "action": "open"},
        headers=csrf,
    )
    assert assessed.status_code == 303
    assert await ServiceRequest.exists(household_id=left.household.id, need_id="HEALTH_SUPPORT")
    page = await client.get(base)
    assert "老人说腿疼" in page.text and "Needs assessment" in page.text


async def test_household_asks_for_help_and_declines_from_its_own_page(client, sides):
    left, _right, _admin = sides
    await login(client, left.users["household"].username)
    client.headers["Accept-Language"] = "en"
    assert (await client.get("/my-household/act")).status_code == 200
    csrf = {"X-CSRF-Token": session_csrf(client)}
    asked = await client.post("/my-household/help", data={"need": "LEGAL_AID", "text": ""}, headers=csrf)
    assert asked.status_code == 303
    assert await ServiceRequest.exists(household_id=left.household.id, need_id="LEGAL_AID", status="open")
    unconfirmed = await client.post("/my-household/decline", data={"note": ""}, headers=csrf)
    assert unconfirmed.status_code == 422 and 'id="decline-confirm-error"' in unconfirmed.text
    declined = await client.post(
        "/my-household/decline", data={"note": "不需要", "confirm": "1"}, headers=csrf
    )
    assert declined.status_code == 303
    assert not await ServiceRequest.filter(household_id=left.household.id, status="open").exists()
