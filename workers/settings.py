"""arq WorkerSettings: only wiring. Run with `alliance worker` (or `arq workers.settings.WorkerSettings`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

from arq.connections import RedisSettings

from alliance.core import db, heartbeats
from alliance.core.config import load_settings
from alliance.core.logs import configure_logging
from alliance.notifications import providers
from workers.jobs import (
    GEOCODE_SLICE_SECONDS,
    OUTBOX_JOB_TRIES,
    apply_retention_job,
    auto_approve_transfers,
    casework_sweep,
    compute_allocation_job,
    deliver_notification,
    deliver_notification_batch,
    deliver_notifications,
    deliver_webhook,
    ensure_year_partitions,
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
    prune_board_changes,
    refresh_cockpit,
    refresh_promises,
    refresh_regular_visits,
    refresh_supervision,
    relay_outbox,
    relay_pending_geocoding,
    relay_pending_notifications,
    release_unscheduled_claims,
    run_export_job,
    send_daily_digest,
    send_due_reminders,
    send_session_reminder,
    send_visit_reminder,
    sweep_webhooks,
)
from workers.observe import observed
from workers.timeouts import cron_job, job

logger = logging.getLogger("alliance.workers")


async def startup(ctx: dict[str, Any]) -> None:
    configure_logging()
    # arq's CLI gives its own logger a text handler: keep its lines out of the JSON stream.
    if logging.getLogger("arq").handlers:
        logging.getLogger("arq").propagate = False
    settings = load_settings()
    providers.configure_providers(settings.notification_providers)
    await db.connect(settings.database_url)
    _serve_metrics()
    ctx["heartbeat"] = asyncio.create_task(_beat_forever(ctx["redis"], heartbeats.worker_name()))


async def shutdown(ctx: dict[str, Any]) -> None:
    task = ctx.pop("heartbeat", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        with contextlib.suppress(Exception):
            await heartbeats.forget(ctx["redis"], heartbeats.worker_name())
    await db.disconnect()


_metrics_served = False


def _serve_metrics() -> None:
    """ALLIANCE_WORKER_METRICS_PORT: this worker's job metrics on http://127.0.0.1:PORT/ (for a
    worker on a host without a web process; beside one, a shared PROMETHEUS_MULTIPROC_DIR puts them
    in the web's /metrics instead)."""
    global _metrics_served
    port = os.environ.get("ALLIANCE_WORKER_METRICS_PORT")
    if not port or _metrics_served:
        return
    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    start_http_server(int(port), addr="127.0.0.1", registry=registry)
    _metrics_served = True


async def _beat_forever(redis: Any, name: str) -> None:
    """The worker's heartbeat (alliance/core/heartbeats.py), beside the jobs on the same loop: a
    worker whose loop hangs stops beating too."""
    while True:
        try:
            await heartbeats.beat(redis, name)
        except Exception:
            logger.warning("heartbeat: Redis did not answer", exc_info=True)
        await asyncio.sleep(heartbeats.heartbeat_seconds())


