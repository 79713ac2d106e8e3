"""Shared by the reminder, outbox and escalation tests: a scheduled visit (through the scheduling
service) whose household and volunteer are reachable, arq pools, and a subprocess arq worker."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings

from alliance.core.timeutil import utc_now
from alliance.notifications import outbox
from alliance.notifications.models import Notification, OutboxJob
from alliance.partners.models import Volunteer
from alliance.visits.models import Visit
from alliance.visits.scheduling import schedule_visit
from tests.visits_support import VisitWorld, add_volunteer, build_visit_world, window

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ScheduledVisit:
    world: VisitWorld
    visit: Visit
    volunteer: Volunteer
    job_ids: list[str]


async def scheduled_visit(soon: float | None = None, *, phone: str = "13900002222") -> ScheduledVisit:
    """The left household's request, claimed and scheduled two days ahead at 09:30 (or `soon`
    seconds from now) with one volunteer who has a phone."""
    world = await build_visit_world()
    volunteer = await add_volunteer(world.partner, "安志愿")
    await Volunteer.filter(id=volunteer.id).update(phone=phone)
    start, end = window(2, 9, minute=30) if soon is None else soon_window(soon)
    outcome = await schedule_visit(world.dispatcher, world.request.id, start, end, [volunteer.id])
    return ScheduledVisit(world, outcome.visit, volunteer, outcome.job_ids)


def soon_window(seconds: float = 8.0) -> tuple[datetime, datetime]:
    """A window a few seconds ahead: with the reminder offsets compressed, both reminders fall due
    while a test waits."""
    start = utc_now() + timedelta(seconds=seconds)
    return start, start + timedelta(hours=1)


# Compresses 24 h to about 4 s and 2 h to about a third of a second.
TEST_TIME_SCALE = "0.00005"


async def arq_pool(redis_url: str) -> ArqRedis:
    return await create_pool(RedisSettings.from_dsn(redis_url), retry=0)


def enqueue_with(pool: ArqRedis):
    async def enqueue(name: str, args: list[Any], job_id: str, defer_until: Any) -> None:
        await pool.enqueue_job(name, *args, _job_id=job_id, _defer_until=defer_until)

    return enqueue


async def relay_all(redis_url: str, job_ids: Iterable[str] | None = None) -> outbox.RelayResult:
    pool = await arq_pool(redis_url)
    try:
        return await outbox.relay(enqueue_with(pool), job_ids=job_ids)
    finally:
        await pool.aclose()


async def reminder_rows(visit_id: int, kind: str) -> list[Notification]:
    return await Notification.filter(visit_id=visit_id, kind=f"reminder_{kind}").order_by("id")


async def pending_outbox() -> list[str]:
    return await OutboxJob.filter(status="pending").order_by("id").values_list("job_id", flat=True)


def start_worker(database_url: str, redis_url: str, log_path: Path, **env: str) -> subprocess.Popen:
    """A real `arq` worker process on the test database and Redis, with the production settings
    (a job of a killed worker runs again once its own lock ends: its timeout + 10 s)."""
    environment = dict(
        os.environ,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        LOG_LEVEL="info",
        PYTHONPATH=str(ROOT),
        **env,
    )
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed with it
    return subprocess.Popen(
        [sys.executable, "-m", "arq", "workers.settings.WorkerSettings"],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
