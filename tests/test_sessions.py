"""Sessions that end: logout, password change, deactivation, "sign out everywhere", idle and absolute
lifetimes, /language, password-reset links and the `alliance user` command."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from alliance.core.access import principal_for
from alliance.core.accounts import create_user, verify_password
from alliance.core.codes import RegionLevel, Role
from alliance.core.errors import NotFound, PermissionDenied
from alliance.core.models import AuditEntry, PasswordReset, User, UserSession
from alliance.core.password_resets import issue_reset_link
from alliance.core.regions import add_region
from alliance.core.timeutil import utc_now
from tests.factories import PASSWORD, build_two_sides, csrf_from, login, session_csrf

NEW_PASSWORD = "a-new-password-9"


def _steal(client: httpx.AsyncClient) -> tuple[str, str]:
    """The session cookie as a thief would copy it: its value and the domain it was set for."""
    (cookie,) = [cookie for cookie in client.cookies.jar if cookie.name == "alliance_session"]
    return cookie.value, cookie.domain


def _plant(client: httpx.AsyncClient, stolen: tuple[str, str]) -> None:
    client.cookies.set("alliance_session", stolen[0], domain=stolen[1])


def _client(app, address: str = "127.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url="http://testserver"
    )


async def _post(client: httpx.AsyncClient, path: str, data: dict | None = None) -> httpx.Response:
    return await client.post(path, data=data or {}, headers={"X-CSRF-Token": session_csrf(client)})


@contextlib.asynccontextmanager
async def _signed_in(app, username: str, password: str = PASSWORD) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app) as client:
        assert (await login(client, username, password)).status_code == 303
        yield client


async def test_logout_then_replaying_the_old_cookie_is_refused(app):
    await build_two_sides()
    async with _signed_in(app, "coordA") as client:
        stolen = _steal(client)
        assert (await client.get("/households")).status_code == 200
        assert (await _post(client, "/logout")).status_code == 303
    async with _client(app) as replay:
        _plant(replay, stolen)
        response = await replay.get("/households")
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert await UserSession.filter(end_reason="logout").count() == 1


async def test_language_does_not_revive_a_logged_out_session(app):
    await build_two_sides()
    async with _signed_in(app, "coordA") as client:
        stolen = _steal(client)
        await _post(client, "/logout")
    async with _client(app) as replay:
        _plant(replay, stolen)
        refreshed = await _post(replay, "/language", {"language": "zh_CN", "next": "/households"})
        assert refreshed.status_code == 303
        # The re-signed cookie no longer names the session, and the old one opens nothing either.
        assert "sid" not in _cookie_payload(replay)
        assert (await replay.get("/households")).status_code == 303
    async with _client(app) as replay_again:
        _plant(replay_again, stolen)
        assert (await replay_again.get("/households")).status_code == 303


def _cookie_payload(client: httpx.AsyncClient) -> dict:
    import base64
    import json

    payload = client.cookies.get("alliance_session").split(".")[0]
    return json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))


async def test_password_change_ends_other_sessions_and_keeps_this_one(app):
    await build_two_sides()
    async with _signed_in(app, "workerA") as phone, _signed_in(app, "workerA") as desk:
        page = await phone.get("/account")
        assert page.status_code == 200 and "workerA" in page.text
        wrong = await _post(
            phone,
            "/account/password",
            {
                "current_password": "not-it-at-all",
                "new_password": NEW_PASSWORD,
                "repeat_password": NEW_PASSWORD,
            },
        )
        assert wrong.status_code == 422 and "current password is not right" in wrong.text
        assert (await desk.get("/households")).status_code == 200
        differ = await _post(
            phone,
            "/account/password",
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "repeat_password": "something-else"},
        )
        assert differ.status_code == 422 and "differ" in differ.text
        changed = await _post(
            phone,
            "/account/password",
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD},
        )
        assert changed.status_code == 303 and changed.headers["location"] == "/account"
        assert (await phone.get("/households")).status_code == 200
        assert (await desk.get("/households")).status_code == 303
    user = await User.get(username="workerA")
    assert verify_password(user.password_hash, NEW_PASSWORD)
    assert await AuditEntry.filter(action="user.password_changed", object_id=str(user.id)).exists()
    async with _client(app) as fresh:
        assert (await login(fresh, "workerA", PASSWORD)).status_code == 401
        assert (await login(fresh, "workerA", NEW_PASSWORD)).status_code == 303


async def test_user_signs_out_their_other_devices(app):
    await build_two_sides()
    async with _signed_in(app, "dispatchA") as phone, _signed_in(app, "dispatchA") as desk:
        assert (await _post(phone, "/account/sessions/end-others")).status_code == 303
        assert (await phone.get("/board")).status_code == 200
        assert (await desk.get("/board")).status_code == 303


async def test_deactivation_ends_the_users_sessions_at_once(app):
    left, _right, _admin = await build_two_sides()
    worker = left.users["community_worker"]
    async with _signed_in(app, "workerA") as victim, _signed_in(app, "admin") as admin:
        assert (await victim.get("/households")).status_code == 200
        page = await admin.get("/admin/accounts?q=workerA")
        assert page.status_code == 200 and "workerA" in page.text
        assert (
            await _post(admin, f"/admin/accounts/{worker.id}/active", {"active": "no"})
        ).status_code == 303
        assert (await victim.get("/households")).status_code == 303
        async with _client(app) as again:
            assert (await login(again, "workerA")).status_code == 401
        # An admin cannot lock themselves out.
        refused = await _post(admin, f"/admin/accounts/{_admin.id}/active", {"active": "no"})
        assert refused.status_code == 422 and (await User.get(id=_admin.id)).is_active
        assert (
            await _post(admin, f"/admin/accounts/{worker.id}/active", {"active": "yes"})
        ).status_code == 303
        async with _client(app) as again:
            assert (await login(again, "workerA")).status_code == 303
    assert await UserSession.filter(user_id=worker.id, end_reason="deactivated").count() == 1
    assert await AuditEntry.filter(action="user.deactivated", object_id=str(worker.id)).exists()


async def test_admin_signs_a_user_out_everywhere(app):
    left, _right, _admin = await build_two_sides()
    async with _signed_in(app, "padminA") as one, _signed_in(app, "padminA") as two:
        async with _signed_in(app, "admin") as admin:
            user_id = left.users["partner_admin"].id
            assert (await _post(admin, f"/admin/accounts/{user_id}/sign-out")).status_code == 303
        assert (await one.get("/partner")).status_code == 303
        assert (await two.get("/partner")).status_code == 303
        # Signed out, not locked out.
        assert (await login(one, "padminA")).status_code == 303


async def test_coordinator_may_not_deactivate_or_sign_out(app):
    left, _right, _admin = await build_two_sides()
    async with _signed_in(app, "coordA") as coordinator:
        worker_id = left.users["community_worker"].id
        assert (
            await _post(coordinator, f"/admin/accounts/{worker_id}/active", {"active": "no"})
        ).status_code == 403
        assert (await _post(coordinator, f"/admin/accounts/{worker_id}/sign-out")).status_code == 403
    assert (await User.get(id=worker_id)).is_active


async def test_an_idle_session_ends(app):
    await build_two_sides()
    async with _signed_in(app, "coordA") as client:
        assert (await client.get("/households")).status_code == 200
        idle = timedelta(seconds=app.state.settings.session_idle_seconds)
        await UserSession.all().update(last_seen_at=utc_now() - idle - timedelta(seconds=1))
        assert (await client.get("/households")).status_code == 303
    assert (await UserSession.get()).end_reason == "idle"


async def test_a_session_ends_at_its_absolute_lifetime_even_when_in_use(app):
    await build_two_sides()
    async with _signed_in(app, "coordA") as client:
        lifetime = timedelta(seconds=app.state.settings.session_absolute_seconds)
        # Used a minute ago, but opened longer ago than the absolute lifetime.
        await UserSession.all().update(
            created_at=utc_now() - lifetime - timedelta(seconds=1),
            last_seen_at=utc_now() - timedelta(minutes=1),
        )
        assert (await client.get("/households")).status_code == 303
    assert (await UserSession.get()).end_reason == "expired"


async def test_lifetimes_come_from_the_settings(settings, redis):
    from dataclasses import replace

    from web.app import create_app

    await build_two_sides()
    short = create_app(replace(settings, session_idle_seconds=1, session_absolute_seconds=3))
    async with short.router.lifespan_context(short):
        async with _signed_in(short, "coordA") as client:
            assert (await client.get("/households")).status_code == 200
            await UserSession.all().update(last_seen_at=utc_now() - timedelta(seconds=2))
            assert (await client.get("/households")).status_code == 303
        session = await UserSession.get()
        assert (session.expires_at - session.created_at) == timedelta(seconds=3)


async def test_last_seen_is_written_at_most_once_a_minute(app):
    await build_two_sides()
    async with _signed_in(app, "coordA") as client:
        first = (await UserSession.get()).last_seen_at
        for _ in range(3):
            assert (await client.get("/households")).status_code == 200
        assert (await UserSession.get()).last_seen_at == first
        await UserSession.all().update(last_seen_at=utc_now() - timedelta(seconds=61))
        assert (await client.get("/households")).status_code == 200
        assert (await UserSession.get()).last_seen_at > first


async def test_the_database_holds_no_usable_session_key(app):
    await build_two_sides()
    async with _signed_in(app, "coordA") as client:
        key = _cookie_payload(client)["sid"]
    assert not await UserSession.filter(key_hash=key).exists()


async def _issue_link_as(app, issuer: str, user_id: int) -> str:
    async with _signed_in(app, issuer) as client:
        issued = await _post(client, f"/admin/accounts/{user_id}/reset-link")
        assert issued.status_code == 200, issued.text
        assert issued.headers["cache-control"] == "no-store"
        found = issued.text.split('id="reset-link" value="')[1].split('"')[0]
        return found.replace("http://testserver", "")


async def test_reset_link_sets_a_new_password_once_and_ends_every_session(app):
    left, _right, _admin = await build_two_sides()
    worker = left.users["community_worker"]
    link = await _issue_link_as(app, "coordA", worker.id)
    assert link.startswith("/reset-password/")
    async with _signed_in(app, "workerA") as old_session, _client(app) as anyone:
        page = await anyone.get(link)
        assert page.status_code == 200 and "workerA" in page.text
        short = await anyone.post(
            link,
            data={"new_password": "short", "repeat_password": "short", "csrf_token": csrf_from(page.text)},
        )
        assert short.status_code == 422 and "at least 8" in short.text
        done = await anyone.post(
            link,
            data={
                "new_password": NEW_PASSWORD,
                "repeat_password": NEW_PASSWORD,
                "csrf_token": csrf_from(page.text),
            },
        )
        assert done.status_code == 303 and done.headers["location"] == "/login"
        assert "new password is set" in (await anyone.get("/login")).text
        assert (await old_session.get("/households")).status_code == 303
        again = await anyone.get(link)
        assert again.status_code == 410 and "used already" in again.text
        reused = await anyone.post(
            link,
            data={
                "new_password": "third-password-1",
                "repeat_password": "third-password-1",
                "csrf_token": csrf_from(page.text),
            },
        )
        assert reused.status_code == 410
        assert (await login(anyone, "workerA", NEW_PASSWORD)).status_code == 303
    assert verify_password((await User.get(id=worker.id)).password_hash, NEW_PASSWORD)
    assert await AuditEntry.filter(action="user.password_reset_issued", object_id=str(worker.id)).exists()
    assert await AuditEntry.filter(action="user.password_reset_used", object_id=str(worker.id)).exists()


async def test_reset_link_expires_and_a_newer_link_replaces_it(app):
    left, _right, _admin = await build_two_sides()
    worker = left.users["community_worker"]
    async with _client(app) as anyone:
        expiring = await _issue_link_as(app, "admin", worker.id)
        await PasswordReset.all().update(expires_at=utc_now() - timedelta(seconds=1))
        response = await anyone.get(expiring)
        assert response.status_code == 410 and "expired" in response.text
        older = await _issue_link_as(app, "admin", worker.id)
        newer = await _issue_link_as(app, "admin", worker.id)
        assert (await anyone.get(older)).status_code == 410
        assert (await anyone.get(newer)).status_code == 200
        forged = newer[:-3] + ("abc" if not newer.endswith("abc") else "xyz")
        assert (await anyone.get(forged)).status_code == 404


async def test_coordinators_reset_only_users_below_them(app):
    left, right, admin = await build_two_sides()
    await add_region("330302001002", "鹿城区二社区", RegionLevel.COMMUNITY, "330302001")
    peer = await create_user("coordA2", PASSWORD, Role.COORDINATOR, region_code="330302")
    below = await create_user("coordTown", PASSWORD, Role.COORDINATOR, region_code="330302001")
    coordinator = await principal_for(left.users["coordinator"])
    lifetime = timedelta(hours=1)
    for role in ("community_worker", "partner_admin", "dispatcher", "volunteer", "household"):
        await issue_reset_link(coordinator, left.users[role].id, "k", lifetime)
    await issue_reset_link(coordinator, below.id, "k", lifetime)
    for refused in (
        admin,
        peer,
        left.users["coordinator"],
        right.users["community_worker"],
        right.users["coordinator"],
    ):
        with pytest.raises(NotFound):
            await issue_reset_link(coordinator, refused.id, "k", lifetime)
    for role in ("community_worker", "partner_admin", "volunteer"):
        with pytest.raises(PermissionDenied):
            await issue_reset_link(
                await principal_for(left.users[role]), left.users["household"].id, "k", lifetime
            )


async def test_user_command_deactivates_activates_and_sets_a_password_from_stdin(servers, tmp_path, app):
    left, _right, _admin = await build_two_sides()
    worker = left.users["community_worker"]
    environment = dict(
        os.environ,
        DATABASE_URL=servers.database_url,
        ALLIANCE_DATA_DIR=str(tmp_path),
        SECRET_KEY="x",
        LOG_LEVEL="warning",
    )
    environment.pop("REDIS_URL", None)

    def alliance(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "web.cli", "user", *args],
            input=stdin,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    async with _signed_in(app, "workerA") as session:
        done = alliance("set-password", "workerA", stdin=NEW_PASSWORD + "\n")
        assert done.returncode == 0, done.stderr
        assert (await session.get("/households")).status_code == 303
    assert verify_password((await User.get(id=worker.id)).password_hash, NEW_PASSWORD)
    assert alliance("set-password", "workerA", stdin="short\n").returncode == 2
    assert alliance("set-password", "nobody", stdin=NEW_PASSWORD + "\n").returncode == 2
    assert alliance("deactivate", "workerA").returncode == 0
    assert not (await User.get(id=worker.id)).is_active
    assert alliance("activate", "workerA").returncode == 0
    assert (await User.get(id=worker.id)).is_active
