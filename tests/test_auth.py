"""Login, logout, sessions, CSRF, the rate limit and the secure headers."""

from __future__ import annotations

import httpx

from alliance.core.login_limits import FREE_FAILURES
from alliance.core.models import AuditEntry, LoginAttempt
from tests.factories import PASSWORD, build_two_sides, csrf_from, login, session_csrf


async def test_login_sends_each_role_to_its_home_page(client, app):
    left, _right, admin = await build_two_sides()
    homes = {
        "coordinator": "/cockpit",
        "community_worker": "/households",
        "partner_admin": "/partner",
        "dispatcher": "/partner",
        "volunteer": "/volunteer",
        "household": "/my-household",
    }
    for role, user in left.users.items():
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as c:
            assert (await login(c, user.username)).headers["location"] == "/"
            assert (await c.get("/")).headers["location"] == homes[role]
    assert (await login(client, admin.username)).status_code == 303
    assert (await client.get("/")).headers["location"] == "/admin/partners"


async def test_wrong_password_is_refused_with_a_message(client):
    await build_two_sides()
    response = await login(client, "coordA", "wrong-password")
    assert response.status_code == 401
    assert "alliance_session" not in response.headers.get("set-cookie", "") or "user_id" not in response.text
    assert (await client.get("/households")).status_code == 303


async def test_failures_slow_the_address_down_for_that_account_even_with_the_right_password(client):
    await build_two_sides()
    for _ in range(FREE_FAILURES):
        assert (await login(client, "coordA", "nope-nope")).status_code == 401
    throttled = await login(client, "coordA", PASSWORD)
    assert throttled.status_code == 429
    assert "Try again in 1 second." in throttled.text and throttled.headers["retry-after"] == "1"
    assert (await client.get("/households")).status_code == 303
    # Another account from the same address is not held up by coordA's failures.
    assert (await login(client, "coordB", PASSWORD)).status_code == 303
    assert (
        await LoginAttempt.filter(username="coordA", succeeded=False, throttled=False).count()
        == FREE_FAILURES
    )
    assert await LoginAttempt.filter(username="coordA", throttled=True).count() == 1


async def test_post_without_csrf_token_is_refused(client):
    await build_two_sides()
    await login(client, "padminA")
    refused = await client.post(
        "/partner", data={"description": "x", "contact_name": "", "contact_phone": ""}
    )
    assert refused.status_code == 403
    forged = await client.post(
        "/partner", data={"description": "x", "contact_name": "", "contact_phone": "", "csrf_token": "forged"}
    )
    assert forged.status_code == 403
    accepted = await client.post(
        "/partner",
        data={"description": "x", "contact_name": "", "contact_phone": ""},
        headers={"X-CSRF-Token": session_csrf(client), "HX-Request": "true"},
    )
    assert accepted.status_code == 200


async def test_login_form_itself_needs_the_token(client):
    await build_two_sides()
    response = await client.post("/login", data={"username": "coordA", "password": PASSWORD})
    assert response.status_code == 403


async def test_logout_ends_the_session(client):
    await build_two_sides()
    await login(client, "coordA")
    assert (await client.get("/households")).status_code == 200
    response = await client.post("/logout", headers={"X-CSRF-Token": session_csrf(client)})
    assert response.status_code == 303
    assert (await client.get("/households")).status_code == 303


async def test_login_does_not_redirect_off_site(client):
    await build_two_sides()
    page = await client.get("/login?next=https://evil.example/")
    response = await client.post(
        "/login",
        data={
            "username": "coordA",
            "password": PASSWORD,
            "csrf_token": csrf_from(page.text),
            "next": "//evil.example/",
        },
    )
    assert response.headers["location"] == "/"


async def test_pages_carry_secure_headers(client):
    response = await client.get("/login")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in response.headers
    behind_tls = await client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert behind_tls.status_code == 200


async def test_viewing_a_household_is_audited(client):
    left, _right, _admin = await build_two_sides()
    await login(client, "coordA")
    response = await client.get(f"/households/{left.household.id}")
    assert response.status_code == 200
    # The ID number is never shown whole.
    assert left.household.id_number not in response.text
    assert await AuditEntry.filter(action="household.view", object_id=str(left.household.id)).exists()
