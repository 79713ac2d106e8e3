"""Health for the load balancer and readiness for the operator (docs/operations.md, "Health").

- /healthz (liveness, per process, cheap): this process answers and its database answers a trivial
  `SELECT 1`. Redis is pinged for the details but does not decide: pages are served without it (jobs
  wait in the database outbox), so a Redis outage must not take every web process out of rotation.
- /readyz (the service as a whole): database, Redis, the outbox's oldest waiting job and
  notification, and the workers' heartbeats; 503 when any of them is wrong, e.g. no worker beat
  within three heartbeat intervals. For monitoring and deploy gates, not for a per-process probe.

Only local or authorized callers (web/operations.py) get the details; others get the verdict and
the names of the failing checks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.applications import Starlette
from tortoise import Tortoise

from alliance.core import heartbeats
from alliance.core.codes import NotificationStatus
from alliance.core.timeutil import utc_now
from alliance.notifications import outbox
from alliance.notifications.models import Notification
from web.jobs import redis_client

ARQ_QUEUE = "arq:queue"
PROBE_TIMEOUT = 2


async def _database_ok() -> tuple[bool, str]:
    try:
        await asyncio.wait_for(
            Tortoise.get_connection("default").execute_query("SELECT 1"), timeout=PROBE_TIMEOUT
        )
        return True, "ok"
    except Exception as error:  # any failure is "down"; the message helps the operator
        return False, f"{type(error).__name__}: {error}"[:200]


async def _redis_ok(app: Starlette) -> tuple[bool, str]:
    try:
        await asyncio.wait_for(redis_client(app).ping(), timeout=PROBE_TIMEOUT)
        return True, "ok"
    except Exception as error:
        return False, f"{type(error).__name__}: {error}"[:200]


async def _queue_depth(app: Starlette) -> dict[str, Any]:
    """Jobs in arq's queue: all of them (deferred reminders included) and those due now."""
    client = redis_client(app)
    now_ms = int(time.time() * 1000)
    depth, due = await asyncio.gather(client.zcard(ARQ_QUEUE), client.zcount(ARQ_QUEUE, "-inf", now_ms))
    return {"depth": depth, "due": due}


def _seconds(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


async def outbox_report() -> dict[str, Any]:
    """What waits in the database outbox and for how long (also read by /metrics)."""
    now = utc_now()
    jobs = await outbox.outbox_state(now)
    pending = Notification.filter(status=NotificationStatus.PENDING)
    oldest = await pending.order_by("created_at").first().values_list("created_at", flat=True)
    return {
        "pending_jobs": jobs.pending,
        "oldest_pending_job_seconds": _seconds(jobs.oldest_pending_seconds),
        "pending_notifications": await pending.count(),
        "oldest_pending_notification_seconds": _seconds((now - oldest).total_seconds() if oldest else None),
        # Leases left by a worker that died in the gateway call, not yet taken by the relay.
        "expired_leases": await Notification.filter(
            status=NotificationStatus.SENDING, lease_until__lte=now
        ).count(),
    }


async def _quietly(work: Any) -> Any:
    # Figures only: when the database or Redis is down, the check above already says so.
    try:
        return await asyncio.wait_for(work, timeout=PROBE_TIMEOUT)
    except Exception:
        return None


async def liveness(app: Starlette) -> dict[str, Any]:
    started = time.perf_counter()
    (db_ok, db_detail), (redis_ok, redis_detail) = await asyncio.gather(_database_ok(), _redis_ok(app))
    return {
        "ok": db_ok,
        "failing": [] if db_ok else ["database"],
        "database": {"ok": db_ok, "detail": db_detail},
        "redis": {"ok": redis_ok, "detail": redis_detail},
        "seconds": round(time.perf_counter() - started, 4),
    }


async def readiness(app: Starlette) -> dict[str, Any]:
    started = time.perf_counter()
    max_age = app.state.settings.ready_outbox_max_age_seconds
    (db_ok, db_detail), (redis_ok, redis_detail) = await asyncio.gather(_database_ok(), _redis_ok(app))
    queue = await _quietly(_queue_depth(app)) if redis_ok else None
    beats = await _quietly(heartbeats.worker_beats(redis_client(app))) if redis_ok else None
    backlog = await _quietly(outbox_report()) if db_ok else None
    beating = [beat for beat in beats or [] if not beat.silent]
    ages = (
        [backlog[key] or 0 for key in ("oldest_pending_job_seconds", "oldest_pending_notification_seconds")]
        if backlog
        else []
    )
    outbox_ok = backlog is not None and max(ages) <= max_age
    checks = {"database": db_ok, "redis": redis_ok, "workers": bool(beating), "outbox": outbox_ok}
    return {
        "ok": all(checks.values()),
        "failing": [name for name, ok in checks.items() if not ok],
        "database": {"ok": db_ok, "detail": db_detail},
        "redis": {"ok": redis_ok, "detail": redis_detail},
        "workers": {
            "ok": bool(beating),
            "beating": len(beating),
            "silent": [beat.name for beat in beats or [] if beat.silent],
            "silent_after_seconds": heartbeats.silent_after().total_seconds(),
        },
        "outbox": {"ok": outbox_ok, "max_age_seconds": max_age, **(backlog or {})},
        "queue": queue,
        "seconds": round(time.perf_counter() - started, 4),
    }


def verdict_only(report: dict[str, Any]) -> dict[str, Any]:
    """What a caller from outside without the token sees: no addresses, hosts or error texts."""
    return {"ok": report["ok"], "failing": report["failing"]}
