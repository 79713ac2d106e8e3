"""Login limits that hold under parallel attempts and cannot be turned against the account's owner,
and argon2 off the event loop."""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import timedelta

import httpx
import pytest
from argon2 import PasswordHasher

from alliance.core import login_limits
from alliance.core.accounts import authenticate
from alliance.core.errors import LoginThrottled
from alliance.core.login_limits import FREE_FAILURES, MAX_FAILURES_PER_ADDRESS, delay_after
from alliance.core.models import LoginAttempt, LoginThrottle, User
from alliance.core.timeutil import utc_now
from tests.factories import PASSWORD, build_two_sides, csrf_from


def _client(app, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url="http://testserver"
    )


async def _login_form(client: httpx.AsyncClient) -> str:
    return csrf_from((await client.get("/login")).text)


async def _post_login(client: httpx.AsyncClient, token: str, username: str, password: str) -> httpx.Response:
    return await client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token, "next": "/"}
    )


def test_delays_grow_from_one_second_to_the_cap():
    assert [delay_after(n).total_seconds() for n in range(FREE_FAILURES)] == [0] * FREE_FAILURES
    grown = [delay_after(FREE_FAILURES + n).total_seconds() for n in range(5)]
    assert grown == [1, 2, 4, 8, 16]
    assert delay_after(1000) == timedelta(seconds=login_limits.MAX_DELAY_SECONDS)


async def test_forty_parallel_wrong_logins_are_all_counted(app):
    await build_two_sides()
    clients = [_client(app, "203.0.113.9") for _ in range(40)]
    try:
        tokens = [await _login_form(client) for client in clients]
        responses = await asyncio.gather(
            *(
                _post_login(client, token, "admin", f"guess-{number}")
                for number, (client, token) in enumerate(zip(clients, tokens, strict=True))
            )
        )
    finally:
        for client in clients:
            await client.aclose()
    statuses = sorted(response.status_code for response in responses)
    # Only the free attempts reached the password check; every other one was refused and counted.
    assert statuses.count(401) == FREE_FAILURES
    assert statuses.count(429) == 40 - FREE_FAILURES
    assert await LoginAttempt.filter(username="admin").count() == 40
    assert await LoginAttempt.filter(username="admin", throttled=True).count() == 40 - FREE_FAILURES
    pair = await LoginThrottle.get(key="pair:203.0.113.9|admin")
    assert pair.failures == FREE_FAILURES


async def test_a_strangers_failures_do_not_stop_the_owner_logging_in(app):
    await build_two_sides()
    async with _client(app, "198.51.100.66") as stranger:
        token = await _login_form(stranger)
        answers = [(await _post_login(stranger, token, "admin", f"guess-{n}")).status_code for n in range(20)]
        assert answers.count(401) == FREE_FAILURES and answers.count(429) == 20 - FREE_FAILURES
        refused = await _post_login(stranger, token, "admin", "guess-again")
        assert refused.status_code == 429 and "Try again in" in refused.text
    async with _client(app, "192.0.2.10") as owner:
        token = await _login_form(owner)
        assert (await _post_login(owner, token, "admin", PASSWORD)).status_code == 303
        assert (await owner.get("/")).headers["location"] == "/admin/partners"


async def test_the_delay_grows_with_each_failure_and_a_success_clears_it():
    await build_two_sides()
    address = "192.0.2.20"
    for _ in range(FREE_FAILURES):
        assert await authenticate("coordA", "wrong-password", address) is None
    for expected in (1, 2, 4):
        with pytest.raises(LoginThrottled) as throttled:
            await authenticate("coordA", PASSWORD, address)
        assert throttled.value.retry_after_seconds == expected
        # The wait is over: the next attempt is admitted, and fails.
        await LoginThrottle.filter(key=f"pair:{address}|coordA").update(next_allowed_at=utc_now())
        assert await authenticate("coordA", "wrong-password", address) is None
    await LoginThrottle.filter(key=f"pair:{address}|coordA").update(next_allowed_at=utc_now())
    assert await authenticate("coordA", PASSWORD, address) is not None
    # A success starts the count afresh.
    for _ in range(FREE_FAILURES):
        assert await authenticate("coordA", "wrong-password", address) is None


