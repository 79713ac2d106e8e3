"""The web app's door to the job queue (arq on Redis). One lazily-made pool per app."""

from __future__ import annotations

import logging

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from redis.asyncio import Redis
from starlette.applications import Starlette

logger = logging.getLogger(__name__)


def redis_client(app: Starlette) -> Redis:
    client = getattr(app.state, "redis", None)
    if client is None:
        settings = RedisSettings.from_dsn(app.state.settings.redis_url or "redis://127.0.0.1:6379")
        client = Redis(
            host=settings.host,
            port=settings.port,
            db=settings.database,
            unix_socket_path=settings.unix_socket_path,
            password=settings.password,
            username=settings.username,
            socket_connect_timeout=2,
        )
        app.state.redis = client
    return client


async def queue(app: Starlette) -> ArqRedis:
    pool = getattr(app.state, "arq", None)
    if pool is None:
        pool = await create_pool(
            RedisSettings.from_dsn(app.state.settings.redis_url or "redis://127.0.0.1:6379"), retry=0
        )
        app.state.arq = pool
    return pool


async def enqueue_quietly(app: Starlette, job: str, *args: object, job_id: str | None = None) -> bool:
    """Enqueue, but never fail the user's request because Redis is down: the row stays pending and
    is picked up by the worker's sweep (the transactional-outbox relay)."""
    from alliance.notifications.outbox import job_kwargs

    try:
        pool = await queue(app)
        await pool.enqueue_job(job, *args, _job_id=job_id, **job_kwargs())
        return True
    except Exception:
        logger.warning("could not enqueue %s%r; it stays pending in the database", job, args, exc_info=True)
        return False


async def close(app: Starlette) -> None:
    for name in ("arq", "redis"):
        client = getattr(app.state, name, None)
        if client is not None:
            await client.aclose()
            setattr(app.state, name, None)


async def relay_outbox(app: Starlette, job_ids: list[str] | None = None) -> bool:
    """Right after a commit: move the change's outbox jobs to arq. When Redis is down they stay
    pending and the worker's relay cron queues them once it is back. Never fails the request."""
    from alliance.notifications import outbox
    from alliance.notifications.outbox import job_kwargs

    try:
        pool = await queue(app)
    except Exception:
        logger.warning("queue unreachable; outbox jobs stay pending", exc_info=True)
        return False

    async def enqueue(name: str, args: list[object], job_id: str, defer_until: object) -> None:
        await pool.enqueue_job(name, *args, _job_id=job_id, _defer_until=defer_until, **job_kwargs())

    result = await outbox.relay(enqueue, job_ids=job_ids)
    return result.failed == 0
