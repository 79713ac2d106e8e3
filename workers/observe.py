"""Every job run observed: one JSON log line (function, job id, try, duration, outcome, and the id
of the web request that enqueued it) and the job metrics (alliance/core/metrics.py)."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from arq import Retry

from alliance.core.logs import request_id_var
from alliance.core.metrics import JOB_RUNS, JOB_SECONDS

logger = logging.getLogger("alliance.jobs")

Job = Callable[..., Awaitable[Any]]


def observed(job: Job) -> Job:
    """The job as arq runs it, under its own name; takes off the `request_id` keyword that every
    enqueue adds (alliance.notifications.outbox.job_kwargs), so job functions never see it."""

    @functools.wraps(job)
    async def run(ctx: dict[str, Any], *args: Any, request_id: str | None = None, **kwargs: Any) -> Any:
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = await job(ctx, *args, **kwargs)
            outcome = "complete"
            return result
        except Retry:
            outcome = "retry"
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"  # the job's timeout, or the worker stopping
            raise
        finally:
            seconds = time.perf_counter() - started
            name = job.__name__
            JOB_RUNS.labels(function=name, outcome=outcome).inc()
            JOB_SECONDS.labels(function=name).observe(seconds)
            logger.log(
                logging.WARNING if outcome == "failed" else logging.INFO,
                "job",
                extra={
                    "fields": {
                        "function": name,
                        "job_id": ctx.get("job_id"),
                        "try": ctx.get("job_try"),
                        "duration_ms": round(seconds * 1000, 1),
                        "outcome": outcome,
                    }
                },
            )
            request_id_var.reset(token)

    return run