async def test_spraying_many_accounts_from_one_address_is_stopped():
    await build_two_sides()
    for number in range(MAX_FAILURES_PER_ADDRESS):
        assert await authenticate(f"someone{number}", "password-1", "198.51.100.7") is None
    with pytest.raises(LoginThrottled) as throttled:
        await authenticate("coordA", PASSWORD, "198.51.100.7")
    assert 60 < throttled.value.retry_after_seconds <= login_limits.ADDRESS_WINDOW.total_seconds()
    # Other addresses are not affected.
    assert await authenticate("coordA", PASSWORD, "198.51.100.8") is not None


async def test_a_deactivated_user_cannot_log_in():
    left, _right, _admin = await build_two_sides()
    await User.filter(id=left.users["coordinator"].id).update(is_active=False)
    assert await authenticate("coordA", PASSWORD, "192.0.2.30") is None


async def test_the_event_loop_stays_responsive_while_passwords_are_checked(app):
    left, _right, _admin = await build_two_sides()
    # The production cost, not the test suite's low cost: a good fraction of a second a hash here.
    costly = PasswordHasher().hash(PASSWORD)
    await User.filter(id__in=[user.id for user in left.users.values()]).update(password_hash=costly)
    started = time.perf_counter()
    PasswordHasher().verify(costly, PASSWORD)
    one_hash = time.perf_counter() - started

    clients = [_client(app, f"192.0.2.{100 + number}") for number in range(16)]
    tokens = [await _login_form(client) for client in clients]
    names = [user.username for user in left.users.values()]
    lags: list[float] = []
    static_times: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - before - 0.005)

    async def static_file() -> None:
        async with _client(app, "192.0.2.250") as reader:
            await asyncio.sleep(one_hash / 2)
            while not done.is_set():
                before = time.perf_counter()
                assert (await reader.get("/static/css/app.css")).status_code == 200
                static_times.append(time.perf_counter() - before)
                await asyncio.sleep(0.02)

    async def logins() -> list[httpx.Response]:
        try:
            return await asyncio.gather(
                *(
                    _post_login(client, token, names[number % len(names)], PASSWORD)
                    for number, (client, token) in enumerate(zip(clients, tokens, strict=True))
                )
            )
        finally:
            done.set()

    started = time.perf_counter()
    responses, _tick, _static = await asyncio.gather(logins(), ticker(), static_file())
    all_logins = time.perf_counter() - started
    for client in clients:
        await client.aclose()
    assert [response.status_code for response in responses] == [303] * 16
    # On the loop, each hash stalls everything else for a whole hash, and hashes that become due
    # together run back to back (measured: a static file took ten hashes' time, 8 s). In worker
    # threads the loop only waits for its own short steps. Loose bounds: the machine is shared, and
    # the hashing threads compete with the loop for its cores.
    assert all_logins > 2 * one_hash
    assert static_times and statistics.median(static_times) < one_hash / 2, (static_times, one_hash)
    assert max(static_times) < 2.5 * one_hash, (static_times, one_hash)
    assert max(lags) < 2.5 * one_hash, (max(lags), one_hash)


async def test_old_counters_and_sessions_are_forgotten_by_the_daily_job(app):
    from alliance.core.models import UserSession
    from workers.jobs import forget_old_login_records

    await build_two_sides()
    assert await authenticate("coordA", "wrong-password", "192.0.2.40") is None
    async with _client(app, "192.0.2.41") as client:
        assert (await _post_login(client, await _login_form(client), "coordA", PASSWORD)).status_code == 303
    assert await forget_old_login_records({}) == {"counters": 0, "sessions": 0}
    await LoginThrottle.filter(key__contains="192.0.2.40").update(touched_at=utc_now() - timedelta(days=2))
    await UserSession.all().update(ended_at=utc_now() - timedelta(days=91))
    assert await forget_old_login_records({}) == {"counters": 2, "sessions": 1}
    assert await LoginThrottle.filter(key__contains="192.0.2.41").count() == 2
