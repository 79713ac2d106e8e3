"""Reminders at scale, through the real worker, with the worker killed twice.

    .venv/bin/python bench/bench_reminders.py [visits] [seed]

Schedules `visits` (default 10,000) home visits through the scheduling service (each writes its
notices and its two reminder jobs in the visit's transaction, then relays them to arq as a route
does), with the reminder offsets compressed (ALLIANCE_REMINDER_TIME_SCALE: a day becomes about
100 s), while a real arq worker process (`arq workers.settings.WorkerSettings`: the production
settings, job functions and outbox relay) sends them. The worker is killed with SIGKILL twice in
the middle and started again. Every message the worker hands to the gateway is journalled
(alliance.notifications.providers.JournalProvider), so the bench counts from the gateway's side:
- jobs run and jobs/s (from the worker logs), scheduling speed, notifications sent,
- duplicates (a message journalled twice, or two messages for one visit, reminder and recipient),
- losses (a notice or reminder expected and never journalled),
- how late reminders went out against their (compressed) due time.
On a fresh temporary SQLite database and an embedded Redis by default; with
DATABASE_URL=postgres://... a fresh database alliance_bench_<pid> is made there and dropped after.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# A day of reminder offsets becomes 100 s; a visit starts LEAD seconds after it is scheduled, so
# its day-before reminder is due ~50 s and its two-hours-before one ~142 s after scheduling.
TIME_SCALE = 100 / 86400
LEAD = timedelta(seconds=150)

from arq import create_pool  # noqa: E402
from arq.connections import RedisSettings  # noqa: E402
from tortoise import Tortoise  # noqa: E402

from alliance.core import db  # noqa: E402
from alliance.core.access import principal_for  # noqa: E402
from alliance.core.accounts import create_user  # noqa: E402
from alliance.core.codes import (  # noqa: E402
    ContactPreference,
    NotificationStatus,
    PartnerStatus,
    RegionLevel,
    RequestStatus,
    Role,
)
from alliance.core.embedded import start_embedded_redis  # noqa: E402
from alliance.core.regions import add_region  # noqa: E402
from alliance.core.timeutil import utc_now  # noqa: E402
from alliance.households.models import Household  # noqa: E402
from alliance.households.reference import ensure_reference_data  # noqa: E402
from alliance.matching.models import ServiceRequest  # noqa: E402
from alliance.notifications import outbox  # noqa: E402
from alliance.notifications.models import Notification, OutboxJob  # noqa: E402
from alliance.partners.models import Offering, Partner, Volunteer  # noqa: E402
from alliance.visits.notices import REMINDER_OFFSETS, ReminderKind  # noqa: E402
from alliance.visits.scheduling import schedule_visit  # noqa: E402

PASSWORD = "bench-password-1"


async def generate(count: int, seed: int) -> dict[str, Any]:
    """A community of `count` households, each with one claimed HOME_CARE request, a partner with
    `count` volunteers (one per visit, so no visit waits for a free volunteer), its dispatcher and
    the community's worker (for the households reached through them)."""
    rng = random.Random(seed)
    await add_region("330300", "温州市", RegionLevel.CITY, lat=27.994, lon=120.699)
    await add_region("330302", "鹿城区", RegionLevel.DISTRICT, "330300", lat=28.015, lon=120.655)
    await add_region("330302001", "五马街道", RegionLevel.TOWN, "330302")
    await add_region("330302001001", "五马社区", RegionLevel.COMMUNITY, "330302001", lat=28.015, lon=120.655)
    partner = await Partner.create(
        name="温州关爱服务社", kind="service_provider", status=PartnerStatus.APPROVED, region_id="330302"
    )
    offering = await Offering.create(
        partner=partner, need_id="HOME_CARE", title="上门照护", monthly_capacity=count * 2, radius_km=50
    )
    dispatcher = await create_user("bench.dispatch", PASSWORD, Role.DISPATCHER, partner_id=partner.id)
    await create_user("bench.worker", PASSWORD, Role.COMMUNITY_WORKER, region_code="330302001001")
    await create_user("bench.coord", PASSWORD, Role.COORDINATOR, region_code="330302")
    now = utc_now()
    preferences = (
        [ContactPreference.SMS] * 7 + [ContactPreference.VOICE] * 2 + [ContactPreference.COMMUNITY_WORKER]
    )
    for start in range(0, count, 2000):
        batch = range(start, min(count, start + 2000))
        await Household.bulk_create(
            [
                Household(
                    external_id=f"BENCH-{index}",
                    head_name=f"户主{index}",
                    phone=f"138{index:08d}",
                    address=f"五马街{index}号",
                    region_id="330302001001",
                    lat=28.015 + rng.uniform(-0.02, 0.02),
                    lon=120.655 + rng.uniform(-0.02, 0.02),
                    contact_preference=rng.choice(preferences),
                    accessibility=["BLIND"] if rng.random() < 0.05 else [],
                )
                for index in batch
            ]
        )
        await Volunteer.bulk_create(
            [
                Volunteer(
                    name=f"志愿者{index}",
                    phone=f"139{index:08d}",
                    region_id="330302001001",
                    skills=["CARE"],
                    home_lat=28.015,
                    home_lon=120.655,
                    max_travel_km=20,
                )
                for index in batch
            ]
        )
    households = await Household.all().order_by("id").values_list("id", flat=True)
    volunteers = await Volunteer.all().order_by("id").values_list("id", flat=True)
    connection = Tortoise.get_connection("default")
    holes = "$1, $2" if connection.capabilities.dialect == "postgres" else "?, ?"
    await connection.execute_many(
        f'INSERT INTO "volunteer_partner" ("volunteer_id", "partner_id") VALUES ({holes})',
        [[volunteer_id, partner.id] for volunteer_id in volunteers],
    )
    for start in range(0, count, 2000):
        await ServiceRequest.bulk_create(
            [
                ServiceRequest(
                    household_id=household_id,
                    need_id="HOME_CARE",
                    status=RequestStatus.CLAIMED,
                    active_key=f"{household_id}:HOME_CARE",
                    claimed_by_id=partner.id,
                    offering_id=offering.id,
                    claimed_at=now,
                )
                for household_id in households[start : start + 2000]
            ]
        )
    requests = await ServiceRequest.all().order_by("id").values_list("id", flat=True)
    return {
        "principal": await principal_for(dispatcher),
        "pairs": list(zip(requests, volunteers, strict=True)),
    }


