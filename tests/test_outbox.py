"""The transactional job outbox (alliance/notifications/outbox.py): a change that needs background work writes its
jobs with it; with Redis down the change still succeeds and the jobs wait; once Redis is back the
relay queues each job once and the worker runs it once."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from arq.connections import RedisSettings
from arq.worker import Worker

from alliance.core.codes import NotificationStatus, OutboxStatus, VisitStatus
from alliance.core.embedded import start_embedded_redis
from alliance.core.timeutil import utc_now
from alliance.notifications.models import Notification, OutboxJob
from alliance.notifications.outbox import add_job, outbox_state
from alliance.visits.models import Visit
from alliance.visits.notices import reminder_job_id
from tests.reminders_support import (
    TEST_TIME_SCALE,
    arq_pool,
    relay_all,
    reminder_rows,
    scheduled_visit,
)
from workers import jobs
from workers.settings import FUNCTIONS


def _worker(redis_url: str) -> Worker:
    return Worker(
        functions=FUNCTIONS,
        redis_settings=RedisSettings.from_dsn(redis_url),
        burst=True,
        poll_delay=0.05,
        handle_signals=False,
        max_tries=5,
        keep_result=60,
    )


async def test_with_redis_stopped_a_visit_is_scheduled_and_its_jobs_run_once_after_redis_is_back(
    settings, tmp_path, monkeypatch
):
    from web.app import create_app
    from web.jobs import relay_outbox

    monkeypatch.setenv("ALLIANCE_REMINDER_TIME_SCALE", TEST_TIME_SCALE)
    server = start_embedded_redis(tmp_path / "redis-before")
    app = create_app(dataclasses.replace(settings, redis_url=server.url))
    worker_pool = await arq_pool(server.url)  # the worker's connection, made while Redis was up
    server.stop()  # Redis goes down before the dispatcher schedules
    async with app.router.lifespan_context(app):
        scheduled = await scheduled_visit(soon=8)
        # What a route does right after its commit: the relay fails, the request does not.
        assert await relay_outbox(app, scheduled.job_ids) is False
    visit = await Visit.get(id=scheduled.visit.id)
    assert visit.status == VisitStatus.SCHEDULED
    waiting = await OutboxJob.filter(status=OutboxStatus.PENDING).order_by("id")
    planned = await OutboxJob.filter(status=OutboxStatus.PLANNED).order_by("id")
    assert {job.job_id for job in waiting + planned} == set(scheduled.job_ids)
    # The change's notices wait for the queue; the two reminders wait for their time, in the outbox.
    assert len(waiting) == 1 and [job.job_name for job in planned] == ["send_visit_reminder"] * 2
    assert (await outbox_state()).pending == 1

    # The worker's relay cannot reach the stopped server either: the rows stay pending.
    try:
        assert await jobs.relay_outbox({"redis": worker_pool}) == {"enqueued": 0, "failed": 1}
    finally:
        await worker_pool.aclose()
    waiting = await OutboxJob.filter(status=OutboxStatus.PENDING).order_by("id")
    assert len(waiting) == 1 and "ConnectionError" in waiting[0].error and waiting[0].attempts == 1

    restarted = start_embedded_redis(tmp_path / "redis-after")
    try:
        pool = await arq_pool(restarted.url)
        try:
            assert await jobs.relay_outbox({"redis": pool}) == {"enqueued": 1, "failed": 0}
            assert await jobs.relay_outbox({"redis": pool}) == {"enqueued": 0, "failed": 0}
            # Their time come, the reminder sweep (the worker's cron) takes both reminders.
            await OutboxJob.filter(status=OutboxStatus.PLANNED).update(defer_until=utc_now())
            await pool.enqueue_job("send_due_reminders", _job_id="cron:send_due_reminders:1")
        finally:
            await pool.aclose()
        worker = _worker(restarted.url)
        await worker.main()
        await worker.pool.aclose()
        assert (worker.jobs_complete, worker.jobs_failed, worker.jobs_retried) == (2, 0, 0)
    finally:
        restarted.stop()
    assert await OutboxJob.filter(status=OutboxStatus.PENDING).count() == 0
    notices = await Notification.filter(visit_id=visit.id)
    assert notices and all(row.status == NotificationStatus.SENT and row.attempts == 1 for row in notices)
    for kind in ("24h", "2h"):
        assert len(await reminder_rows(visit.id, kind)) == 2


async def test_adding_a_job_twice_keeps_the_first(redis):
    first = await add_job("send_visit_reminder", 1, 1, "24h", job_id=reminder_job_id(1, 1, "24h"))
    second = await add_job("send_visit_reminder", 9, 9, "2h", job_id=reminder_job_id(1, 1, "24h"))
    assert second.id == first.id and second.args == [1, 1, "24h"]


async def test_relayed_jobs_keep_their_defer_time(servers, redis):
    due = utc_now() + timedelta(hours=5)
    await add_job("send_visit_reminder", 7, 1, "2h", job_id=reminder_job_id(7, 1, "2h"), defer_until=due)
    assert (await relay_all(servers.redis_url)).enqueued == 1
    score = await redis.zscore("arq:queue", reminder_job_id(7, 1, "2h"))
    assert abs(score / 1000 - due.timestamp()) < 0.01


async def test_health_reports_queue_depth_and_the_oldest_waiting_job(client, servers, redis):
    await add_job("send_visit_reminder", 7, 1, "2h", job_id="reminder:7:v1:2h")
    await OutboxJob.filter(job_id="reminder:7:v1:2h").update(created_at=utc_now() - timedelta(minutes=3))
    await add_job(
        "send_visit_reminder",
        8,
        1,
        "2h",
        job_id="reminder:8:v1:2h",
        defer_until=utc_now() + timedelta(hours=1),
    )
    assert (await relay_all(servers.redis_url, ["reminder:8:v1:2h"])).enqueued == 1
    response = await client.get("/readyz")
    body = response.json()
    assert body["queue"] == {"depth": 1, "due": 0}
    assert body["outbox"]["pending_jobs"] == 1
    assert 170 < body["outbox"]["oldest_pending_job_seconds"] < 600
    assert body["outbox"]["pending_notifications"] == 0


async def test_jobs_lost_with_redis_data_are_queued_again_and_run_once(
    arq_worker, servers, redis, monkeypatch
):
    """Redis restarts without its data (no persistence): the jobs it held are gone. The relay notices
    its marker key is missing and queues again what was enqueued recently; the reminders were never
    in Redis (they wait in the outbox for the sweep) and go out all the same."""
    monkeypatch.setenv("ALLIANCE_REMINDER_TIME_SCALE", TEST_TIME_SCALE)
    scheduled = await scheduled_visit(soon=8)
    pool = await arq_pool(servers.redis_url)
    try:
        assert await jobs.relay_outbox({"redis": pool}) == {"enqueued": 1, "failed": 0}
        await redis.flushdb()  # the queue and the marker: gone
        assert await jobs.relay_outbox({"redis": pool}) == {"enqueued": 1, "failed": 0}
        assert await jobs.relay_outbox({"redis": pool}) == {"enqueued": 0, "failed": 0}
        await OutboxJob.filter(status=OutboxStatus.PLANNED).update(defer_until=utc_now())
        await pool.enqueue_job("send_due_reminders", _job_id="cron:send_due_reminders:1")
    finally:
        await pool.aclose()
    await arq_worker.main()
    assert arq_worker.jobs_failed == 0
    notices = await Notification.filter(visit_id=scheduled.visit.id)
    assert len(notices) == 6  # scheduled: household and volunteer; each reminder: both again
    assert all(row.status == NotificationStatus.SENT and row.attempts == 1 for row in notices)


async def test_an_outbox_job_that_fails_is_retried_by_arq_not_dropped():
    from arq import Retry

    async def busy() -> None:
        raise OSError("database is locked")

    with pytest.raises(Retry):
        await jobs._retrying({"job_try": 1, "job_id": "reminder:1:v1:2h"}, busy())
    # After the last try the error is arq's to record.
    with pytest.raises(OSError):
        await jobs._retrying({"job_try": jobs.OUTBOX_JOB_TRIES, "job_id": "reminder:1:v1:2h"}, busy())
