"""arq WorkerSettings: only wiring. Run with `alliance worker` (or `arq workers.settings.WorkerSettings`)."""

from __future__ import annotations

import os
from typing import Any

from arq import cron, func
from arq.connections import RedisSettings

from alliance.core import db
from alliance.core.config import load_settings
from alliance.notifications import providers
from workers.jobs import (
    OUTBOX_JOB_TRIES,
    apply_retention_job,
    auto_approve_transfers,
    compute_allocation_job,
    deliver_notification,
    deliver_notifications,
    escalate_unclaimed_requests,
    forget_old_login_records,
    geocode_intake_batch,
    invite_event_households,
    lapse_unconfirmed_registrations,
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


async def startup(_ctx: dict[str, Any]) -> None:
    settings = load_settings()
    providers.configure_providers(settings.notification_providers)
    await db.connect(settings.database_url)


async def shutdown(_ctx: dict[str, Any]) -> None:
    await db.disconnect()


FUNCTIONS = [
    deliver_notification,
    geocode_intake_batch,
    match_requests_job,
    match_intake_batch,
    match_offering_job,
    match_all_job,
    # A city's proposal takes 15-20 s of CPU; a worker killed meanwhile frees it again within two minutes.
    func(compute_allocation_job, timeout=110),
    auto_approve_transfers,
    release_unscheduled_claims,
    func(deliver_notifications, max_tries=OUTBOX_JOB_TRIES),
    func(send_visit_reminder, max_tries=OUTBOX_JOB_TRIES),
    escalate_unclaimed_requests,
    mark_missed_visits,
    send_daily_digest,
    invite_event_households,
    send_session_reminder,
    lapse_unconfirmed_registrations,
]
CRON_JOBS = [
    cron(relay_pending_notifications, second={0}, unique=True, run_at_startup=True),
    cron(relay_pending_geocoding, second={30}, unique=True, run_at_startup=True),
    # Nightly full re-match at 02:30 Asia/Shanghai (18:30 UTC; arq reads the worker's clock, kept in UTC).
    cron(match_all_job, hour={18}, minute={30}, second={0}, unique=True, timeout=1800),
    # Transfers fall due at any minute; claims are checked hourly (their deadlines are in days).
    cron(auto_approve_transfers, minute=set(range(0, 60, 5)), second={10}, unique=True),
    cron(release_unscheduled_claims, minute={20}, second={0}, unique=True, timeout=1200),
    # The job outbox (reminders, visit notices): what the web process could not queue at its commit.
    cron(relay_outbox, second=set(range(5, 60, 10)), unique=True, run_at_startup=True, timeout=120),
    cron(escalate_unclaimed_requests, minute={40}, second={0}, unique=True, timeout=1200),
    cron(mark_missed_visits, minute=set(range(2, 60, 10)), second={40}, unique=True, timeout=600),
    # The coordinators' digest at 07:30 Asia/Shanghai (23:30 UTC).
    cron(send_daily_digest, hour={23}, minute={30}, second={0}, unique=True, timeout=1200),
    # Data retention at 03:40 Asia/Shanghai (19:40 UTC), after the nightly re-match.
    cron(apply_retention_job, hour={19}, minute={40}, second={0}, unique=True, timeout=1200),
    # Event registrations a partner made that the household did not confirm in time free their seat.
    cron(
        lapse_unconfirmed_registrations, minute=set(range(7, 60, 15)), second={20}, unique=True, timeout=600
    ),
    # Login-limit counters and old sessions (alliance/core/login_limits.py, sessions.py).
    cron(forget_old_login_records, hour={19}, minute={45}, second={0}, unique=True, timeout=600),
]


class WorkerSettings:
    functions = FUNCTIONS
    cron_jobs = CRON_JOBS
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = RedisSettings.from_dsn(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379")
    max_tries = 5
    job_timeout = 300
    # Short-lived results, so the relay may re-queue a delivery that failed a minute ago.
    keep_result = 60


class QuickRetryWorkerSettings:
    """The same jobs, with only the outbox crons and short timeouts: arq locks a running job for the
    longest job timeout + 10 s, so the jobs of a worker killed mid-job are retried after ~40 s here
    instead of after the nightly re-match's 30 minutes. For the reminders bench and the kill tests:
    `arq workers.settings.QuickRetryWorkerSettings`. (arq reads a settings class's own attributes,
    not inherited ones, hence each is repeated.)"""

    functions = FUNCTIONS
    cron_jobs = [
        cron(relay_outbox, second=set(range(0, 60, 2)), unique=True, run_at_startup=True, timeout=15),
        cron(relay_pending_notifications, second={0, 30}, unique=True, timeout=15),
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = WorkerSettings.redis_settings
    max_tries = WorkerSettings.max_tries
    job_timeout = 30
    keep_result = WorkerSettings.keep_result
