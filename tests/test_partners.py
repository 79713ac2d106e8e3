"""Partner profile, offerings with a service area, and partner approval."""

from __future__ import annotations

from alliance.notifications.models import Notification
from alliance.partners.models import Offering, Partner
from tests.factories import build_two_sides, login, session_csrf


def _offering(**overrides: str) -> dict:
    data = {
        "title": "宽带资费减半",
        "need": "TELECOM_DISCOUNT",
        "eligibility_flags": ["SUBSISTENCE_ALLOWANCE", "LOW_INCOME"],
        "base_lat": "28.015",
        "base_lon": "120.655",
        "radius_km": "12.5",
        "region_codes": "330302",
        "monthly_capacity": "40",
        "delivery_mode": "home_visit",
        "active": "on",
    }
    data.update(overrides)
    return data


async def test_partner_admin_creates_an_offering_with_its_service_area(client):
    left, _right, _admin = await build_two_sides()
    await login(client, "padminA")
    response = await client.post(
        "/partner/offerings/new", data=_offering(), headers={"X-CSRF-Token": session_csrf(client)}
    )
    assert response.status_code == 303
    offering = await Offering.get(title="宽带资费减半").prefetch_related("regions")
    assert offering.partner_id == left.partner.id
    assert offering.radius_km == 12.5 and offering.eligibility_flags == [
        "SUBSISTENCE_ALLOWANCE",
        "LOW_INCOME",
    ]
    assert [region.code for region in offering.regions] == ["330302"]
    listing = await client.get("/partner/offerings")
    assert "宽带资费减半" in listing.text


async def test_bad_offering_fields_are_named_and_nothing_is_saved(client):
    await build_two_sides()
    await login(client, "padminA")
    response = await client.post(
        "/partner/offerings/new",
        data=_offering(
            title="", base_lat="120.655", base_lon="28.015", region_codes="999999", monthly_capacity="-3"
        ),
        headers={"X-CSRF-Token": session_csrf(client), "HX-Request": "true"},
    )
    assert response.status_code == 422
    assert 'id="title-error"' in response.text
    assert 'id="base_lat-error"' in response.text and 'id="base_lon-error"' in response.text
    assert "999999" in response.text
    assert 'id="monthly_capacity-error"' in response.text
    # The user's input is kept in the form.
    assert 'value="12.5"' in response.text
    assert await Offering.all().count() == 0


async def test_offering_needs_a_service_area(client):
    await build_two_sides()
    await login(client, "padminA")
    response = await client.post(
        "/partner/offerings/new",
        data=_offering(base_lat="", base_lon="", radius_km="", region_codes=""),
        headers={"X-CSRF-Token": session_csrf(client)},
    )
    assert response.status_code == 422 and 'id="service_area-error"' in response.text


async def test_dispatcher_may_not_edit_offerings(client):
    await build_two_sides()
    await login(client, "dispatchA")
    response = await client.post(
        "/partner/offerings/new", data=_offering(), headers={"X-CSRF-Token": session_csrf(client)}
    )
    assert response.status_code == 403
    assert await Offering.all().count() == 0


async def test_coordinator_approves_a_partner_in_their_region_and_its_staff_are_told(client):
    left, _right, _admin = await build_two_sides()
    await Partner.filter(id=left.partner.id).update(status="pending")
    await login(client, "coordA")
    pending = await client.get("/admin/partners", params={"status": "pending"})
    assert left.partner.name in pending.text
    response = await client.post(
        f"/admin/partners/{left.partner.id}/status",
        data={"status": "approved"},
        headers={"X-CSRF-Token": session_csrf(client), "HX-Request": "true"},
    )
    assert response.status_code == 200 and f'id="partner-{left.partner.id}"' in response.text
    assert (await Partner.get(id=left.partner.id)).status == "approved"
    told = await Notification.filter(
        user_id__in=[left.users["partner_admin"].id, left.users["dispatcher"].id]
    )
    assert len(told) == 2 and all(left.partner.name in notification.body for notification in told)


async def test_partner_profile_rejects_a_bad_phone_and_keeps_the_rest(client):
    left, _right, _admin = await build_two_sides()
    await login(client, "padminA")
    response = await client.post(
        "/partner",
        data={"description": "上门服务", "contact_name": "陈", "contact_phone": "call me"},
        headers={"X-CSRF-Token": session_csrf(client), "HX-Request": "true"},
    )
    assert response.status_code == 422
    assert 'id="contact_phone-error"' in response.text and "上门服务" in response.text
    assert (await Partner.get(id=left.partner.id)).description == ""
