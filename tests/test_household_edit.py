"""Editing a household's details: blind index follows the phone, scope, field errors, applying a
reported change, audit with field names only, and the timeline entry."""

from __future__ import annotations

import pytest

from alliance.cases.household_actions import report_change
from alliance.cases.household_edit import EDIT_ACTION, EditForm, edit_household
from alliance.cases.timeline import case_timeline
from alliance.core.access import principal_for
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.models import AuditEntry
from alliance.households.models import Household
from alliance.households.selectors import find_by_phone
from tests.factories import csrf_from, login
from tests.visits_support import build_visit_world


@pytest.fixture
async def world():
    return await build_visit_world()


async def test_worker_edits_phone_applies_change_and_audit_names_fields_only(world):
    left = world.claims.left
    worker = await principal_for(left.users["community_worker"])
    household = await Household.get(id=left.household.id)
    old_phone = household.phone
    form = EditForm.of(household)

    bad = EditForm.of(household)
    bad.change_phone, bad.phone = True, "12345"
    with pytest.raises(InvalidInput) as invalid:
        await edit_household(worker, household.id, bad)
    assert "phone" in invalid.value.errors
    assert (await Household.get(id=household.id)).phone == old_phone

    other = await principal_for(world.claims.right.users["community_worker"])
    with pytest.raises(NotFound):
        await edit_household(other, household.id, form)

    reported = await report_change(worker, household.id, "phone_changed", "新号码 13711112222")
    form.change_phone, form.phone, form.change_id = True, "137 1111 2222", reported.change.id
    form.address = "新地址9号"
    outcome = await edit_household(worker, household.id, form)
    assert outcome.changed == ["phone", "address"]
    assert await find_by_phone("13711112222").filter(id=household.id).exists()
    assert not await find_by_phone(old_phone).filter(id=household.id).exists()
    await reported.change.refresh_from_db()
    assert reported.change.verified_at is not None

    entry = await AuditEntry.filter(action=EDIT_ACTION, household_id=household.id).first()
    assert entry.details["fields"] == ["phone", "address"]
    assert "13711112222" not in str(entry.details) and "新地址" not in str(entry.details)
    timeline = await case_timeline(worker, household.id)
    assert any(item.kind == "edit" for item in timeline.entries)


async def test_the_worker_edits_from_the_page_and_a_bad_field_keeps_the_others(world, client):
    left = world.claims.left
    household = await Household.get(id=left.household.id)
    await login(client, left.users["community_worker"].username)
    case = await client.get(f"/households/{household.id}/case")
    assert f'href="/households/{household.id}/edit"' in case.text
    page = await client.get(f"/households/{household.id}/edit", params={"change_phone": "1"})
    assert page.status_code == 200 and 'name="phone"' in page.text
    # The phone is shown masked, never whole, on the form.
    assert household.phone not in page.text
    token = csrf_from(page.text)
    form = {
        "csrf_token": token,
        "change_phone": "1",
        "phone": "12",
        "address": "改过的地址1号",
        "region_code": household.region_id,
        "member_count": "3",
        "contact_preference": household.contact_preference,
    }
    refused = await client.post(f"/households/{household.id}/edit", data=form)
    assert refused.status_code == 422
    # The error names the field; what was typed in the good fields is still in the form; nothing saved.
    assert 'aria-invalid="true"' in refused.text and "改过的地址1号" in refused.text
    assert (await Household.get(id=household.id)).address == household.address
    saved = await client.post(f"/households/{household.id}/edit", data={**form, "phone": "13722223333"})
    assert saved.status_code in (200, 303)
    stored = await Household.get(id=household.id)
    assert (stored.phone, stored.address, stored.member_count) == ("13722223333", "改过的地址1号", 3)
