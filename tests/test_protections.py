"""The smaller protections: revocable calendar links, owner-only files, no-store and HSTS headers,
no redirect to another site, intake signatures bound to method and path, and intake sources that
may change only the households they sent."""

from __future__ import annotations

import os
import re
import stat
import time
from dataclasses import replace

import httpx
import pytest

from alliance.core.codes import ConflictStatus
from alliance.core.config import load_settings
from alliance.core.db import tortoise_config
from alliance.core.models import AuditEntry
from alliance.households.intake_conflicts import accept_conflict, reject_conflict
from alliance.households.models import Household, IntakeConflict, IntakeRecord
from alliance.households.sources import add_source, sign
from alliance.partners.models import Volunteer
from tests.factories import PASSWORD, build_two_sides, login, session_csrf
from tests.intake_support import build_city, import_json, person

BAD_TARGETS = [
    "https://evil.example/",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    " //evil.example",
    "http:evil.example",
    "javascript:alert(1)",
    "evil.example",
    "/%09/evil.example\\",
]


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


# --- calendar links --------------------------------------------------------------------------------


async def test_a_new_calendar_link_makes_the_old_one_404(app):
    left, _right, _admin = await build_two_sides()
    async with _client(app) as client:
        await login(client, left.users["volunteer"].username)
        page = await client.get("/volunteer")
        old = re.search(r'/calendar/([^"]+)\.ics', page.text).group(1)
        assert (await client.get(f"/calendar/{old}.ics")).status_code == 200
        answer = await client.post("/volunteer/calendar-link", headers={"X-CSRF-Token": session_csrf(client)})
        assert answer.status_code == 303 and answer.headers["location"] == "/volunteer#calendar"
        page = await client.get("/volunteer")
        assert "The old one no longer works" in page.text
        new = re.search(r'/calendar/([^"]+)\.ics', page.text).group(1)
    assert new != old
    async with _client(app) as anonymous:
        assert (await anonymous.get(f"/calendar/{old}.ics")).status_code == 404
        assert (await anonymous.get(f"/calendar/{new}.ics")).status_code == 200
    assert (await Volunteer.get(id=left.volunteer.id)).calendar_generation == 1
    entry = await AuditEntry.get(action="calendar_link.rotate")
    assert entry.object_id == str(left.volunteer.id)


async def test_only_a_volunteer_makes_a_new_calendar_link(app):
    left, _right, _admin = await build_two_sides()
    async with _client(app) as client:
        await login(client, left.users["coordinator"].username)
        answer = await client.post("/volunteer/calendar-link", headers={"X-CSRF-Token": session_csrf(client)})
        assert answer.status_code == 403
    assert (await Volunteer.get(id=left.volunteer.id)).calendar_generation == 0


# --- files -----------------------------------------------------------------------------------------


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_secret_key_file_is_created_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("ALLIANCE_DATA_DIR", str(tmp_path / "data"))
    old_umask = os.umask(0o022)
    try:
        settings = load_settings()
    finally:
        os.umask(old_umask)
    key_file = tmp_path / "data" / "secret.key"
    assert _mode(key_file) == 0o600 and settings.secret_key == key_file.read_text().strip()
    # A key file left readable by an older release is tightened on the next start.
    key_file.chmod(0o644)
    assert load_settings().secret_key == settings.secret_key
    assert _mode(key_file) == 0o600


def test_the_sqlite_file_is_created_owner_only(tmp_path):
    old_umask = os.umask(0o022)
    try:
        tortoise_config(f"sqlite://{tmp_path / 'data' / 'alliance.sqlite3'}")
    finally:
        os.umask(old_umask)
    assert _mode(tmp_path / "data" / "alliance.sqlite3") == 0o600
    older = tmp_path / "older.sqlite3"
    older.write_bytes(b"")
    older.chmod(0o644)
    tortoise_config(f"sqlite://{older}")
    assert _mode(older) == 0o600


# --- headers ---------------------------------------------------------------------------------------


async def test_pages_with_personal_data_are_not_stored_but_static_files_may_be(app):
    left, _right, _admin = await build_two_sides()
    async with _client(app) as client:
        await login(client, left.users["coordinator"].username)
        page = await client.get(f"/households/{left.household.id}")
        assert page.status_code == 200 and left.household.head_name in page.text
        assert page.headers["cache-control"] == "no-store"
        assert (await client.get("/households")).headers["cache-control"] == "no-store"
        static = await client.get("/static/favicon.svg")
        assert static.status_code == 200 and "no-store" not in static.headers.get("cache-control", "")
        assert "strict-transport-security" not in page.headers


