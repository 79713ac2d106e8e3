"""Numbers from the address are range-checked before any query: an id past the database's integer
range is a 404, never a 500 from the driver; a page or year past its range falls back to the default
(web/params.py)."""

from __future__ import annotations

import httpx
import pytest
from starlette.routing import Route

from alliance.partners.tokens import create_token_for
from tests.factories import build_two_sides, login, session_csrf
from web.params import MAX_ID, bounded_int, int_param

HUGE_IDS = ("150420096519209952", "13778610191", str(MAX_ID + 1), "0", "00012")


def _int_routes(app) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if isinstance(route, Route) and ":int}" in route.path:
            found += [(method, route.path) for method in sorted(route.methods or ()) if method != "HEAD"]
    return found


def _with(path: str, value: str) -> str:
    import re

    return re.sub(r"\{[a-z_]+:int\}", value, path)


def test_the_bounded_numbers():
    assert bounded_int("2147483647") == MAX_ID and bounded_int("2147483648") is None
    assert bounded_int("0") is None and bounded_int("-3") is None and bounded_int("²") is None
    assert bounded_int(" 12 ") == 12 and bounded_int("") is None and bounded_int("1" * 40) is None
    assert int_param({"page": "99999999999999999999"}, "page", 1) == 1
    assert int_param({"year": "1999"}, "year", 2026, minimum=2000, maximum=2100) == 2026


@pytest.mark.parametrize("who", ["anonymous", "admin", "partner_admin"])
async def test_every_route_with_an_id_answers_404_for_an_id_out_of_range(app, who):
    left, _right, _admin = await build_two_sides()
    token = (await create_token_for(left.partner.name)).secret
    routes = _int_routes(app)
    assert len(routes) > 40, "the walk sees the app's routes"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        if who == "admin":
            await login(client, "admin")
        elif who != "anonymous":
            await login(client, left.users[who].username)
        else:
            await client.get("/login")
        headers = {"X-CSRF-Token": session_csrf(client), "Authorization": f"Bearer {token}"}
        for method, path in routes:
            for value in HUGE_IDS:
                response = await client.request(method, _with(path, value), headers=headers)
                assert response.status_code == 404, (method, path, value, response.status_code)
            # The largest id there is reaches the handler and is simply not found (or refused).
            response = await client.request(method, _with(path, str(MAX_ID)), headers=headers)
            assert response.status_code < 500, (method, path, response.status_code)
            assert response.status_code in (303, 403, 404, 409, 422), (method, path, response.status_code)


async def test_pages_and_years_out_of_range_fall_back_to_the_first_page(app):
    await build_two_sides()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        await login(client, "admin")
        for path in (
            "/households?page=99999999999999999999",
            "/requests?page=99999999999999999999",
            "/intake?page=99999999999999999999",
            "/intake/duplicates?page=-1",
            "/outbox?page=1e99",
            "/audit?page=99999999999999999999&household=99999999999999999999",
            "/cockpit?year=99999999999999999999&days=99999999999999999999",
            "/cockpit/report?month=99999999999999999999",
        ):
            response = await client.get(path)
            assert response.status_code in (200, 422), (path, response.status_code)


async def test_a_nul_character_in_a_page_address_is_refused_before_any_query(app):
    await build_two_sides()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        await login(client, "admin")
        for path in ("/households?q=%00", "/audit?actor=a%00b", "/intake/conflicts%00"):
            response = await client.get(path)
            assert response.status_code == 400 and "NUL" in response.text, path
        assert (await client.get("/households?q=%E7%8E%8B")).status_code == 200


QUERY_NAMES = (
    "page", "year", "month", "days", "day", "date", "start", "end", "duration", "region", "need", "flag",
    "status", "channel", "kind", "priority", "distance", "offering", "offering_id", "household", "actor",
    "action", "since", "until", "q", "role", "active", "past", "propose", "view", "next", "limit", "cursor",
)  # fmt: skip
HOSTILE_VALUES = ("99999999999999999999", "-1", "nan", "２'\"<x>" + "1" * 300)
PROBES = {"/healthz", "/readyz", "/metrics"}  # no query parameters; /readyz is 503 without a worker


@pytest.mark.parametrize("who", ["admin", "partner_admin"])
async def test_every_page_survives_hostile_query_values(app, who):
    left, _right, _admin = await build_two_sides()
    pages = sorted(
        route.path
        for route in app.routes
        if isinstance(route, Route)
        and "GET" in (route.methods or ())
        and "{" not in route.path
        and route.path not in PROBES
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        await login(client, "admin" if who == "admin" else left.users[who].username)
        for path in pages:
            for value in HOSTILE_VALUES:
                response = await client.get(path, params={name: value for name in QUERY_NAMES})
                assert response.status_code < 500, (path, value, response.status_code)
