"""arq WorkerSettings: only wiring. Run with `alliance worker` (or `arq workers.settings.WorkerSettings`)."""

from __future__ import annotations

import os
from typing import Any

from arq import cron
from arq.connections import RedisSettings

from alliance import db
from alliance.config import load_settings
from workers.jobs import (
    auto_approve_transfers,
    deliver_notification,
    geocode_intake_batch,
    match_all_job,
    match_intake_batch,
    match_offering_job,
    match_requests_job,
    relay_pending_geocoding,
    relay_pending_notifications,
    release_unscheduled_claims,
)


async def startup(_ctx: dict[str, Any]) -> None:
    await db.connect(load_settings().database_url)


async def shutdown(_ctx: dict[str, Any]) -> None:
    await db.disconnect()


FUNCTIONS = [
    deliver_notification,
    geocode_intake_batch,
    match_requests_job,
    match_intake_batch,
    match_offering_job,
    match_all_job,
    auto_approve_transfers,
    release_unscheduled_claims,
]
CRON_JOBS = [
    cron(relay_pending_notifications, second={0}, unique=True, run_at_startup=True),
    cron(relay_pending_geocoding, second={30}, unique=True, run_at_startup=True),
    # Nightly full re-match at 02:30 Asia/Shanghai (18:30 UTC; arq reads the worker's clock, kept in UTC).
    cron(match_all_job, hour={18}, minute={30}, second={0}, unique=True, timeout=1800),
    # Transfers fall due at any minute; claims are checked hourly (their deadlines are in days).
    cron(auto_approve_transfers, minute=set(range(0, 60, 5)), second={10}, unique=True),
    cron(release_unscheduled_claims, minute={20}, second={0}, unique=True, timeout=1200),
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
