"""Delivery in batches: one claim takes many notifications, the gateway gets each under its own
idempotency key (the notification id, as in `notifications.deliver_notification`), and one update
marks the accepted ones sent. For the jobs that send thousands at once (the visit reminders).

Exactly once as for a single row: the claim is one atomic `UPDATE … RETURNING` (on PostgreSQL over
`SELECT … FOR UPDATE SKIP LOCKED`, so two workers claim different rows) that puts every row it takes
under one lease; the sent mark applies only while that lease is ours. A worker killed anywhere
leaves rows `sending` whose lease runs out; `deliver_waiting` (or the notification relay) takes them
again and the gateway, keyed on the notification id, drops what it had already accepted. A row the
gateway refuses goes back to the single-row path: pending with its error (the relay retries it one
by one) or failed after `MAX_ATTEMPTS`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from tortoise import Tortoise

from alliance.core.codes import NotificationStatus
from alliance.core.config import delivery_lease_seconds
from alliance.core.metrics import delivery_finished
from alliance.core.timeutil import utc_now
from alliance.notifications.models import Notification
from alliance.notifications.notifications import MAX_ATTEMPTS, idempotency_key
from alliance.notifications.providers import provider_for

logger = logging.getLogger("alliance.notifications")

# Rows one claim takes (a worker killed in the gateway calls leaves at most these to be tried again,
# the gateway dropping those it had taken by their key), and gateway calls in flight at once (a
# networked gateway answers in tens of milliseconds: one at a time would cap a worker at a few dozen
# messages a second).
CLAIM_BATCH = 50
SENDS_AT_ONCE = 10


def batch_job_id(notification_ids: list[int]) -> str:
    """The arq job id of one relayed set of rows: the same set is queued once."""
    return f"notifications:{notification_ids[0]}-{notification_ids[-1]}:{len(notification_ids)}"


def _holes(connection: object, count: int, first: int) -> list[str]:
    if connection.capabilities.dialect == "postgres":  # type: ignore[attr-defined]
        return [f"${number}" for number in range(first, first + count)]
    return ["?"] * count


async def claim_batch(
    limit: int,
    *,
    ids: list[int] | None = None,
    kinds: list[str] | None = None,
    now: datetime | None = None,
) -> list[Notification]:
    """Take up to `limit` rows for one delivery attempt, all under one lease: among `ids`, those
    pending or whose lease ran out; without `ids`, the rows of `kinds` never tried yet or whose lease
    ran out (rows that failed wait for the relay's slower retries)."""
    now = now or utc_now()
    connection = Tortoise.get_connection("default")
    chosen = ids if ids is not None else kinds or []
    if not chosen:
        return []
    # Parameters in the order they appear (SQLite's "?" are positional).
    holes = _holes(connection, len(chosen) + 3, 1)
    lease, listed, expired, most = holes[0], ", ".join(holes[1:-2]), holes[-2], holes[-1]
    if ids is not None:
        scope, fresh = f'"id" IN ({listed})', "\"status\" = 'pending'"
    else:
        scope, fresh = f'"kind" IN ({listed})', '"status" = \'pending\' AND "attempts" = 0'
    lock = " FOR UPDATE SKIP LOCKED" if connection.capabilities.dialect == "postgres" else ""
    sql = (
        f'UPDATE "notification" SET "status" = \'sending\', "lease_until" = {lease}, '
        f'"attempts" = "attempts" + 1 WHERE "id" IN (SELECT "id" FROM "notification" WHERE {scope} '
        f'AND (({fresh}) OR ("status" = \'sending\' AND "lease_until" <= {expired})) '
        f'ORDER BY "id" LIMIT {most}{lock}) RETURNING "id"'
    )
    lease_until = now + timedelta(seconds=delivery_lease_seconds())
    claimed = await connection.execute_query_dict(sql, [lease_until, *chosen, now, limit])
    if not claimed:
        return []
    return await Notification.filter(id__in=[row["id"] for row in claimed]).order_by("id")


async def deliver_claimed(rows: list[Notification]) -> int:
    """Hand the claimed rows to their gateways (a few at once), then mark the accepted ones sent in
    one update and put each refused one back for a retry; how many were sent."""
    if not rows:
        return 0
    # Every call ends well before the lease does, so a takeover rarely meets a call still running.
    deadline = time.monotonic() + delivery_lease_seconds() / 2
    gate = asyncio.Semaphore(SENDS_AT_ONCE)

    async def send(row: Notification) -> tuple[float, BaseException | None]:
        async with gate:
            started = time.perf_counter()
            try:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the batch's time ran out before this message")
                await asyncio.wait_for(
                    provider_for(row.channel).send(row, idempotency_key(row.id)), timeout=remaining
                )
            except Exception as error:
                return time.perf_counter() - started, error
            return time.perf_counter() - started, None

    outcomes = await asyncio.gather(*(send(row) for row in rows))
    # Ours while the lease lasts (one lease for the claim): rows another delivery took over
    # meanwhile keep the taker's outcome.
    held = {"status": NotificationStatus.SENDING, "lease_until": rows[0].lease_until}
    sent = [row.id for row, (_seconds, error) in zip(rows, outcomes, strict=True) if error is None]
    for start in range(0, len(sent), 500):
        await Notification.filter(id__in=sent[start : start + 500], **held).update(
            status=NotificationStatus.SENT, sent_at=utc_now(), lease_until=None, error=""
        )
    for row, (seconds, error) in zip(rows, outcomes, strict=True):
        if error is None:
            delivery_finished(row.channel, "sent", seconds)
            continue
        give_up = row.attempts >= MAX_ATTEMPTS
        await Notification.filter(id=row.id, **held).update(
            status=NotificationStatus.FAILED if give_up else NotificationStatus.PENDING,
            lease_until=None,
            error=f"{type(error).__name__}: {error}"[:255],
        )
        logger.warning("notification %s failed (attempt %s): %s", row.id, row.attempts, type(error).__name__)
        delivery_finished(row.channel, "failed" if give_up else "retry", seconds)
    return len(sent)


async def deliver_batch(notification_ids: Iterable[int], batch: int = CLAIM_BATCH) -> int:
    """Deliver these notifications (those still pending, or left under a lease that ran out) a
    claim at a time; how many this call sent. Safe to run twice and side by side."""
    ids = list(dict.fromkeys(notification_ids))
    sent = 0
    for start in range(0, len(ids), batch):
        sent += await deliver_claimed(await claim_batch(batch, ids=ids[start : start + batch]))
    return sent


async def deliver_waiting(kinds: list[str], seconds: float, batch: int = CLAIM_BATCH) -> int:
    """Deliver the rows of these kinds that nobody is sending: written by a job killed before it
    handed them over, or handed over by one killed in the gateway call (their lease ran out). Claims
    until none is left or `seconds` have passed; how many were sent."""
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < seconds:
        rows = await claim_batch(batch, kinds=kinds)
        if not rows:
            break
        sent += await deliver_claimed(rows)
    return sent