def start_worker(environment: dict[str, str], log_path: Path) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    return subprocess.Popen(
        [sys.executable, "-m", "arq", "workers.settings.WorkerSettings"],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def kill(worker: subprocess.Popen) -> None:
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)


def read_journal(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            print(f"  unreadable journal line (cut by a kill?): {line[:80]!r}")
    return lines


async def bench(count: int, seed: int, database_url: str, work_dir: Path) -> None:
    os.environ["ALLIANCE_REMINDER_TIME_SCALE"] = repr(TIME_SCALE)
    await db.migrate(database_url)
    await db.connect(database_url)
    redis = start_embedded_redis(work_dir / "redis")
    journal = work_dir / "sent.jsonl"
    environment = dict(
        os.environ,
        DATABASE_URL=database_url,
        REDIS_URL=redis.url,
        PYTHONPATH=str(ROOT),
        ALLIANCE_REMINDER_TIME_SCALE=repr(TIME_SCALE),
        ALLIANCE_NOTIFICATION_PROVIDERS="alliance.notifications.providers:JournalProvider",
        ALLIANCE_NOTIFICATION_JOURNAL=str(journal),
    )
    workers: list[subprocess.Popen] = []
    try:
        await ensure_reference_data()
        started = time.perf_counter()
        world = await generate(count, seed)
        print(f"generated {count:,} claimed requests and volunteers in {time.perf_counter() - started:.1f} s")

        pool = await create_pool(RedisSettings.from_dsn(redis.url))

        async def enqueue(name: str, args: list[Any], job_id: str, defer_until: Any) -> None:
            await pool.enqueue_job(name, *args, _job_id=job_id, _defer_until=defer_until)

        logs = [work_dir / f"worker{number}.log" for number in range(3)]
        workers.append(start_worker(environment, logs[0]))
        kills_at = {count // 3, (2 * count) // 3}
        kill_times: list[float] = []
        due: dict[tuple[int, str], datetime] = {}
        visit_ids: list[int] = []
        schedule_started = time.perf_counter()
        for index, (request_id, volunteer_id) in enumerate(world["pairs"]):
            if index in kills_at:
                # Kill it in the middle of a job: wait (a few seconds at most) until one is running.
                for _attempt in range(100):
                    running = [key for key in await pool.keys("arq:in-progress:*") if b"cron:" not in key]
                    if running:
                        break
                    await asyncio.sleep(0.05)
                kill(workers[-1])
                kill_times.append(time.perf_counter())
                print(f"  SIGKILL worker {len(workers)} after {index:,} visits; starting another")
                workers.append(start_worker(environment, logs[len(workers)]))
            start = utc_now() + LEAD
            outcome = await schedule_visit(
                world["principal"], request_id, start, start + timedelta(hours=1), [volunteer_id]
            )
            # What the route does right after the commit.
            await outbox.relay(enqueue, job_ids=outcome.job_ids)
            visit_ids.append(outcome.visit.id)
            for kind in ReminderKind:
                due[(outcome.visit.id, str(kind))] = start - REMINDER_OFFSETS[kind] * TIME_SCALE
        schedule_seconds = time.perf_counter() - schedule_started
        await pool.aclose()
        print(
            f"scheduled {count:,} visits in {schedule_seconds:.1f} s: {count / schedule_seconds:.0f} visits/s "
            "(service, notices and reminder jobs in one transaction, relay to arq)"
        )

        expected_reminders = count * len(ReminderKind) * 2  # household and volunteer, each reminder
        # Wait until everything is done: all reminders written and nothing pending, or the queue
        # empty and nothing running (then what is missing is lost), or an hour at most.
        queue = await create_pool(RedisSettings.from_dsn(redis.url))
        deadline = time.monotonic() + LEAD.total_seconds() + 3600
        while time.monotonic() < deadline:
            await asyncio.sleep(2)
            reminders = await Notification.filter(kind__startswith="reminder_").count()
            pending = await Notification.filter(status=NotificationStatus.PENDING).count()
            waiting_jobs = await OutboxJob.filter(status="pending").count()
            if pending == 0 and waiting_jobs == 0:
                if reminders >= expected_reminders:
                    break
                queued = await queue.zcard("arq:queue")
                running = len(await queue.keys("arq:in-progress:*"))
                if queued == 0 and running == 0:
                    break
        await queue.aclose()
        finished = time.perf_counter()
        workers[-1].send_signal(signal.SIGTERM)
        workers[-1].wait(timeout=30)

        attempts = read_journal(journal)
        # The journal honours the idempotency key like a real gateway: an attempt under a key seen
        # before (a lease that ran out after the gateway took the message) is dropped, not sent.
        sent = [line for line in attempts if not line.get("duplicate")]
        dropped_attempts = len(attempts) - len(sent)
        by_id = Counter(line["id"] for line in sent)
        duplicated_ids = sum(times - 1 for times in by_id.values() if times > 1)
        messages = Counter((line["visit"], line["kind"], line["recipient"]) for line in sent)
        second_messages = sum(times - 1 for times in messages.values() if times > 1)
        # Each visit: one message to the household (in its channel, or to its community worker) and
        # one to the volunteer when scheduled, and the same pair for each reminder.
        expected = {"visit_scheduled": 1, "visit_booked": 1, "reminder_24h": 2, "reminder_2h": 2}
        recipients = Counter((visit, kind) for visit, kind, _recipient in messages)
        losses = {
            kind: sum(max(0, wanted - recipients[(visit_id, kind)]) for visit_id in visit_ids)
            for kind, wanted in expected.items()
        }
        still_pending = await Notification.filter(
            status__in=[NotificationStatus.PENDING, NotificationStatus.SENDING]
        ).count()
        marked_sent = await Notification.filter(status=NotificationStatus.SENT).count()
        log_text = "".join(path.read_text(errors="replace") for path in logs if path.exists())
        job_lines = [line for line in log_text.splitlines() if "cron:" not in line]
        started_jobs = sum(1 for line in job_lines if " → " in line)
        completed_jobs = sum(1 for line in job_lines if " ● " in line)
        retried = sum(1 for line in job_lines if " → " in line and " try=" in line)
        failed = [line for line in job_lines if " failed, " in line]
        retrying = sum(1 for line in job_lines if " ↻ " in line)
        lateness = sorted(
            (
                datetime.fromisoformat(line["at"])
                - due[(line["visit"], line["kind"].removeprefix("reminder_"))]
            ).total_seconds()
            for line in sent
            if line["kind"].startswith("reminder_")
            and (line["visit"], line["kind"].removeprefix("reminder_")) in due
        )
        wall = finished - schedule_started
        moments = sorted(datetime.fromisoformat(line["at"]) for line in sent)
        busy = (moments[-1] - moments[0]).total_seconds() if len(moments) > 1 else 0.0
        print(
            f"worker processes: {len(workers)} ({len(kill_times)} killed with SIGKILL); job runs that were "
            f"retries: {retried} (after an error: {retrying}); jobs failed for good: {len(failed)}"
        )
        for line in failed[:3]:
            print(f"  {line.strip()[:160]}")
        print(
            f"jobs: {completed_jobs:,} completed ({started_jobs:,} started) in {wall:.1f} s from the first visit "
            f"to the last reminder: {completed_jobs / wall:.0f} jobs/s; "
            f"{completed_jobs / busy if busy else 0:.0f} jobs/s over the {busy:.0f} s between the first and last message"
        )
        print(
            f"notifications sent: {len(sent):,} journalled by the gateway ({marked_sent:,} marked sent, "
            f"{still_pending} still pending); reminders "
            f"{sum(1 for line in sent if line['kind'].startswith('reminder_')):,} of {expected_reminders:,} expected"
        )
        if lateness:
            print(
                f"reminders went out after their due time: median {statistics.median(lateness):.2f} s, "
                f"p95 {lateness[int(len(lateness) * 0.95)]:.2f} s, max {lateness[-1]:.2f} s "
                f"(early: {sum(1 for seconds in lateness if seconds < -0.5)})"
            )
        print(
            f"duplicates: {duplicated_ids + second_messages} "
            f"(a message journalled twice: {duplicated_ids}, a second message for one visit, kind and recipient: {second_messages})"
        )
        print(
            f"resent after a lease ran out and dropped by the gateway's idempotency key: {dropped_attempts}"
        )
        print(f"losses: {sum(losses.values())} {losses}")
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
        await db.disconnect()
        redis.stop()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 20261127
    server = os.environ.get("DATABASE_URL", "")
    with tempfile.TemporaryDirectory(prefix="alliance-bench-reminders-") as directory:
        work_dir = Path(directory)
        if server.startswith(("postgres://", "postgresql://")):
            import asyncpg

            name = f"alliance_bench_{os.getpid()}"
            admin = server.replace("postgres://", "postgresql://", 1)

            async def admin_execute(statement: str) -> None:
                connection = await asyncpg.connect(admin)
                try:
                    await connection.execute(statement)
                finally:
                    await connection.close()

            asyncio.run(admin_execute(f'CREATE DATABASE "{name}"'))
            try:
                url = db.with_database(admin, name)
                print(f"PostgreSQL: {url}")
                asyncio.run(bench(count, seed, url, work_dir))
            finally:
                asyncio.run(admin_execute(f'DROP DATABASE IF EXISTS "{name}"'))
            return
        url = f"sqlite://{work_dir / 'bench.sqlite3'}"
        print(f"SQLite: {url}")
        asyncio.run(bench(count, seed, url, work_dir))


if __name__ == "__main__":
    main()
