"""arq WorkerSettings: only wiring. Run with `alliance worker` (or `arq workers.settings.WorkerSettings`)."""

from __future__ import annotations

import os
from typing import Any

from arq.connections import RedisSettings

from alliance.core import db
from alliance.core.config import load_settings
from alliance.notifications import providers
from workers.jobs import (
    GEOCODE_SLICE_SECONDS,
    OUTBOX_JOB_TRIES,
    auto_approve_transfers,
    deliver_notification,
    deliver_notifications,
    escalate_unclaimed_requests,
    geocode_intake_batch,
    invite_event_households,
    mark_missed_visits,
    match_all_job,
    match_intake_batch,
    match_offering_job,
    match_requests_job,
    relay_outbox,
    relay_pending_geocoding,
    relay_pending_notifications,
    release_unscheduled_claims,
    send_daily_digest,
    send_session_reminder,
    send_visit_reminder,
)
from workers.timeouts import cron_job, job


async def startup(_ctx: dict[str, Any]) -> None:
    settings = load_settings()
    providers.configure_providers(settings.notification_providers)
    await db.connect(settings.database_url)


async def shutdown(_ctx: dict[str, Any]) -> None:
    await db.disconnect()


# Each job's timeout, which is also how long a job of a killed worker waits before it runs again (+ 10 s,
# workers/timeouts.py): two minutes at most, except the full re-match, which the nightly cron redoes.
FUNCTIONS = [
    job(deliver_notification, timeout=60),
    job(geocode_intake_batch, timeout=GEOCODE_SLICE_SECONDS + 20),
    job(match_requests_job, timeout=100),
    job(match_intake_batch, timeout=100),
    job(match_offering_job, timeout=100),
    job(match_all_job, timeout=1800),
    job(auto_approve_transfers, timeout=100),
    job(release_unscheduled_claims, timeout=100),
    job(deliver_notifications, timeout=60, max_tries=OUTBOX_JOB_TRIES),
    job(send_visit_reminder, timeout=60, max_tries=OUTBOX_JOB_TRIES),
    job(escalate_unclaimed_requests, timeout=100),
    job(mark_missed_visits, timeout=100),
    job(send_daily_digest, timeout=100),
    job(invite_event_households, timeout=100),
    job(send_session_reminder, timeout=60),
]
# A cron run killed mid-job locks only itself (each run has its own job id); the next run goes ahead.
CRON_JOBS = [
    cron_job(relay_pending_notifications, second={0}, unique=True, run_at_startup=True, timeout=60),
    cron_job(relay_pending_geocoding, second={30}, unique=True, run_at_startup=True, timeout=60),
    # Nightly full re-match at 02:30 Asia/Shanghai (18:30 UTC; arq reads the worker's clock, kept in UTC).
    cron_job(match_all_job, hour={18}, minute={30}, second={0}, unique=True, timeout=1800),
    # Transfers fall due at any minute; claims are checked hourly (their deadlines are in days).
    cron_job(auto_approve_transfers, minute=set(range(0, 60, 5)), second={10}, unique=True, timeout=100),
    cron_job(release_unscheduled_claims, minute={20}, second={0}, unique=True, timeout=1200),
    # The job outbox (reminders, visit notices): what the web process could not queue at its commit.
    cron_job(relay_outbox, second=set(range(5, 60, 10)), unique=True, run_at_startup=True, timeout=120),
    cron_job(escalate_unclaimed_requests, minute={40}, second={0}, unique=True, timeout=1200),
    cron_job(mark_missed_visits, minute=set(range(2, 60, 10)), second={40}, unique=True, timeout=600),
    # The coordinators' digest at 07:30 Asia/Shanghai (23:30 UTC).
    cron_job(send_daily_digest, hour={23}, minute={30}, second={0}, unique=True, timeout=1200),
]


class WorkerSettings:
    functions = FUNCTIONS
    cron_jobs = CRON_JOBS
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = RedisSettings.from_dsn(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379")
    max_tries = 5
    # Only for a function listed without its own timeout (every one above has one).
    job_timeout = 100
    # Short-lived results, so the relay may re-queue a delivery that failed a minute ago.
    keep_result = 60