# Each job's timeout, which is also how long a job of a killed worker waits before it runs again (+ 10 s,
# workers/timeouts.py): two minutes at most, except the full re-match, which the nightly cron redoes.
# Every job is observed (workers/observe.py): its metrics, its JSON log line and its request id.
FUNCTIONS = [
    job(observed(deliver_notification), timeout=60),
    # A claim's worth of relayed rows (CLAIM_BATCH): each gateway call ends by half the lease.
    job(observed(deliver_notification_batch), timeout=60),
    job(observed(geocode_intake_batch), timeout=GEOCODE_SLICE_SECONDS + 20),
    job(observed(match_requests_job), timeout=100),
    job(observed(match_intake_batch), timeout=100),
    job(observed(match_offering_job), timeout=100),
    job(observed(match_all_job), timeout=1800),
    # A city's proposal takes 15-20 s of CPU.
    job(observed(compute_allocation_job), timeout=110),
    # A user's export: 200,000 rows take about a minute (bench/bench_exports.py).
    job(observed(run_export_job), timeout=110),
    job(observed(auto_approve_transfers), timeout=100),
    job(observed(release_unscheduled_claims), timeout=100),
    job(observed(deliver_notifications), timeout=60, max_tries=OUTBOX_JOB_TRIES),
    # One attempt per job (its own timeout beyond the 10 s HTTP timeout); retries are planned anew.
    job(observed(deliver_webhook), timeout=30, max_tries=3),
    job(observed(send_visit_reminder), timeout=60, max_tries=OUTBOX_JOB_TRIES),
    # Also queued by hand (tests, an operator): the same run as the cron's.
    job(observed(send_due_reminders), timeout=60),
    job(observed(escalate_unclaimed_requests), timeout=100),
    job(observed(refresh_regular_visits), timeout=1200),
    job(observed(mark_missed_visits), timeout=100),
    job(observed(refresh_supervision), timeout=600),
    job(observed(refresh_cockpit), timeout=600),
    # A city's year of requests at ten million visits: a few minutes (docs/scale.md).
    job(observed(refresh_promises), timeout=1200),
    job(observed(send_daily_digest), timeout=100),
    job(observed(casework_sweep), timeout=100),
    job(observed(invite_event_households), timeout=100),
    job(observed(send_session_reminder), timeout=60),
    job(observed(lapse_unconfirmed_registrations), timeout=100),
]
# A cron run killed mid-job locks only itself (each run has its own job id); the next run goes ahead.
CRON_JOBS = [
    cron_job(observed(relay_pending_notifications), second={0}, unique=True, run_at_startup=True, timeout=60),
    cron_job(observed(relay_pending_geocoding), second={30}, unique=True, run_at_startup=True, timeout=60),
    # Nightly full re-match at 02:30 Asia/Shanghai (18:30 UTC; arq reads the worker's clock, kept in UTC).
    cron_job(observed(match_all_job), hour={18}, minute={30}, second={0}, unique=True, timeout=1800),
    # Transfers fall due at any minute; claims are checked hourly (their deadlines are in days).
    cron_job(
        observed(auto_approve_transfers), minute=set(range(0, 60, 5)), second={10}, unique=True, timeout=100
    ),
    cron_job(observed(release_unscheduled_claims), minute={20}, second={0}, unique=True, timeout=1200),
    # The visit reminders due, in batches (alliance/visits/notices.py): a run takes batches for up to
    # 20 s, so runs overlap and the workers share a burst; a killed run's work waits at most a lease.
    cron_job(
        observed(send_due_reminders),
        second=set(range(2, 60, 5)),
        unique=True,
        run_at_startup=True,
        timeout=60,
    ),
    # The job outbox (visit notices, exports...): what the web process could not queue at its commit.
    cron_job(
        observed(relay_outbox), second=set(range(5, 60, 10)), unique=True, run_at_startup=True, timeout=120
    ),
    cron_job(observed(escalate_unclaimed_requests), minute={40}, second={0}, unique=True, timeout=1200),
    # Regular visits: worklists and overdue warnings, hourly (due days are whole days).
    cron_job(observed(refresh_regular_visits), minute={45}, second={0}, unique=True, timeout=1200),
    # The supervision page's figures per scope, every half hour (alliance/targets/supervision.py).
    cron_job(observed(refresh_supervision), minute={7, 37}, second={10}, unique=True, timeout=1200),
    # The cockpit's operational figures and unserved list per viewed scope (cockpit_snapshots.py);
    # a run longer than five minutes makes the next one wait (unique).
    cron_job(observed(refresh_cockpit), minute=set(range(1, 60, 5)), second={20}, unique=True, timeout=1200),
    # The promises page's figures of the viewed scopes, this year, every half hour.
    cron_job(observed(refresh_promises), minute={12, 42}, second={30}, unique=True, timeout=1800),
    cron_job(
        observed(mark_missed_visits), minute=set(range(2, 60, 10)), second={40}, unique=True, timeout=600
    ),
    # Overdue tasks, expired consents and "consent expires" tasks (alliance/households/consent.py).
    cron_job(observed(casework_sweep), minute={50}, second={0}, unique=True, timeout=600),
    # The coordinators' digest at 07:30 Asia/Shanghai (23:30 UTC).
    cron_job(observed(send_daily_digest), hour={23}, minute={30}, second={0}, unique=True, timeout=1200),
    # Data retention at 03:40 Asia/Shanghai (19:40 UTC), after the nightly re-match.
    cron_job(observed(apply_retention_job), hour={19}, minute={40}, second={0}, unique=True, timeout=1200),
    # The year partitions (audit trail, notifications) for this and next year (PostgreSQL), at 03:55 Asia/Shanghai and at start.
    cron_job(
        observed(ensure_year_partitions),
        hour={19},
        minute={55},
        second={0},
        unique=True,
        run_at_startup=True,
        timeout=300,
    ),
    # Event registrations a partner made that the household did not confirm in time free their seat.
    cron_job(
        observed(lapse_unconfirmed_registrations),
        minute=set(range(7, 60, 15)),
        second={20},
        unique=True,
        timeout=600,
    ),
    # Webhook deliveries left behind by a killed worker (alliance/partners/webhooks.py).
    cron_job(observed(sweep_webhooks), minute=set(range(3, 60, 5)), second={25}, unique=True, timeout=120),
    # The claim boards' change marks (alliance/matching/board_changes.py) older than an hour.
    cron_job(observed(prune_board_changes), minute={13, 43}, second={50}, unique=True, timeout=120),
    # Login-limit counters and old sessions (alliance/core/login_limits.py, sessions.py).
    cron_job(
        observed(forget_old_login_records), hour={19}, minute={45}, second={0}, unique=True, timeout=600
    ),
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
