"""/metrics (web/metrics.py, alliance/core/metrics.py): Prometheus text for local callers or the
token; request latency by route template (no ids in labels), job runs by function, the outbox and
notifications by state read at scrape time, claims, check-ins and intake rows counted where the
services complete; several web processes add up through PROMETHEUS_MULTIPROC_DIR."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import httpx
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from alliance.core.access import principal_for
from alliance.core.timeutil import utc_now
from alliance.matching.assignment import assign_request
from alliance.matching.claims import claim_request, release_claim
from alliance.notifications.models import Notification, OutboxJob
from alliance.notifications.outbox import add_job
from alliance.visits.cards import card_token
from alliance.visits.checkins import check_in_by_card
from tests.checkin_support import build_door_world
from tests.claims_support import build_claim_world
from tests.conftest import TEST_SECRET, _free_port
from tests.factories import build_two_sides, login
from tests.intake_support import build_city, import_json, person

OUTSIDE = ("203.0.113.7", 40000)


def _client(app, client=("127.0.0.1", 123), **headers) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=client)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_are_served_to_local_callers_and_with_the_token_only(app):
    app.state.settings = dataclasses.replace(app.state.settings, metrics_token="s3cret-token")
    async with _client(app) as local:
        answer = await local.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(
        "text/plain; version=0.0.4"
    )
    async with _client(app, OUTSIDE) as outside:
        assert (await outside.get("/metrics")).status_code == 403
    async with _client(app, OUTSIDE, authorization="Bearer wrong") as wrong:
        assert (await wrong.get("/metrics")).status_code == 403
    async with _client(app, OUTSIDE, authorization="Bearer s3cret-token") as with_token:
        assert (await with_token.get("/metrics")).status_code == 200
    await build_two_sides()
    async with _client(app, OUTSIDE) as admin:
        await login(admin, "admin")  # a session is not enough for /metrics
        assert (await admin.get("/metrics")).status_code == 403


async def test_request_latency_is_labelled_by_route_template_never_by_raw_path(app):
    await build_two_sides()
    async with _client(app) as browser:
        await login(browser, "admin")
        await browser.get("/households/987654")  # an id in the path
        await browser.get("/no/such/page/13812345678")
        text = (await browser.get("/metrics")).text
    samples = _samples(text)
    count = samples[
        (
            "alliance_http_request_duration_seconds_count",
            frozenset({"method": "GET", "route": "/households/{household_id:int}", "status": "404"}.items()),
        )
    ]
    assert count >= 1
    assert (
        "alliance_http_request_duration_seconds_count",
        frozenset({"method": "GET", "route": "<unmatched>", "status": "404"}.items()),
    ) in samples
    # In no label (a sample's value, a float of seconds, may hold any digits).
    labels = " ".join(re.findall(r"\{[^}]*\}", text))
    assert "987654" not in labels and "13812345678" not in labels


async def test_outbox_and_notifications_by_channel_and_state_are_read_at_scrape_time(app):
    left, _right, _admin = await build_two_sides()
    for channel in ("sms", "sms", "voice"):
        await Notification.create(household_id=left.household.id, channel=channel, body="明天上门")
    await Notification.create(household_id=left.household.id, channel="sms", body="已发", status="sent")
    await add_job("send_visit_reminder", 7, 1, "2h", job_id="reminder:7:v1:2h")
    await OutboxJob.filter(job_id="reminder:7:v1:2h").update(created_at=utc_now() - timedelta(minutes=3))
    async with _client(app) as local:
        samples = _samples((await local.get("/metrics")).text)
    assert samples[("alliance_notifications", frozenset({"channel": "sms", "state": "pending"}.items()))] == 2
    assert (
        samples[("alliance_notifications", frozenset({"channel": "voice", "state": "pending"}.items()))] == 1
    )
    assert samples[("alliance_notifications", frozenset({"channel": "sms", "state": "sent"}.items()))] == 1
    assert samples[("alliance_outbox_pending_jobs", frozenset())] == 1
    assert 170 < samples[("alliance_outbox_oldest_pending_job_seconds", frozenset())] < 600
    assert samples[("alliance_outbox_pending_notifications", frozenset())] == 3


async def test_job_runs_are_counted_and_timed_by_function(arq_worker, servers):
    from arq import create_pool
    from arq.connections import RedisSettings

    left, _right, _admin = await build_two_sides()
    notice = await Notification.create(user_id=left.users["dispatcher"].id, channel="in_app", body="审核通过")
    before = _value("alliance_job_runs_total", function="deliver_notification", outcome="complete")
    timed_before = _value("alliance_job_duration_seconds_count", function="deliver_notification")
    pool = await create_pool(RedisSettings.from_dsn(servers.redis_url))
    try:
        await pool.enqueue_job("deliver_notification", notice.id)
    finally:
        await pool.aclose()
    await arq_worker.main()
    assert (
        _value("alliance_job_runs_total", function="deliver_notification", outcome="complete") == before + 1
    )
    assert _value("alliance_job_duration_seconds_count", function="deliver_notification") == timed_before + 1
    sent = _value("alliance_notification_deliveries_total", channel="in_app", outcome="sent")
    assert sent >= 1


async def test_claims_and_releases_are_counted_where_the_services_complete():
    claimed, released = (
        _value("alliance_claims_total", outcome="claimed"),
        _value("alliance_claims_total", outcome="released"),
    )
    world = await build_claim_world()
    dispatcher = await world.home.principal()
    await claim_request(dispatcher, world.request.id)
    await release_claim(dispatcher, world.request.id, "家属已安排")
    assert _value("alliance_claims_total", outcome="claimed") == claimed + 1
    assert _value("alliance_claims_total", outcome="released") == released + 1
    assigned = _value("alliance_claims_total", outcome="assign")
    coordinator = await principal_for(world.left.users["coordinator"])
    await assign_request(coordinator, world.request.id, world.rival.offering.id, "离得最近")
    assert _value("alliance_claims_total", outcome="assign") == assigned + 1


async def test_check_ins_are_counted_once_by_method_a_repeat_not_again():
    door = await build_door_world()
    checked_in = _value("alliance_check_ins_total", method="qr", flagged="no")
    token = card_token(TEST_SECRET, door.household.id, door.household.card_serial)
    principal = await door.volunteer_principal()
    await check_in_by_card(principal, door.visit.id, TEST_SECRET, token=token, client_key="tap-1")
    await check_in_by_card(principal, door.visit.id, TEST_SECRET, token=token, client_key="tap-1")  # a repeat
    assert _value("alliance_check_ins_total", method="qr", flagged="no") == checked_in + 1


async def test_intake_rows_accepted_and_rejected_are_counted_by_channel():
    await build_city()
    accepted = _value("alliance_intake_rows_total", outcome="accepted", channel="file")
    rejected = _value("alliance_intake_rows_total", outcome="rejected", channel="file")
    await import_json([person(1), person(2), person(3, id_number="bad")])
    assert _value("alliance_intake_rows_total", outcome="accepted", channel="file") == accepted + 2
    assert _value("alliance_intake_rows_total", outcome="rejected", channel="file") == rejected + 1


def test_several_web_processes_add_up_in_one_metrics_answer(servers, tmp_path: Path):
    """`alliance serve --workers 2` sets up PROMETHEUS_MULTIPROC_DIR: whichever process answers the
    scrape reports the requests all of them served."""
    port = _free_port()
    environment = dict(
        os.environ,
        DATABASE_URL=servers.database_url,
        REDIS_URL=servers.redis_url,
        SECRET_KEY=TEST_SECRET,
        ALLIANCE_DATA_DIR=str(tmp_path),
        LOG_LEVEL="warning",
    )
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--port", str(port), "--workers", "2"], env=environment
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        served = 0
        while served < 20:
            assert process.poll() is None and time.monotonic() < deadline
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2):
                    served += 1
            except OSError:
                time.sleep(0.2)
        files = list((tmp_path / "metrics").glob("*.db"))
        assert len({path.name.rsplit("_", 1)[-1] for path in files}) >= 1
        with urllib.request.urlopen(url + "/metrics", timeout=5) as answer:
            samples = _samples(answer.read().decode())
        key = (
            "alliance_http_request_duration_seconds_count",
            frozenset({"method": "GET", "route": "/healthz", "status": "200"}.items()),
        )
        assert samples[key] >= 20
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
