"""Worker heartbeats: each worker process writes the time of its last beat into one Redis hash every
few seconds, so /readyz and the admin page can tell a worker that stopped beating (killed, hung,
its host gone) from one that is alive. A worker that stops cleanly removes its entry."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alliance.core.timeutil import utc_now

HEARTBEATS_KEY = "alliance:worker-heartbeats"
# An entry silent for this long is dropped (a worker gone for good, e.g. a host retired).
FORGET_AFTER = timedelta(days=1)


def heartbeat_seconds() -> float:
    """ALLIANCE_WORKER_HEARTBEAT_SECONDS: how often a worker beats (default 10 s)."""
    return float(os.environ.get("ALLIANCE_WORKER_HEARTBEAT_SECONDS") or 10)


def silent_after() -> timedelta:
    """A worker with no beat for three intervals is reported as silent."""
    return timedelta(seconds=3 * heartbeat_seconds())


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class WorkerBeat:
    name: str
    last_beat: datetime
    seconds_ago: float
    silent: bool


async def beat(redis: Any, name: str, now: datetime | None = None) -> None:
    await redis.hset(HEARTBEATS_KEY, name, (now or utc_now()).isoformat())


async def forget(redis: Any, name: str) -> None:
    await redis.hdel(HEARTBEATS_KEY, name)


async def worker_beats(redis: Any, now: datetime | None = None) -> list[WorkerBeat]:
    """The workers known to Redis, the silent ones first; entries silent for a day are dropped."""
    now = now or utc_now()
    found = []
    for raw_name, raw_time in (await redis.hgetall(HEARTBEATS_KEY)).items():
        name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
        try:
            last = datetime.fromisoformat(raw_time.decode() if isinstance(raw_time, bytes) else raw_time)
        except ValueError:
            continue
        if now - last > FORGET_AFTER:
            await redis.hdel(HEARTBEATS_KEY, raw_name)
            continue
        age = (now - last).total_seconds()
        found.append(WorkerBeat(name, last, round(age, 1), now - last > silent_after()))
    return sorted(found, key=lambda beat: (not beat.silent, beat.name))
