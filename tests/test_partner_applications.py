"""Partners join: the public sign-up, the set-password link, review (ask for changes, approve,
reject), the applicant's resubmission, and the organisation counted as joined."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from stdnum.cn import uscc

from alliance.core.access import principal_for
from alliance.core.codes import PartnerStatus, RegionLevel, Role
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.models import AuditEntry, User
from alliance.core.regions import add_region
from alliance.events.partner_lifecycle import change_partner_status
from alliance.notifications.models import Notification
from alliance.partners.applications import ApplicationForm, request_changes, submit_application
from alliance.partners.models import Partner
from alliance.partners.review import partner_history
from alliance.targets.growth import growth_in, rebuild_growth, recount_growth
from alliance.targets.scopes import scope_for
from tests.conftest import TEST_SECRET
from tests.factories import build_two_sides, csrf_from, login, session_csrf

LIFETIME = timedelta(days=2)


def credit_code(serial: int) -> str:
    body = f"91330302MA{serial:07d}"
    return body + uscc.calc_check_digit(body)


def application(serial: int = 1, **overrides) -> ApplicationForm:
    values = {
        "name": f"鹿城助老服务社{serial}",
        "kind": "social_organisation",
        "credit_code": credit_code(serial),
        "contact_name": "陈联系",
        "contact_phone": "13900001111",
        "contact_email": "chen@example.org",
        "region_code": "330302",
        "service_region_codes": ("330302001",),
        "needs": ("HOME_CARE", "LEGAL_AID"),
        "description": "上门照护",
        "username": f"zhulao{serial}",
    }
    values.update(overrides)
    return ApplicationForm(**values)


@pytest.fixture
async def world():
    return await build_two_sides()


def _form_data(form: ApplicationForm, csrf: str) -> dict:
    keys = ("name", "kind", "credit_code", "contact_name", "contact_phone", "contact_email", "region_code")
    data: dict = {key: getattr(form, key) for key in (*keys, "description", "username")}
    data |= {"service_region_codes": list(form.service_region_codes), "needs": list(form.needs)}
    return data | {"csrf_token": csrf}


async def _join(client: httpx.AsyncClient, form: ApplicationForm) -> httpx.Response:
    page = await client.get("/join")
    assert page.status_code == 200
    return await client.post("/join", data=_form_data(form, csrf_from(page.text)))


async def test_an_organisation_signs_up_sets_its_password_and_sees_only_its_profile(app, world):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        received = await _join(client, application())
        assert received.status_code == 200, received.text
        link = re.search(r'value="http://test(/reset-password/[^"]+)"', received.text).group(1)
        partner = await Partner.get(name="鹿城助老服务社1")
        assert (partner.status, partner.credit_code) == (PartnerStatus.PENDING, credit_code(1))
        assert partner.offered_needs == ["HOME_CARE", "LEGAL_AID"]
        page = await client.get(link)
        await client.post(
            link,
            data={
                "new_password": "a-good-password",
                "repeat_password": "a-good-password",
                "csrf_token": csrf_from(page.text),
            },
        )
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await login(client, "zhulao1", "a-good-password")).status_code == 303
        profile = await client.get("/partner")
        assert profile.status_code == 200 and "鹿城助老服务社1" in profile.text
        assert (await client.get("/board")).status_code == 403
        assert (await client.get("/partner/staff")).status_code == 403
    # The region's coordinator was told, and the application is in the history.
    left, _right, _admin = world
    assert await Notification.exists(user_id=left.users["coordinator"].id, body__contains="鹿城助老服务社1")
    assert await AuditEntry.exists(action="partner.applied", object_id=str(partner.id))


async def test_a_wrong_credit_code_is_refused_with_the_field_named_and_nothing_written(app, world):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        wrong = credit_code(2)[:-1] + ("0" if credit_code(2)[-1] != "0" else "1")
        response = await _join(
            client, application(2, credit_code=wrong, service_region_codes=(), username="x")
        )
    assert response.status_code == 422
    # Every field's error at once.
    assert "GB 32100" in response.text and "Choose at least one region" in response.text
    assert "3 to 64 letters" in response.text
    assert not await Partner.exists(name="鹿城助老服务社2")
    assert not await User.exists(username="zhulao2")


async def test_sign_ups_from_one_address_are_limited(app, world):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        statuses = [(await _join(client, application(serial))).status_code for serial in range(10, 16)]
    assert statuses == [200] * 5 + [429]
    assert await Partner.filter(name__startswith="鹿城助老服务社1").count() == 5


async def test_the_reviewer_asks_for_changes_and_the_applicant_resubmits(app, world):
    left, right, _admin = world
    applied = await submit_application(application(3), TEST_SECRET, LIFETIME)
    coordinator = await principal_for(left.users["coordinator"])
    # Another district's coordinator does not see the application at all.
    with pytest.raises(NotFound):
        await request_changes(await principal_for(right.users["coordinator"]), applied.partner.id, "改")
    with pytest.raises(InvalidInput) as empty:
        await request_changes(coordinator, applied.partner.id, "  ")
    assert "note" in empty.value.errors
    await request_changes(coordinator, applied.partner.id, "请补充服务区域")
    assert await Notification.exists(user_id=applied.user.id, body__contains="请补充服务区域")

    await User.filter(id=applied.user.id).update(password_hash=left.users["partner_admin"].password_hash)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        await login(client, "zhulao3")
        page = await client.get("/partner")
        assert "请补充服务区域" in page.text
        # The request also reached the applicant as a message, listed on its page.
        assert 'id="messages-title"' in page.text and page.text.count("请补充服务区域") >= 2
        changed = application(3, service_region_codes=("330302", "330302001"), name="鹿城助老服务社三")
        response = await client.post("/partner", data=_form_data(changed, session_csrf(client)))
        assert response.status_code == 200, response.text
    partner = await Partner.get(id=applied.partner.id)
    assert (partner.name, partner.changes_requested, partner.status) == ("鹿城助老服务社三", "", "pending")
    steps = [entry.to_status for entry in await partner_history(coordinator, partner.id)]
    assert steps == ["resubmitted", "changes_requested", "pending"]


async def test_approval_counts_the_organisation_joined_once_and_rejection_keeps_the_reason(world):
    left, _right, _admin = world
    first = await submit_application(application(4), TEST_SECRET, LIFETIME)
    second = await submit_application(application(5), TEST_SECRET, LIFETIME)
    coordinator = await principal_for(left.users["coordinator"])
    scope = await scope_for(coordinator)
    year = (await Partner.get(id=first.partner.id)).submitted_at.year
    before = (await growth_in(scope, year)).organisations

    await change_partner_status(coordinator, first.partner.id, "approved")
    await change_partner_status(coordinator, first.partner.id, "suspended", "投诉")
    await change_partner_status(coordinator, first.partner.id, "approved", "已整改")
    assert (await growth_in(scope, year)).organisations == before + 1  # reinstating is not joining

    with pytest.raises(InvalidInput):
        await change_partner_status(coordinator, second.partner.id, "closed", "")
    await change_partner_status(coordinator, second.partner.id, "closed", "资质不符")
    history = await partner_history(coordinator, second.partner.id)
    assert (history[0].to_status, history[0].reason) == ("rejected", "资质不符")
    assert await Notification.exists(user_id=second.user.id, body__contains="资质不符")
    # The running entries equal a recount from the partners.
    counted = sorted(entry.key for entry in await recount_growth())
    await rebuild_growth()
    assert (await growth_in(scope, year)).organisations == before + 1
    assert counted == sorted(entry.key for entry in await recount_growth())


async def test_the_reviewer_issues_a_set_password_link_for_the_applicant(app, world):
    left, _right, _admin = world
    applied = await submit_application(application(6), TEST_SECRET, LIFETIME)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        await login(client, left.users["coordinator"].username)
        page = await client.get(f"/admin/partners/{applied.partner.id}")
        assert page.status_code == 200 and credit_code(6) in page.text
        issued = await client.post(
            f"/admin/partners/{applied.partner.id}/admin-link",
            data={"user_id": str(applied.user.id), "csrf_token": session_csrf(client)},
        )
        assert issued.status_code == 200 and "/reset-password/" in issued.text
    # The link handed out at sign-up no longer works: only the newest one does.
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get(applied.link.path)).status_code == 410


async def test_staff_role_of_the_applicant_is_partner_admin(world):
    applied = await submit_application(application(7), TEST_SECRET, LIFETIME)
    assert applied.user.role == Role.PARTNER_ADMIN and applied.user.partner_id == applied.partner.id
    # A second application with the same credit code or name is refused.
    with pytest.raises(InvalidInput) as again:
        await submit_application(application(7, username="other"), TEST_SECRET, LIFETIME)
    assert set(again.value.errors) >= {"name", "credit_code"}
    await add_region("330303", "龙湾区", RegionLevel.DISTRICT, "330300")


async def test_operators_review_and_invite_from_the_command_line(servers, world):
    import os
    import subprocess
    import sys

    def cli(*arguments: str) -> subprocess.CompletedProcess:
        environment = dict(os.environ, DATABASE_URL=servers.database_url, LOG_LEVEL="warning")
        environment.pop("REDIS_URL", None)
        return subprocess.run(
            [sys.executable, "-m", "web.cli", *arguments],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    applied = await submit_application(application(8), TEST_SECRET, LIFETIME)
    pending = cli("partner", "list", "--status", "pending")
    assert pending.returncode == 0 and "鹿城助老服务社8" in pending.stdout
    refused = cli("partner", "reject", str(applied.partner.id), "--as", "admin")
    assert refused.returncode == 1 and "reason" in refused.stderr
    approved = cli("partner", "approve", "鹿城助老服务社8", "--as", "coordA")
    assert approved.returncode == 0, approved.stderr
    assert (await Partner.get(id=applied.partner.id)).status == PartnerStatus.APPROVED
    # Another district's coordinator may not suspend it.
    assert cli("partner", "suspend", "鹿城助老服务社8", "--as", "coordB", "--reason", "x").returncode == 2
    invited = cli(
        "partner",
        "invite-staff",
        "鹿城助老服务社8",
        "--as",
        "zhulao8",
        "--username",
        "disp8",
        "--name",
        "调度八",
    )
    assert invited.returncode == 0, invited.stderr
    assert invited.stdout.strip().splitlines()[-1].startswith("/reset-password/")
    assert (await User.get(username="disp8")).role == Role.DISPATCHER
