"""Reminders at scale: a burst of visit reminders all due at once, delivered by real `arq` worker
processes (`workers.settings.WorkerSettings`, the production job functions), one worker and then two,
one of the two killed with SIGKILL in the middle and started again.

    .venv/bin/python bench/bench_reminders.py [visits] [seed]

Schedules `visits` (default 1,500) home visits two days ahead through the scheduling service (each
writes its notices and plans its two reminders in the job outbox in the visit's transaction), then
makes the reminders due *now*: the first half for one worker, the second half for two workers, one
of which is killed with SIGKILL a third of the way through and started again. The workers' reminder
sweep (a cron every 5 s) takes the due reminders in batches, writes their messages (household,
volunteer) and hands them to the gateway (alliance.notifications.providers.JournalProvider, which
honours the idempotency key like a real SMS gateway). The bench counts from the gateway's side:
- reminder messages per second with one and with two workers, and the time 100,000 reminder
  messages due in one hour would take (goal: two workers within the hour, with margin),
- duplicates (a key journalled twice, or two messages for one visit, reminder and recipient; goal 0),
- losses (a reminder message expected and never journalled; goal 0),
- the jobs the workers ran for them (a batch design runs far fewer jobs than messages).
The scheduling notices are not measured (marked sent before the workers start).
On a fresh temporary SQLite database and an embedded Redis by default; with
DATABASE_URL=postgres://... a fresh database alliance_bench_reminders_<pid> is made there and dropped
after; BENCH_REDIS_URL=redis://… uses that Redis (give it an empty database) instead of an embedded
one.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
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

GOAL_MESSAGES, GOAL_SECONDS = 100_000, 3600

from arq import create_pool  # noqa: E402
from arq.connections import RedisSettings  # noqa: E402
from tortoise import Tortoise  # noqa: E402

from alliance.core import db  # noqa: E402
from alliance.core.access import principal_for  # noqa: E402
from alliance.core.accounts import create_user  # noqa: E402
from alliance.core.codes import (  # noqa: E402
    ContactPreference,
    NotificationStatus,
    OutboxStatus,
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
from alliance.notifications.models import Notification, OutboxJob  # noqa: E402
from alliance.partners.models import Offering, Partner, Volunteer  # noqa: E402
from alliance.visits.notices import ReminderKind, reminder_job_id  # noqa: E402
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


def reminders_journalled(path: Path, visits: set[int]) -> list[dict[str, Any]]:
    return [
        line
        for line in read_journal(path)
        if line.get("kind", "").startswith("reminder_")
        and line.get("visit") in visits
        and not line.get("duplicate")
    ]


async def make_due(visit_ids: list[int]) -> int:
    """The planned reminders of these visits due now (the sweep takes them at its next run)."""
    job_ids = [reminder_job_id(visit_id, 1, kind) for visit_id in visit_ids for kind in ReminderKind]
    due = 0
    for start in range(0, len(job_ids), 500):
        due += await OutboxJob.filter(
            job_id__in=job_ids[start : start + 500], status=OutboxStatus.PLANNED
        ).update(defer_until=utc_now())
    return due


def jobs_run(logs: list[Path]) -> Counter:
    """The jobs the workers ran, by function (their JSON "job" lines, workers/observe.py)."""
    ran: Counter = Counter()
    for path in logs:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if '"job"' not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("message") == "job":
                ran[entry.get("function", "?")] += 1
    return ran


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} {five:.1f} {fifteen:.1f} on {os.cpu_count()} cores"


async def phase(
    label: str,
    workers_wanted: int,
    visit_ids: list[int],
    environment: dict[str, str],
    work_dir: Path,
    journal: Path,
    kill_one: bool,
) -> dict[str, Any]:
    visits = set(visit_ids)
    expected = len(visit_ids) * len(ReminderKind) * 2  # household and volunteer, each reminder
    queued = await make_due(visit_ids)
    logs = [work_dir / f"{label}-worker{number}.log" for number in range(workers_wanted + 1)]
    started = time.perf_counter()
    workers = [start_worker(environment, logs[number]) for number in range(workers_wanted)]
    killed_at = None
    steady_until = None
    try:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            done = len(
                {
                    (line["visit"], line["kind"], line["recipient"])
                    for line in reminders_journalled(journal, visits)
                }
            )
            if kill_one and killed_at is None and done >= expected // 3:
                workers[0].send_signal(signal.SIGKILL)
                workers[0].wait(timeout=10)
                killed_at = time.perf_counter()
                print(f"  SIGKILL one worker after {done:,} of {expected:,} messages; starting it again")
                workers.append(start_worker(environment, logs[-1]))
            if steady_until is None and done >= expected * 0.95:
                steady_until = time.perf_counter()
            if done >= expected:
                break
        finished = time.perf_counter()
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
    sent = reminders_journalled(journal, visits)
    moments = sorted(datetime.fromisoformat(line["at"]) for line in sent)
    first_to_95 = (
        (moments[int(len(moments) * 0.95) - 1] - moments[0]).total_seconds() if len(moments) > 20 else 0.0
    )
    rate = (len(moments) * 0.95) / first_to_95 if first_to_95 else 0.0
    log_text = "".join(path.read_text(errors="replace") for path in logs if path.exists())
    failed = [line for line in log_text.splitlines() if " failed, " in line and "cron:" not in line]
    ran = jobs_run(logs)
    print(
        f"{label}: {workers_wanted} worker(s), {queued:,} reminders due at once, {len(sent):,} of {expected:,} "
        f"reminder messages at the gateway in {finished - started:.1f} s (worker start included); "
        f"{rate:.0f} messages/s over the first 95% "
        f"-> 100,000 due in an hour would take {GOAL_MESSAGES / rate / 60 if rate else float('inf'):.1f} min "
        f"(goal: within {GOAL_SECONDS // 60} min); {load()}"
    )
    by_worker = Counter(line.get("pid") for line in sent)
    print(
        f"  jobs run: {sum(ran.values()):,} for {len(sent):,} messages "
        f"({', '.join(f'{name} {count}' for name, count in ran.most_common())}); "
        f"messages per worker process: {sorted(by_worker.values(), reverse=True)}"
    )
    if killed_at is not None:
        print(
            f"  the last messages came {finished - killed_at:.0f} s after the kill (the killed run's claim waits for its "
            f"lease, {environment['ALLIANCE_DELIVERY_LEASE_SECONDS']} s here, and the next sweep)"
        )
    for line in failed[:3]:
        print(f"  {line.strip()[:160]}")
    return {"rate": rate, "expected": expected}


async def bench(count: int, seed: int, database_url: str, work_dir: Path) -> None:
    print(f"cores: {os.cpu_count()}; {load()} (figures taken while other work shared them)")
    await db.migrate(database_url)
    await db.connect(database_url)
    redis_url = os.environ.get("BENCH_REDIS_URL")
    redis = None if redis_url else start_embedded_redis(work_dir / "redis")
    redis_url = redis_url or redis.url
    journal = work_dir / "sent.jsonl"
    environment = dict(
        os.environ,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        PYTHONPATH=str(ROOT),
        ALLIANCE_NOTIFICATION_PROVIDERS="alliance.notifications.providers:JournalProvider",
        ALLIANCE_NOTIFICATION_JOURNAL=str(journal),
        ALLIANCE_DELIVERY_LEASE_SECONDS="10",
    )
    try:
        if redis is None:
            pool = await create_pool(RedisSettings.from_dsn(redis_url))
            await pool.flushdb()
            await pool.aclose()
        await ensure_reference_data()
        started = time.perf_counter()
        world = await generate(count, seed)
        print(f"generated {count:,} claimed requests and volunteers in {time.perf_counter() - started:.1f} s")
        visit_ids: list[int] = []
        schedule_started = time.perf_counter()
        for request_id, volunteer_id in world["pairs"]:
            start = utc_now() + timedelta(days=2)
            outcome = await schedule_visit(
                world["principal"], request_id, start, start + timedelta(hours=1), [volunteer_id]
            )
            visit_ids.append(outcome.visit.id)
        schedule_seconds = time.perf_counter() - schedule_started
        print(
            f"scheduled {count:,} visits in {schedule_seconds:.1f} s: {count / schedule_seconds:.0f} visits/s"
        )
        # The scheduling notices are not what this bench measures.
        await Notification.filter(status=NotificationStatus.PENDING).update(status=NotificationStatus.SENT)
        await OutboxJob.filter(job_name="deliver_notifications").update(status=OutboxStatus.ENQUEUED)

        half = len(visit_ids) // 2
        one = await phase("one", 1, visit_ids[:half], environment, work_dir, journal, kill_one=False)
        two = await phase("two", 2, visit_ids[half:], environment, work_dir, journal, kill_one=True)
        if one["rate"]:
            print(
                f"two workers deliver {two['rate'] / one['rate']:.2f}x what one does (on {os.cpu_count()} cores)"
            )

        attempts = read_journal(journal)
        sent = [
            line
            for line in attempts
            if not line.get("duplicate") and line.get("kind", "").startswith("reminder_")
        ]
        by_key = Counter(line["key"] for line in sent)
        twice = sum(times - 1 for times in by_key.values() if times > 1)
        messages = Counter((line["visit"], line["kind"], line["recipient"]) for line in sent)
        second_messages = sum(times - 1 for times in messages.values() if times > 1)
        recipients = Counter((line["visit"], line["kind"]) for line in sent)
        lost = sum(
            max(0, 2 - recipients[(visit_id, f"reminder_{kind}")])
            for visit_id in visit_ids
            for kind in ReminderKind
        )
        dropped = sum(1 for line in attempts if line.get("duplicate"))
        print(
            f"duplicates: {twice + second_messages} (goal 0; a key twice: {twice}, a second message to one recipient: {second_messages})"
        )
        print(f"lost: {lost} (goal 0)")
        print(f"attempts after a kill dropped by the gateway's idempotency key: {dropped}")
    finally:
        await db.disconnect()
        if redis is not None:
            redis.stop()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_500
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 20261127
    server = os.environ.get("DATABASE_URL", "")
    with tempfile.TemporaryDirectory(prefix="alliance-bench-reminders-") as directory:
        work_dir = Path(directory)
        if server.startswith(("postgres://", "postgresql://")):
            import asyncpg

            name = f"alliance_bench_reminders_{os.getpid()}"
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