async def test_hsts_whenever_https_is_on(settings, redis):
    from web.app import create_app

    application = create_app(replace(settings, https_only=True))
    # TLS ends at the proxy: the app itself sees plain HTTP.
    async with application.router.lifespan_context(application), _client(application) as client:
        answer = await client.get("/login")
    assert answer.headers["strict-transport-security"].startswith("max-age=31536000")


# --- redirects -------------------------------------------------------------------------------------


def test_the_redirect_helper_keeps_local_paths_only():
    from web.redirects import safe_local_path

    for target in BAD_TARGETS:
        assert safe_local_path(target, "/home") == "/home", target
    for target in ("/", "/requests/12?tab=history", "/intake/conflicts#conflict-3", "/a/b%2F%2Fc"):
        assert safe_local_path(target) == target


async def test_login_never_sends_the_browser_to_another_site(app):
    left, _right, _admin = await build_two_sides()
    for target in BAD_TARGETS:
        async with _client(app) as client:
            await client.get("/login")
            answer = await client.post(
                "/login",
                data={
                    "username": left.users["coordinator"].username,
                    "password": PASSWORD,
                    "next": target,
                    "csrf_token": session_csrf(client),
                },
            )
            assert answer.status_code == 303 and answer.headers["location"] == "/", target
            htmx = await client.post(
                "/language",
                data={"language": "en", "next": target, "csrf_token": session_csrf(client)},
                headers={"HX-Request": "true"},
            )
            assert htmx.headers["location"] == "/", target


async def test_a_foreign_referer_or_back_field_falls_back_to_a_local_page(app):
    left, _right, _admin = await build_two_sides()
    async with _client(app) as client:
        await login(client, left.users["coordinator"].username)
        for target in BAD_TARGETS:
            answer = await client.post(
                f"/cockpit/households/{left.household.id}/escalate",
                headers={"X-CSRF-Token": session_csrf(client), "Referer": target},
            )
            assert answer.status_code == 303 and answer.headers["location"] == "/cockpit", target
        same_site = await client.post(
            f"/cockpit/households/{left.household.id}/escalate",
            headers={
                "X-CSRF-Token": session_csrf(client),
                "Referer": "http://testserver/cockpit/unserved?page=2",
            },
        )
        assert same_site.headers["location"] == "/cockpit/unserved?page=2"
    # Every HX-Redirect and 303 the pages send goes through the same guard.
    from starlette.requests import Request

    from web.htmx_hooks import hx_redirect

    htmx = Request({"type": "http", "headers": [(b"hx-request", b"true")], "method": "POST"})
    plain = Request({"type": "http", "headers": [], "method": "POST"})
    for target in BAD_TARGETS:
        assert hx_redirect(target, htmx).headers["hx-redirect"] == "/", target
        assert hx_redirect(target, plain).headers["location"] == "/", target


# --- intake signatures -----------------------------------------------------------------------------

INTAKE = "/api/v1/intake/households"


def _signed(secret: str, body: bytes, method: str, path: str) -> dict[str, str]:
    timestamp = f"{time.time():.3f}"
    return {
        "X-Alliance-Timestamp": timestamp,
        "X-Alliance-Signature": sign(secret, timestamp, body, method=method, path=path),
        "Content-Type": "application/json",
        "Accept-Language": "en",
    }


async def test_an_intake_signature_replayed_on_another_path_or_method_is_refused(client):
    await build_city()
    _source, secret = await add_source("wenzhou-sais")
    await import_json([person(1), person(2)])
    headers = _signed(secret, b"", "GET", f"{INTAKE}/WZ-000001")
    moved = await client.get(f"{INTAKE}/WZ-000002", headers=headers)
    assert moved.status_code == 401 and "method, path" in moved.json()["detail"]
    as_post = await client.post(INTAKE, content=b"", headers=headers)
    assert as_post.status_code == 401
    # The same headers on the path they were made for still work (the refusals recorded nothing).
    assert (await client.get(f"{INTAKE}/WZ-000001", headers=headers)).status_code == 200


# --- intake sources own their households ------------------------------------------------------------


