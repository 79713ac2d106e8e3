"""A partner admin runs its staff: invitations by single-use link, roles, deactivation; at least one
active admin always remains."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from alliance.core.access import principal_for
from alliance.core.codes import PartnerStatus, Role
from alliance.core.errors import InvalidInput, NotFound, PermissionDenied
from alliance.core.models import AuditEntry, User, UserSession
from alliance.partners.models import Partner
from alliance.partners.staff import (
    change_staff_role,
    invite_staff,
    pending_invitations,
    revoke_invitation,
    set_staff_active,
    staff_of,
)
from tests.conftest import TEST_SECRET
from tests.factories import build_two_sides, csrf_from, login, session_csrf

LIFETIME = timedelta(days=2)


@pytest.fixture
async def world():
    return await build_two_sides()


async def test_an_invited_dispatcher_sets_a_password_through_the_link_once(app, world):
    left, _right, _admin = world
    admin = await principal_for(left.users["partner_admin"])
    invited = await invite_staff(admin, "newdispatch", "新调度", "dispatcher", TEST_SECRET, LIFETIME)
    assert [row.username for row in await pending_invitations(admin)] == ["newdispatch"]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        page = await client.get(invited.link.path)
        assert page.status_code == 200
        data = {"new_password": "dispatch-pass-1", "repeat_password": "dispatch-pass-1"}
        done = await client.post(invited.link.path, data=data | {"csrf_token": csrf_from(page.text)})
        assert done.status_code == 303
        assert (await client.get(invited.link.path)).status_code == 410  # single use
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await login(client, "newdispatch", "dispatch-pass-1")).status_code == 303
        assert (await client.get("/board")).status_code == 200
    assert await pending_invitations(admin) == []
    assert await AuditEntry.exists(action="partner.staff_invited", object_id=str(left.partner.id))


async def test_a_revoked_invitation_opens_nothing(app, world):
    left, _right, _admin = world
    admin = await principal_for(left.users["partner_admin"])
    invited = await invite_staff(admin, "late", "迟到", "partner_admin", TEST_SECRET, LIFETIME)
    await revoke_invitation(admin, invited.invitation.id)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get(invited.link.path)).status_code in (404, 410)
    assert not (await User.get(username="late")).is_active
    with pytest.raises(NotFound):
        await revoke_invitation(admin, invited.invitation.id)


async def test_another_partners_admin_and_a_dispatcher_cannot_run_the_staff(world):
    left, right, _admin = world
    other = await principal_for(right.users["partner_admin"])
    with pytest.raises(NotFound):
        await set_staff_active(other, left.users["dispatcher"].id, False)
    # Only its own staff are found from the other partner's side.
    assert {row.username for row in await staff_of(other)} == {"padminB", "dispatchB"}
    with pytest.raises(PermissionDenied):
        await staff_of(await principal_for(left.users["dispatcher"]))


async def test_the_last_active_admin_cannot_be_demoted_or_deactivated(world):
    left, _right, _admin = world
    admin = await principal_for(left.users["partner_admin"])
    with pytest.raises(InvalidInput):
        await change_staff_role(admin, left.users["partner_admin"].id, "dispatcher")
    with pytest.raises(InvalidInput):
        await set_staff_active(admin, left.users["partner_admin"].id, False)
    # With a second admin, the first may step down.
    await change_staff_role(admin, left.users["dispatcher"].id, "partner_admin")
    await change_staff_role(admin, left.users["partner_admin"].id, "dispatcher")
    assert (await User.get(id=left.users["partner_admin"].id)).role == Role.DISPATCHER


async def test_a_deactivated_staff_member_loses_powers_at_once(app, world):
    left, _right, _admin = world
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as dispatcher:
        await login(dispatcher, left.users["dispatcher"].username)
        assert (await dispatcher.get("/board")).status_code == 200
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as admin:
            await login(admin, left.users["partner_admin"].username)
            staff = await admin.get("/partner/staff")
            assert staff.status_code == 200 and left.users["dispatcher"].display_name in staff.text
            assert await AuditEntry.exists(action="staff.view", actor_id=left.users["partner_admin"].id)
            response = await admin.post(
                f"/partner/staff/{left.users['dispatcher'].id}/active",
                data={"active": "no", "csrf_token": session_csrf(admin)},
            )
            assert response.status_code == 303
        assert (await dispatcher.get("/board")).status_code == 303  # session ended: back to login
    assert not await UserSession.filter(user_id=left.users["dispatcher"].id, ended_at__isnull=True).exists()
    admin = await principal_for(left.users["partner_admin"])
    await set_staff_active(admin, left.users["dispatcher"].id, True)
    assert (await User.get(id=left.users["dispatcher"].id)).is_active


async def test_a_pending_partner_cannot_invite_staff(world):
    left, _right, _admin = world
    await Partner.filter(id=left.partner.id).update(status=PartnerStatus.PENDING)
    admin = await principal_for(left.users["partner_admin"])
    with pytest.raises(PermissionDenied):
        await invite_staff(admin, "x-user", "某人", "dispatcher", TEST_SECRET, LIFETIME)
