"""Notification providers for the kill tests, loaded by a worker process through
ALLIANCE_NOTIFICATION_PROVIDERS=tests.stall_provider:StallOnceProvider (or
StallBeforeGatewayProvider): each journals every message like
alliance.notifications.providers.JournalProvider and, the first time in any process, stalls — right
after the gateway took the message (StallOnceProvider), or before it reached the gateway
(StallBeforeGatewayProvider) — so the test can SIGKILL the worker on either side of the call."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alliance.notifications.models import Notification
from alliance.notifications.providers import JournalProvider


def _first_stall(journal_path: str) -> bool:
    """True once across all processes: the marker file tells the test where the worker stands."""
    try:
        Path(journal_path + ".stalled").open("x").close()
    except FileExistsError:
        return False
    return True


class StallOnceProvider(JournalProvider):
    async def send(self, notification: Notification, idempotency_key: str) -> None:
        await super().send(notification, idempotency_key)
        if _first_stall(self.path):
            await asyncio.sleep(600)


class StallBeforeGatewayProvider(JournalProvider):
    async def send(self, notification: Notification, idempotency_key: str) -> None:
        if _first_stall(self.path):
            await asyncio.sleep(600)  # connecting, TLS: the gateway has not got the message yet
        await super().send(notification, idempotency_key)
