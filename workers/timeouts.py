"""Each job its own timeout, and its own lock as long as that timeout.

arq locks a running job (its in-progress key) for the longest timeout of *any* function or cron + 10 s:
with the nightly re-match's 30 minutes beside them, the job of a worker killed mid-job waited half an
hour before another worker ran it again. Every job registered here shortens its lock, as it starts, to
its own timeout + 10 s, so a killed 60-second job runs again about 70 s later."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from arq import cron, func
from arq.constants import in_progress_key_prefix
from arq.cron import CronJob
from arq.worker import Function

# arq's own margin between a job's timeout and the end of its lock.
LOCK_MARGIN_SECONDS = 10

JobFunction = Callable[..., Awaitable[Any]]


def job(coroutine: JobFunction, *, timeout: int, max_tries: int | None = None) -> Function:
    """arq's `func`, with the running job locked for `timeout` + 10 s only."""
    return func(locked_for(coroutine, timeout), timeout=timeout, max_tries=max_tries)


def cron_job(coroutine: JobFunction, *, timeout: int, **schedule: Any) -> CronJob:
    """arq's `cron`, with the running job locked for `timeout` + 10 s only."""
    return cron(locked_for(coroutine, timeout), timeout=timeout, **schedule)


def lock_seconds(timeout: int) -> int:
    return timeout + LOCK_MARGIN_SECONDS


def locked_for(coroutine: JobFunction, timeout: int) -> JobFunction:
    # functools.wraps keeps the name arq registers the job under (`__qualname__`).
    @functools.wraps(coroutine)
    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        redis, job_id = ctx.get("redis"), ctx.get("job_id")
        if redis is not None and job_id:
            await redis.pexpire(in_progress_key_prefix + job_id, lock_seconds(timeout) * 1000)
        return await coroutine(ctx, *args, **kwargs)

    return run
