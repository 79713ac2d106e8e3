"""/healthz tells a load balancer whether this process can serve (its database answers); /readyz
tells the operator whether the service works as a whole: database, Redis, the outbox's backlog and
a worker beating. Details only for local callers, the metrics token or an administrator; a worker
that stopped beating shows on the admin page."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import timedelta

import httpx
import pytest

from alliance.core import heartbeats
from alliance.core.timeutil import utc_now
from alliance.notifications.models import OutboxJob
from alliance.notifications.outbox import add_job
from tests.conftest import _free_port
from tests.factories import build_two_sides, login
from tests.reminders_support import start_worker

OUTSIDE = ("203.0.113.7", 40000)  # a caller from the internet, as the proxy forwarded it


def _client(app, client=("127.0.0.1", 123), **headers) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=client)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


async def test_health_is_ok_when_the_database_answers_and_shows_details_to_a_local_caller(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["database"]["ok"] is True and body["redis"]["ok"] is True
    assert response.headers["cache-control"] == "no-store"


async def test_health_and_readiness_show_only_the_verdict_to_an_outside_caller(app):
    async with _client(app, OUTSIDE) as outside:
        health = await outside.get("/healthz")
        ready = await outside.get("/readyz")
    assert health.status_code == 200 and health.json() == {"ok": True, "failing": []}
    assert ready.status_code == 503 and ready.json() == {"ok": False, "failing": ["workers"]}


async def test_an_outside_caller_with_the_token_or_an_administrator_sees_the_details(app, monkeypatch):
    import dataclasses

    app.state.settings = dataclasses.replace(app.state.settings, metrics_token="s3cret-token")
    async with _client(app, OUTSIDE, authorization="Bearer s3cret-token") as with_token:
        assert "database" in (await with_token.get("/readyz")).json()
    async with _client(app, OUTSIDE, authorization="Bearer wrong") as wrong_token:
        assert "database" not in (await wrong_token.get("/readyz")).json()
    await build_two_sides()
    async with _client(app, OUTSIDE) as admin, _client(app, OUTSIDE) as coordinator:
        await login(admin, "admin")
        assert "database" in (await admin.get("/readyz")).json()
        await login(coordinator, "coordA")
        assert "database" not in (await coordinator.get("/readyz")).json()


async def test_readiness_needs_a_worker_beating(client, redis):
    ready = await client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["failing"] == ["workers"]
    await heartbeats.beat(redis, "host-a:101")
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["workers"]["beating"] == 1
    await heartbeats.beat(redis, "host-a:101", utc_now() - timedelta(minutes=5))  # it went silent
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["workers"] == {
        "ok": False,
        "beating": 0,
        "silent": ["host-a:101"],
        "silent_after_seconds": 30.0,
    }


async def test_readiness_fails_when_the_outbox_backlog_grows_old(client, redis):
    await heartbeats.beat(redis, "host-a:101")
    await add_job("send_visit_reminder", 7, 1, "2h", job_id="reminder:7:v1:2h")
    assert (await client.get("/readyz")).status_code == 200  # just written: the relay has time
    await OutboxJob.filter(job_id="reminder:7:v1:2h").update(created_at=utc_now() - timedelta(minutes=10))
    ready = await client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["failing"] == ["outbox"]
    assert ready.json()["outbox"]["pending_jobs"] == 1


async def test_a_worker_that_stops_beating_shows_on_the_admin_page_and_fails_readiness(
    app, servers, redis, tmp_path, monkeypatch
):
    """A real worker process beats; killed (SIGKILL, so it cannot say goodbye), it goes silent
    after three intervals: /readyz says so and the administrators' workers page names it."""
    monkeypatch.setenv("ALLIANCE_WORKER_HEARTBEAT_SECONDS", "1")
    await build_two_sides()
    log = tmp_path / "worker.log"
    worker = start_worker(servers.database_url, servers.redis_url, log, ALLIANCE_WORKER_HEARTBEAT_SECONDS="1")
    try:
        async with _client(app) as local:
            deadline = time.monotonic() + 60
            while (await local.get("/readyz")).json()["workers"]["beating"] != 1:
                assert time.monotonic() < deadline and worker.poll() is None, log.read_text()
                await asyncio.sleep(0.2)
            [beat] = await heartbeats.worker_beats(redis)
            assert beat.name.endswith(f":{worker.pid}")
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
            await asyncio.sleep(3.5)
            ready = await local.get("/readyz")
        assert ready.status_code == 503 and ready.json()["workers"]["silent"] == [beat.name]
        async with _client(app) as admin:
            await login(admin, "admin")
            page = await admin.get("/admin/workers")
        assert page.status_code == 200
        assert beat.name in page.text and "No heartbeat" in page.text
        assert "No worker is reporting" in page.text
    finally:
        if worker.poll() is None:
            worker.kill()


async def test_a_worker_stopping_cleanly_leaves_no_silent_entry_and_serves_its_own_metrics(
    servers, redis, tmp_path, monkeypatch
):
    monkeypatch.setenv("ALLIANCE_WORKER_HEARTBEAT_SECONDS", "1")
    log = tmp_path / "worker.log"
    port = _free_port()
    worker = start_worker(
        servers.database_url,
        servers.redis_url,
        log,
        ALLIANCE_WORKER_HEARTBEAT_SECONDS="1",
        ALLIANCE_WORKER_METRICS_PORT=str(port),
    )
    try:
        deadline = time.monotonic() + 60
        while not await heartbeats.worker_beats(redis):
            assert time.monotonic() < deadline and worker.poll() is None, log.read_text()
            await asyncio.sleep(0.2)
        # The relay cron runs at the worker's start: its run is counted on the worker's own port.
        while True:
            async with httpx.AsyncClient() as scraper:
                text = (await scraper.get(f"http://127.0.0.1:{port}/")).text
            if 'alliance_job_runs_total{function="relay_outbox",outcome="complete"}' in text:
                break
            assert time.monotonic() < deadline, text
            await asyncio.sleep(0.2)
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=20)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert await heartbeats.worker_beats(redis) == []


@pytest.mark.parametrize("username", ["coordA", "padminA", "volA"])
async def test_only_administrators_open_the_workers_page(app, username):
    await build_two_sides()
    async with _client(app) as browser:
        await login(browser, username)
        assert (await browser.get("/admin/workers")).status_code == 403
