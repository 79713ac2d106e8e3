"""Flag -> need rules: the defaults from the domain, editable by an admin and nobody else."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from alliance.core.access import principal_for
from alliance.core.errors import InvalidInput, PermissionDenied
from alliance.core.models import AuditEntry
from alliance.households.reference import rules_by_flag, set_flag_need_rules
from tests.factories import build_two_sides, login, session_csrf


async def test_admin_edits_the_rules_on_the_page_and_the_change_is_audited(client):
    await build_two_sides()
    await login(client, "admin")
    page = await client.get("/admin/need-rules")
    assert page.status_code == 200
    assert 'name="ELDERLY_ALONE" value="HOME_CARE" checked' in page.text
    before = await rules_by_flag()

    # Untick everything for ELDERLY_ALONE except legal aid; every other flag as it was.
    form = [(flag, need) for flag, needs in before.items() if flag != "ELDERLY_ALONE" for need in needs]
    form += [("ELDERLY_ALONE", "LEGAL_AID"), ("csrf_token", session_csrf(client))]
    saved = await client.post(
        "/admin/need-rules",
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert saved.status_code == 200 and "saved" in saved.text
    after = await rules_by_flag()
    assert after["ELDERLY_ALONE"] == {"LEGAL_AID"}
    assert {flag: needs for flag, needs in after.items() if flag != "ELDERLY_ALONE"} == {
        flag: needs for flag, needs in before.items() if flag != "ELDERLY_ALONE"
    }
    entry = await AuditEntry.get(action="need_rules.changed")
    assert entry.details["ELDERLY_ALONE"]["to"] == ["LEGAL_AID"]


async def test_only_admins_may_edit_the_rules(client):
    left, _right, _admin = await build_two_sides()
    await login(client, "coordA")
    assert (await client.get("/admin/need-rules")).status_code == 403
    with pytest.raises(PermissionDenied):
        await set_flag_need_rules(await principal_for(left.users["coordinator"]), {})


async def test_unknown_codes_are_named_and_nothing_changes():
    _left, _right, admin = await build_two_sides()
    before = await rules_by_flag()
    with pytest.raises(InvalidInput) as refused:
        await set_flag_need_rules(
            await principal_for(admin), {"ELDERLY_ALONE": ["HOME_CARE", "NOPE"], "XYZ": []}
        )
    assert "NOPE" in refused.value.errors["ELDERLY_ALONE"] and "XYZ" in refused.value.errors
    assert await rules_by_flag() == before
