"""A partner awaiting approval keeps its profile only (README's demo table, issue 21)."""

from __future__ import annotations

from alliance.core.accounts import create_user
from alliance.core.codes import PartnerStatus, Role
from alliance.partners.models import Partner
from tests.factories import PASSWORD, build_two_sides, login


async def test_pending_partner_admin_sees_its_profile_and_nothing_else(client):
    left, _right, _admin = await build_two_sides()
    pending = await Partner.create(
        name="待审伙伴", kind="service_provider", status=PartnerStatus.PENDING, region_id=left.district
    )
    await create_user("pending.admin", PASSWORD, Role.PARTNER_ADMIN, partner_id=pending.id)
    await login(client, "pending.admin")
    profile = await client.get("/partner")
    assert profile.status_code == 200 and "待审伙伴" in profile.text
    for path in ("/board", "/partner/offerings", "/partner/api-tokens", "/partner/events", "/visits"):
        response = await client.get(path)
        assert response.status_code in (403, 404), path
    assert 'href="/board"' not in profile.text


def test_the_geofence_note_reads_in_chinese():
    from alliance.core.i18n import language
    from alliance.visits.checkins import check_in_note_text

    with language("zh_CN"):
        text = check_in_note_text("123 m from the household (radius 200 m); phone accuracy ±15 m")
    assert text == "距家庭 123 米（范围 200 米）；手机定位精度 ±15 米"
