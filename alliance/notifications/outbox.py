"""The transactional job outbox: a change that needs background work writes the job here, in its own
transaction, and the relay moves pending rows to the queue. Redis being down when a visit is
scheduled loses nothing: the rows wait, and the next relay run (the worker's cron, or the web
process right after the commit) queues them. Each row carries a deterministic job id, so a row
relayed twice (two relays racing, a relay retried after a crash) is queued once by arq.

A planned job (`plan_job`: the visit reminders) is not relayed at all: it waits in this table until
its time, and its owner takes the due ones in batches (`take_due_jobs`) inside the transaction that
does their work and marks them done, so there is nothing per job in Redis to lose or to lock."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import F, Q

from alliance.core.codes import OutboxStatus
from alliance.core.logs import current_request_id, request_id_var
from alliance.core.timeutil import utc_now
from alliance.notifications.models import OutboxJob

logger = logging.getLogger("alliance.outbox")

# (job name, args, job id, defer until) -> queued; raises when the queue cannot be reached.
Enqueue = Callable[[str, list[Any], str, datetime | None], Awaitable[Any]]


async def add_job(job_name: str, *args: Any, job_id: str, defer_until: datetime | None = None) -> OutboxJob:
    """Record a job to run. Call it inside the transaction of the change that needs the job; a job
    id recorded before is kept as it is (the same work is not planned twice)."""
    job, _created = await OutboxJob.get_or_create(
        job_id=job_id,
        defaults={
            "job_name": job_name,
            "args": list(args),
            "defer_until": defer_until,
            "request_id": current_request_id() or "",
        },
    )
    return job


async def plan_job(job_name: str, *args: Any, job_id: str, due: datetime) -> OutboxJob:
    """Record work its owner takes from the outbox itself once `due` comes (`take_due_jobs`),
    instead of a job queued on its own. Call it inside the change's transaction; a job id recorded
    before is kept as it is."""
    job, _created = await OutboxJob.get_or_create(
        job_id=job_id,
        defaults={
            "job_name": job_name,
            "args": list(args),
            "defer_until": due,
            "status": OutboxStatus.PLANNED,
            "request_id": current_request_id() or "",
        },
    )
    return job


async def take_due_jobs(
    job_name: str, limit: int, now: datetime | None = None, *, only: int | None = None
) -> list[OutboxJob]:
    """Up to `limit` planned jobs of this name whose time has come (or just the row `only`), oldest
    first. Call it inside the transaction that does their work and then `mark_done`: on PostgreSQL
    the rows stay locked until it ends and a concurrent taker skips them (so two workers take
    different jobs); SQLite's transaction holds the database's only write lock. A worker killed
    before the commit takes nothing with it: the rows are due again at once."""
    query = OutboxJob.filter(
        job_name=job_name, status=OutboxStatus.PLANNED, defer_until__lte=now or utc_now()
    )
    if only is not None:
        query = query.filter(id=only)
    return await query.order_by("defer_until", "id").limit(limit).select_for_update(skip_locked=True)


async def postpone(job_id: int, error: Exception, now: datetime | None = None) -> None:
    """A planned job whose work failed: due again after a pause that grows with its attempts (up to
    an hour), its error kept (the type only: a database's message may quote personal data)."""
    job = await OutboxJob.get(id=job_id)
    pause = timedelta(minutes=min(2**job.attempts, 60))
    await OutboxJob.filter(id=job_id, status=OutboxStatus.PLANNED).update(
        attempts=F("attempts") + 1, error=type(error).__name__[:255], defer_until=(now or utc_now()) + pause
    )


async def mark_done(jobs: Iterable[OutboxJob]) -> None:
    ids = [job.id for job in jobs]
    for start in range(0, len(ids), 500):
        await OutboxJob.filter(id__in=ids[start : start + 500]).update(status=OutboxStatus.DONE)


def job_kwargs() -> dict[str, str]:
    """The keyword arguments every enqueue adds: the id of the request the job serves, which the
    worker's job wrapper takes off and logs (workers/observe.py)."""
    request_id = current_request_id()
    return {"request_id": request_id} if request_id else {}


@dataclass
class RelayResult:
    enqueued: int = 0
    failed: int = 0

    def as_json(self) -> dict[str, int]:
        return {"enqueued": self.enqueued, "failed": self.failed}


async def relay(enqueue: Enqueue, job_ids: Iterable[str] | None = None, limit: int = 1000) -> RelayResult:
    """Move pending jobs (all, oldest first, or just `job_ids`) to the queue. A job whose enqueue
    fails stays pending for the next run; the first failure stops this run (Redis is down)."""
    query = OutboxJob.filter(status=OutboxStatus.PENDING)
    if job_ids is not None:
        query = query.filter(job_id__in=list(job_ids))
    rows = await query.order_by("id").limit(limit)
    result = RelayResult()
    for row in rows:
        # The enqueue passes the planning request's id on to the job (job_kwargs), for its logs.
        planned_by = request_id_var.set(row.request_id or current_request_id())
        try:
            await enqueue(row.job_name, list(row.args), row.job_id, row.defer_until)
        except Exception as error:
            await OutboxJob.filter(id=row.id).update(
                attempts=F("attempts") + 1, error=f"{type(error).__name__}: {error}"[:255]
            )
            logger.warning("outbox: could not enqueue %s (%s); it stays pending", row.job_id, error)
            result.failed += 1
            break
        finally:
            request_id_var.reset(planned_by)
        await OutboxJob.filter(id=row.id, status=OutboxStatus.PENDING).update(
            status=OutboxStatus.ENQUEUED, enqueued_at=utc_now(), attempts=F("attempts") + 1, error=""
        )
        result.enqueued += 1
    return result


# Jobs already handed to arq live only in Redis until they run. A Redis that restarts without its
# data (no persistence, a failover) would lose them, reminders deferred for days included. The relay
# keeps a marker key in Redis: when it is gone, Redis lost its data, and the jobs enqueued since
# `REQUEUE_WINDOW` before now (or deferred to after that) are queued again. Every job is safe to run
# twice, so re-queueing one that had already run costs a no-op run, never a second message.
QUEUE_MARKER = "alliance:outbox:queue-marker"
REQUEUE_WINDOW = timedelta(days=1)


async def requeue_after_queue_loss(now: datetime | None = None, window: timedelta = REQUEUE_WINDOW) -> int:
    """Mark for relaying again the jobs whose copy in the queue may be lost: those deferred to after
    `now - window`, and those due at once but enqueued since then. Returns how many."""
    since = (now or utc_now()) - window
    return (
        await OutboxJob.filter(status=OutboxStatus.ENQUEUED)
        .filter(Q(defer_until__gte=since) | Q(defer_until__isnull=True, enqueued_at__gte=since))
        .update(status=OutboxStatus.PENDING)
    )


@dataclass
class OutboxState:
    pending: int
    oldest_pending_seconds: float | None


async def outbox_state(now: datetime | None = None) -> OutboxState:
    """For /healthz: how many jobs wait to be queued, and how long the oldest has waited."""
    now = now or utc_now()
    pending = OutboxJob.filter(status=OutboxStatus.PENDING)
    count = await pending.count()
    oldest = await pending.order_by("created_at").first().values_list("created_at", flat=True)
    age = (now - oldest).total_seconds() if oldest else None
    return OutboxState(pending=count, oldest_pending_seconds=age)
