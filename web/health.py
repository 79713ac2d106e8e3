"""Health: is the database answering, is Redis answering (these two decide 200 or 503); and, for the
operator, how deep the arq queue is and how long the oldest job and notification have waited in the
database outbox (a relay that stopped shows as a growing age)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.applications import Starlette
from tortoise import Tortoise

from alliance.core.codes import NotificationStatus
from alliance.core.timeutil import utc_now
from alliance.notifications import outbox
from alliance.notifications.models import Notification
from web.jobs import redis_client

ARQ_QUEUE = "arq:queue"


async def _database_ok() -> tuple[bool, str]:
    try:
        await asyncio.wait_for(Tortoise.get_connection("default").execute_query("SELECT 1"), timeout=3)
        return True, "ok"
    except Exception as error:  # any failure is "down"; the message helps the operator
        return False, f"{type(error).__name__}: {error}"[:200]


async def _redis_ok(app: Starlette) -> tuple[bool, str]:
    try:
        client = redis_client(app)
        await asyncio.wait_for(client.ping(), timeout=3)
        return True, "ok"
    except Exception as error:
        return False, f"{type(error).__name__}: {error}"[:200]


async def _queue_depth(app: Starlette) -> dict[str, Any]:
    """Jobs in arq's queue: all of them (deferred reminders included) and those due now."""
    client = redis_client(app)
    now_ms = int(time.time() * 1000)
    depth, due = await asyncio.wait_for(
        asyncio.gather(client.zcard(ARQ_QUEUE), client.zcount(ARQ_QUEUE, "-inf", now_ms)), timeout=3
    )
    return {"depth": depth, "due": due}


async def _outbox_report() -> dict[str, Any]:
    jobs = await outbox.outbox_state()
    pending = Notification.filter(status=NotificationStatus.PENDING)
    oldest = await pending.order_by("created_at").first().values_list("created_at", flat=True)
    return {
        "pending_jobs": jobs.pending,
        "oldest_pending_job_seconds": round(jobs.oldest_pending_seconds, 1)
        if jobs.oldest_pending_seconds is not None
        else None,
        "pending_notifications": await pending.count(),
        "oldest_pending_notification_seconds": round((utc_now() - oldest).total_seconds(), 1)
        if oldest
        else None,
    }


async def _quietly(work: Any) -> dict[str, Any] | None:
    # Figures only: when the database or Redis is down, the check above already says so.
    try:
        return await asyncio.wait_for(work, timeout=3)
    except Exception:
        return None


async def health_report(app: Starlette) -> dict[str, Any]:
    started = time.perf_counter()
    (db_ok, db_detail), (redis_ok, redis_detail) = await asyncio.gather(_database_ok(), _redis_ok(app))
    queue = await _quietly(_queue_depth(app)) if redis_ok else None
    backlog = await _quietly(_outbox_report()) if db_ok else None
    return {
        "ok": db_ok and redis_ok,
        "database": {"ok": db_ok, "detail": db_detail},
        "redis": {"ok": redis_ok, "detail": redis_detail},
        "queue": queue,
        "outbox": backlog,
        "seconds": round(time.perf_counter() - started, 4),
    }
