"""A notification provider for the kill tests, loaded by a worker process through
ALLIANCE_NOTIFICATION_PROVIDERS=tests.stall_provider:StallOnceProvider: it journals every message
(alliance.notifications.providers.JournalProvider) and, the first time in any process, stalls right after the
gateway took the message, so the test can SIGKILL the worker in the middle of a job."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alliance.notifications.models import Notification
from alliance.notifications.providers import JournalProvider


class StallOnceProvider(JournalProvider):
    async def send(self, notification: Notification) -> None:
        await super().send(notification)
        try:
            Path(self.path + ".stalled").open("x").close()
        except FileExistsError:
            return
        await asyncio.sleep(600)
