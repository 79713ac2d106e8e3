"""Delivery gateways per channel (SMS, voice, in-app): the Provider protocol, the development
providers, and the registry filled from ALLIANCE_NOTIFICATION_PROVIDERS."""

from __future__ import annotations

import importlib
import json
import logging
import os
from typing import Protocol

from alliance.core.codes import NotificationChannel
from alliance.core.timeutil import utc_now
from alliance.notifications.models import Notification

logger = logging.getLogger("alliance.notifications")


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


class JournalProvider:
    """A development gateway: each message is appended as one JSON line to the file named by
    ALLIANCE_NOTIFICATION_JOURNAL, so what was "sent" can be counted after the worker is gone
    (the reminders bench counts duplicates and losses from it)."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path or os.environ["ALLIANCE_NOTIFICATION_JOURNAL"]

    async def send(self, notification: Notification) -> None:
        line = json.dumps(
            {
                "id": notification.id,
                "channel": str(notification.channel),
                "kind": notification.kind,
                "visit": notification.visit_id,  # type: ignore[attr-defined]
                "recipient": notification.recipient,
                "dedupe_key": notification.dedupe_key,
                "at": utc_now().isoformat(),
            },
            ensure_ascii=False,
        )
        # One write of a short line in append mode: lines of concurrent workers do not interleave.
        with open(self.path, "a", encoding="utf-8") as journal:
            journal.write(line + "\n")
        await LogProvider().send(notification)


_providers: dict[str, Provider] = {}


def provider_for(channel: str) -> Provider:
    return _providers.get(channel) or LogProvider()


def register_provider(channel: NotificationChannel, provider: Provider) -> None:
    _providers[channel] = provider


def configure_providers(spec: str) -> None:
    """Providers from the settings (ALLIANCE_NOTIFICATION_PROVIDERS): "module:attr" for every
    channel, or "sms=module:attr,voice=module:attr". A class is instantiated without arguments."""
    for part in filter(None, (piece.strip() for piece in spec.split(","))):
        channel, _sep, path = part.rpartition("=")
        module_name, _colon, attribute = path.partition(":")
        try:
            provider = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError, ValueError) as error:
            raise ValueError(
                f"ALLIANCE_NOTIFICATION_PROVIDERS: {path!r} names no provider (module:attr, e.g. "
                f"alliance.notifications.providers:JournalProvider): {error}"
            ) from error
        if isinstance(provider, type):
            provider = provider()
        for name in [channel] if channel else list(NotificationChannel):
            register_provider(NotificationChannel(name), provider)