@pytest.fixture
async def two_sources():
    from alliance.core.accounts import create_user
    from alliance.core.codes import Role

    await build_city()
    first, _secret = await add_source("wenzhou-sais")
    second, _secret = await add_source("lucheng-sais")
    await import_json([person(1), person(2)], source=first)
    coordinator = await create_user(
        "coord.lucheng", "pw-long-enough-1", Role.COORDINATOR, region_code="330302"
    )
    return first, second, coordinator


async def test_another_sources_household_goes_to_the_conflict_list_unchanged(two_sources):
    first, second, _coordinator = two_sources
    result = await import_json([person(1, head_name="冒名", phone="13900000000"), person(3)], source=second)
    assert (result.created, result.updated) == (1, 0)
    assert result.as_json()["conflicts"] == [{"row": 1, "external_id": "WZ-000001"}]
    household = await Household.get(external_id="WZ-000001")
    assert (household.head_name, household.phone) == ("王1", person(1)["phone"])
    conflict = await IntakeConflict.get(household_id=household.id)
    assert conflict.status == ConflictStatus.PENDING and conflict.source_id == second.id
    # The owner still updates its own household directly.
    owner = await import_json([person(2, member_count=4)], source=first)
    assert owner.updated == 1 and owner.conflicts == []
    # The same row again from the intruder is "unchanged" only when it changes nothing.
    assert (await import_json([person(2, member_count=4)], source=second)).unchanged == 1


async def test_a_coordinator_sees_and_accepts_a_conflict_which_then_applies(app, two_sources):
    _first, second, coordinator = two_sources
    await import_json([person(1, head_name="新户主", address="五马街新1号")], source=second)
    conflict = await IntakeConflict.get(external_id="WZ-000001")
    async with _client(app) as client:
        await login(client, coordinator.username, "pw-long-enough-1")
        page = await client.get("/intake/conflicts")
        assert page.status_code == 200 and "新户主" in page.text and "lucheng-sais" in page.text
        assert "五马街新1号" in page.text and person(1)["phone"] not in page.text  # phones masked
        answer = await client.post(
            f"/intake/conflicts/{conflict.id}/accept", headers={"X-CSRF-Token": session_csrf(client)}
        )
        assert answer.status_code == 303
    household = await Household.get(external_id="WZ-000001")
    assert (household.head_name, household.address) == ("新户主", "五马街新1号")
    assert (await IntakeConflict.get(id=conflict.id)).status == ConflictStatus.ACCEPTED
    # The first source stays the owner.
    assert (await IntakeRecord.get(household_id=household.id).prefetch_related("source")).source.name == (
        "wenzhou-sais"
    )
    assert await AuditEntry.filter(action="intake_conflict.accept", object_id=str(household.id)).exists()
    assert await AuditEntry.filter(action="intake_conflict.view").exists()


async def test_a_rejected_conflict_is_discarded_and_decided_once(two_sources):
    from alliance.core.access import principal_for
    from alliance.core.errors import InvalidInput

    _first, second, coordinator = two_sources
    await import_json([person(1, head_name="新户主")], source=second)
    conflict = await IntakeConflict.get(external_id="WZ-000001")
    principal = await principal_for(coordinator)
    await reject_conflict(principal, conflict.id)
    assert (await Household.get(external_id="WZ-000001")).head_name == "王1"
    assert (await IntakeConflict.get(id=conflict.id)).status == ConflictStatus.REJECTED
    with pytest.raises(InvalidInput):
        await accept_conflict(principal, conflict.id)
    assert (await Household.get(external_id="WZ-000001")).head_name == "王1"
    assert await AuditEntry.filter(action="intake_conflict.reject").exists()


async def test_a_coordinator_of_another_area_does_not_see_the_conflict(app, two_sources):
    from alliance.core.accounts import create_user
    from alliance.core.codes import Role

    _first, second, _coordinator = two_sources
    await import_json([person(1, head_name="新户主")], source=second)
    conflict = await IntakeConflict.get(external_id="WZ-000001")
    other = await create_user("coord.wencheng", "pw-long-enough-1", Role.COORDINATOR, region_code="330328")
    async with _client(app) as client:
        await login(client, other.username, "pw-long-enough-1")
        assert "新户主" not in (await client.get("/intake/conflicts")).text
        answer = await client.post(
            f"/intake/conflicts/{conflict.id}/accept", headers={"X-CSRF-Token": session_csrf(client)}
        )
        assert answer.status_code == 404
    assert (await IntakeConflict.get(id=conflict.id)).status == ConflictStatus.PENDING
