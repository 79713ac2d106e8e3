"""The web app is stateless: two server processes on one database serve one user's session."""

from __future__ import annotations

import httpx

from tests.conftest import start_live_server, stop_live_server
from tests.factories import build_two_sides, csrf_from


async def test_a_session_started_on_one_process_works_on_another(servers, tmp_path):
    await build_two_sides()
    first = start_live_server(servers, tmp_path / "one")
    second = start_live_server(servers, tmp_path / "two")
    try:
        async with httpx.AsyncClient(timeout=10) as browser:
            page = await browser.get(first.url + "/login")
            signed_in = await browser.post(
                first.url + "/login",
                data={
                    "username": "coordA",
                    "password": "correct-horse-1",
                    "csrf_token": csrf_from(page.text),
                },
            )
            assert signed_in.status_code == 303
            # Same cookie, the other process: the session and the region scope hold.
            households = await browser.get(second.url + "/households")
            assert households.status_code == 200
            assert "张A" in households.text and "张B" not in households.text
            # A form from process one posts to process two: the CSRF token travels in the session.
            signed_out = await browser.post(
                second.url + "/logout", data={"csrf_token": csrf_from(households.text)}
            )
            assert signed_out.status_code == 303
            after = await browser.get(first.url + "/households", follow_redirects=False)
            assert after.status_code == 303 and after.headers["location"].startswith("/login")
    finally:
        stop_live_server(first)
        stop_live_server(second)
