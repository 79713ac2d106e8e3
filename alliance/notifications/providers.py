"""Delivery gateways per channel (SMS, voice, in-app): the Provider protocol, the development
providers, and the registry filled from ALLIANCE_NOTIFICATION_PROVIDERS."""

from __future__ import annotations

import fcntl
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
    """A gateway for one or more channels. `idempotency_key` is the same on every attempt at one
    notification: a gateway that honours it (an SMS API's idempotency or client-reference field)
    delivers a message resent after a lost answer or a killed worker once. Raise to refuse."""

    async def send(self, notification: Notification, idempotency_key: str) -> None: ...


class LogProvider:
    """No SMS or voice gateway is reachable here: the message stays in the outbox (the coordinators'
    page shows it); the log gets its ids only, never its body or recipient (personal data)."""

    async def send(self, notification: Notification, idempotency_key: str) -> None:
        logger.info(
            "notification handed to the log provider",
            extra={
                "fields": {
                    "notification_id": notification.id,
                    "idempotency_key": idempotency_key,
                    "channel": str(notification.channel),
                    "kind": notification.kind,
                    "user_id": notification.user_id,  # type: ignore[attr-defined]
                    "household_id": notification.household_id,  # type: ignore[attr-defined]
                }
            },
        )


class JournalProvider:
    """A development gateway that honours the idempotency key: each attempt is appended as one JSON
    line to the file named by ALLIANCE_NOTIFICATION_JOURNAL, and an attempt under a key journalled
    before is recorded with `"duplicate": true` (a real gateway would drop it). So what was
    delivered can be counted per key after the workers are gone (the kill tests and the reminders
    bench count losses and duplicates from it)."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path or os.environ["ALLIANCE_NOTIFICATION_JOURNAL"]
        self._seen: set[str] = set()
        self._read_up_to = 0

    async def send(self, notification: Notification, idempotency_key: str) -> None:
        # Several worker processes append to one journal: the file lock makes "seen before?" and
        # the append one step, and each process reads only what others appended since its last look.
        with open(self.path, "a+", encoding="utf-8") as journal:
            fcntl.flock(journal, fcntl.LOCK_EX)
            try:
                journal.seek(self._read_up_to)
                for line in journal.read().splitlines():
                    try:
                        self._seen.add(json.loads(line)["key"])
                    except (ValueError, KeyError):
                        continue  # a line cut by a killed writer
                duplicate = idempotency_key in self._seen
                line = json.dumps(
                    {
                        "id": notification.id,
                        "key": idempotency_key,
                        "duplicate": duplicate,
                        "channel": str(notification.channel),
                        "kind": notification.kind,
                        "visit": notification.visit_id,  # type: ignore[attr-defined]
                        "recipient": notification.recipient,
                        "dedupe_key": notification.dedupe_key,
                        "at": utc_now().isoformat(),
                        "pid": os.getpid(),
                    },
                    ensure_ascii=False,
                )
                journal.write(line + "\n")
                journal.flush()
                self._seen.add(idempotency_key)
                self._read_up_to = journal.tell()
            finally:
                fcntl.flock(journal, fcntl.LOCK_UN)


def journal_deliveries(path: str) -> dict[str, int]:
    """From a JournalProvider file: how many times each key was accepted (duplicates dropped), i.e.
    what a gateway honouring the key delivered: 1 per key, and every key sent is there."""
    delivered: dict[str, int] = {}
    with open(path, encoding="utf-8") as journal:
        for line in journal:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not entry.get("duplicate"):
                delivered[entry["key"]] = delivered.get(entry["key"], 0) + 1
    return delivered


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
