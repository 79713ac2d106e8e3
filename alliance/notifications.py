"""The notification outbox: rows written in the same transaction as the change they announce, then
delivered by a worker through a pluggable provider. Delivery is a conditional claim, so a job that
runs twice (retried, or enqueued by both the route and the sweep) sends once."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Protocol

from tortoise.expressions import F

from alliance.codes import NotificationChannel, NotificationStatus
from alliance.models import Notification
from alliance.timeutil import utc_now

logger = logging.getLogger("alliance.notifications")

MAX_ATTEMPTS = 5


class Provider(Protocol):
    async def send(self, notification: Notification) -> None: ...


class LogProvider:
    """No SMS or voice gateway is reachable here: the message is recorded in the outbox and the log."""

    async def send(self, notification: Notification) -> None:
        logger.info(
            "notification %s via %s to user=%s household=%s [%s]: %s",
            notification.id,
            notification.channel,
            notification.user_id,
            notification.household_id,
            notification.language,
            notification.body,
        )


_providers: dict[str, Provider] = {}


def provider_for(channel: str) -> Provider:
    return _providers.get(channel) or LogProvider()


def register_provider(channel: NotificationChannel, provider: Provider) -> None:
    _providers[channel] = provider


def delivery_job_id(notification_id: int) -> str:
    """One arq job id per notification: the route and the relay never queue it twice."""
    return f"notification:{notification_id}"


async def deliver_notification(notification_id: int) -> bool:
    """Send one notification if it is still pending. True when this call sent it."""
    # Claim first: of two concurrent deliveries only one turns pending into sent.
    claimed = await Notification.filter(id=notification_id, status=NotificationStatus.PENDING).update(
        status=NotificationStatus.SENT, sent_at=utc_now(), attempts=F("attempts") + 1
    )
    if not claimed:
        return False
    notification = await Notification.get(id=notification_id)
    try:
        await provider_for(notification.channel).send(notification)
    except Exception as error:
        give_up = notification.attempts >= MAX_ATTEMPTS
        await Notification.filter(id=notification_id).update(
            status=NotificationStatus.FAILED if give_up else NotificationStatus.PENDING,
            sent_at=None,
            error=f"{type(error).__name__}: {error}"[:255],
        )
        logger.warning("notification %s failed (attempt %s)", notification_id, notification.attempts)
        return False
    return True


async def pending_notification_ids(
    older_than: timedelta = timedelta(seconds=30), limit: int = 500
) -> list[int]:
    """Pending rows the relay should (re-)enqueue: those whose first enqueue was lost or failed."""
    cutoff = utc_now() - older_than
    return (
        await Notification.filter(status=NotificationStatus.PENDING, created_at__lte=cutoff)
        .order_by("id")
        .limit(limit)
        .values_list("id", flat=True)
    )
