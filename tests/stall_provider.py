"""Notification providers for the kill tests, loaded by a worker process through
ALLIANCE_NOTIFICATION_PROVIDERS=tests.stall_provider:StallOnceProvider (or
StallBeforeGatewayProvider, StallMidBatchProvider): each journals every message like
alliance.notifications.providers.JournalProvider and, the first time in any process, stalls — right
after the gateway took the message (StallOnceProvider), or before it reached the gateway
(StallBeforeGatewayProvider) — so the test can SIGKILL the worker on either side of the call."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from alliance.notifications.models import Notification
from alliance.notifications.providers import JournalProvider


def _first_stall(journal_path: str) -> bool:
    """True once across all processes: the marker file (holding the stalled process's id) tells the
    test where the worker stands, and which one to kill."""
    try:
        with Path(journal_path + ".stalled").open("x") as marker:
            marker.write(str(os.getpid()))
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


class StallMidBatchProvider(JournalProvider):
    """The Nth message this process hands over (ALLIANCE_TEST_STALL_AT) stalls before the gateway
    gets it, once across processes: the worker is killed in the middle of a batch."""

    def __init__(self) -> None:
        super().__init__()
        self.handed = 0
        self.stall_at = int(os.environ.get("ALLIANCE_TEST_STALL_AT") or 1)

    async def send(self, notification: Notification, idempotency_key: str) -> None:
        self.handed += 1
        if self.handed == self.stall_at and _first_stall(self.path):
            await asyncio.sleep(600)
        await super().send(notification, idempotency_key)
