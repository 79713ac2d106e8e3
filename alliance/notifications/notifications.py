"""The notification outbox: rows written in the same transaction as the change they announce, then
delivered by a worker through a pluggable provider. Delivery claims a row under a lease (a
conditional update), so a job that runs twice (retried, or enqueued by both the route and the sweep)
sends once, and a worker killed mid-send leaves a lease that expires and is delivered again under
the same idempotency key."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F, Q
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, visible
from alliance.core.codes import (
    Accessibility,
    ContactPreference,
    NotificationChannel,
    NotificationStatus,
    Role,
    TaskKind,
)
from alliance.core.config import delivery_lease_seconds
from alliance.core.i18n import DEFAULT_LANGUAGE, language
from alliance.core.i18n import gettext as _
from alliance.core.i18n import lazy_gettext as _l
from alliance.core.metrics import delivery_finished
from alliance.core.models import User
from alliance.core.timeutil import utc_now
from alliance.households.models import Household
from alliance.notifications.models import Notification
from alliance.notifications.providers import provider_for
from alliance.notifications.tasks import Subject, open_task
from alliance.partners.models import Volunteer

logger = logging.getLogger("alliance.notifications")

MAX_ATTEMPTS = 5


def delivery_job_id(notification_id: int) -> str:
    """One arq job id per notification: the route and the relay never queue it twice."""
    return f"notification:{notification_id}"


def idempotency_key(notification_id: int) -> str:
    """What the gateway deduplicates on: the same for every attempt at one notification."""
    return f"notification:{notification_id}"


async def claim_for_delivery(notification_id: int, now: datetime | None = None) -> Notification | None:
    """Take the row for one delivery attempt: pending, or sending under a lease that expired (its
    worker died in the gateway call). A conditional update, so of concurrent deliveries one wins."""
    now = now or utc_now()
    lease_until = now + timedelta(seconds=delivery_lease_seconds())
    claimable = Q(status=NotificationStatus.PENDING) | Q(
        status=NotificationStatus.SENDING, lease_until__lte=now
    )
    claimed = await Notification.filter(claimable, id=notification_id).update(
        status=NotificationStatus.SENDING, lease_until=lease_until, attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    return await Notification.get_or_none(id=notification_id, status=NotificationStatus.SENDING)


async def deliver_notification(notification_id: int) -> bool:
    """Send one notification if it is still pending (or its last attempt's lease ran out). True when
    the gateway accepted it in this call.

    At least once, never lost: the row is `sending` under a lease while the gateway call runs and
    becomes `sent` only after the gateway accepted. A worker killed before or during the call leaves
    the row `sending`; once the lease expires the relay delivers it again under the same idempotency
    key, so a gateway that honours the key sends it once (docs/operations.md)."""
    notification = await claim_for_delivery(notification_id)
    if notification is None:
        return False
    lease_until = notification.lease_until
    # Ours while the lease lasts: a delivery that outlived its lease (another took the row over)
    # writes nothing, and the taker's outcome stands.
    held = Notification.filter(id=notification_id, status=NotificationStatus.SENDING, lease_until=lease_until)
    started = time.perf_counter()
    try:
        # Give up well before the lease ends, so two attempts rarely overlap at the gateway.
        await asyncio.wait_for(
            provider_for(notification.channel).send(notification, idempotency_key(notification_id)),
            timeout=delivery_lease_seconds() / 2,
        )
    except Exception as error:
        give_up = notification.attempts >= MAX_ATTEMPTS
        await held.update(
            status=NotificationStatus.FAILED if give_up else NotificationStatus.PENDING,
            lease_until=None,
            error=f"{type(error).__name__}: {error}"[:255],
        )
        logger.warning(
            "notification %s failed (attempt %s): %s",
            notification_id,
            notification.attempts,
            type(error).__name__,
        )
        delivery_finished(
            notification.channel, "failed" if give_up else "retry", time.perf_counter() - started
        )
        return False
    await held.update(status=NotificationStatus.SENT, sent_at=utc_now(), lease_until=None, error="")
    delivery_finished(notification.channel, "sent", time.perf_counter() - started)
    return True


async def deliver_all(notification_ids: Iterable[int]) -> int:
    """Deliver each notification that is still pending; how many this call sent."""
    sent = 0
    for notification_id in notification_ids:
        sent += await deliver_notification(notification_id)
    return sent


async def pending_notification_ids(
    older_than: timedelta = timedelta(seconds=30), limit: int = 500
) -> list[int]:
    """Rows the relay should (re-)enqueue: pending ones whose first enqueue was lost or failed, and
    those whose delivery's lease expired (the worker died before the gateway answered)."""
    now = utc_now()
    return (
        await Notification.filter(
            Q(status=NotificationStatus.PENDING, created_at__lte=now - older_than)
            | Q(status=NotificationStatus.SENDING, lease_until__lte=now)
        )
        .order_by("id")
        .limit(limit)
        .values_list("id", flat=True)
    )


# --- who is told, in which channel and language ------------------------------------------------------

# The text of one message for a channel, written in the language active when it is called.
Message = Callable[[NotificationChannel], str]


@dataclass(frozen=True)
class Outgoing:
    """One message to write: to a user (in-app), a phone (SMS, voice) or both."""

    channel: NotificationChannel
    language: str
    body: str
    recipient: str
    # Part of the dedupe key: the same message to the same recipient is written once.
    key: str
    user_id: int | None = None
    household_id: int | None = None
    # A message for a household reached through this worker: also a "call household" task
    # (alliance/notifications/tasks.py) with these parameters.
    relay: dict | None = None


def _written(reader_language: str, message: Message, channel: NotificationChannel) -> str:
    with language(reader_language):
        return message(channel)


def household_channel(household: Household) -> NotificationChannel | None:
    """How a household hears from us: a voice call (its choice, and always when blind), a text
    message, or None: through its community worker (its choice, or it has no phone)."""
    if not household.phone or household.contact_preference == ContactPreference.COMMUNITY_WORKER:
        return None
    if household.contact_preference == ContactPreference.VOICE or Accessibility.BLIND in (
        household.accessibility or []
    ):
        return NotificationChannel.VOICE
    return NotificationChannel.SMS


async def community_workers_of(household: Household) -> list[User]:
    """The community workers of the household's community; when it has none, the coordinators
    above it, so a household without a phone is never left unreached."""
    workers = await User.filter(
        role=Role.COMMUNITY_WORKER,
        is_active=True,
        region_id=household.region_id,  # type: ignore[attr-defined]
    ).order_by("id")
    if workers:
        return workers
    region_path = (await Household.get(id=household.id).values_list("region__path", flat=True)) or ""
    return await coordinators_over(str(region_path))


def _chain(region_path: str) -> list[str]:
    """The paths of the region and of every region above it."""
    codes = [code for code in region_path.strip("/").split("/") if code]
    return ["/" + "/".join(codes[: depth + 1]) + "/" for depth in range(len(codes))]


async def coordinators_over(region_path: str) -> list[User]:
    """Coordinators whose region contains this one (the region's own chain up to the city)."""
    return await User.filter(
        role=Role.COORDINATOR, is_active=True, region__path__in=_chain(region_path)
    ).order_by("id")


async def coordinator_ids_over(
    region_paths: Iterable[str], connection: BaseDBAsyncClient | None = None
) -> dict[str, list[int]]:
    """`coordinators_over` for many regions in one query: per path, the coordinators' ids by id."""
    chains = {path: _chain(path) for path in set(region_paths)}
    if not chains:
        return {}
    found = await (
        User.filter(
            role=Role.COORDINATOR,
            is_active=True,
            region__path__in=sorted({prefix for chain in chains.values() for prefix in chain}),
        )
        .using_db(connection)
        .order_by("id")
        .values_list("id", "region__path")
    )
    return {
        path: [user_id for user_id, user_path in found if user_path in chain]
        for path, chain in chains.items()
    }


async def partner_staff(partner_id: int) -> list[User]:
    """The people who schedule for a partner: its administrators and dispatchers."""
    return await User.filter(
        partner_id=partner_id, role__in=[Role.PARTNER_ADMIN, Role.DISPATCHER], is_active=True
    ).order_by("id")


async def household_language(household: Household) -> str:
    """Households hear Chinese unless their own account chose another language."""
    chosen = await User.filter(household_id=household.id).values_list("language", flat=True)
    return next((found for found in chosen if found), DEFAULT_LANGUAGE)


async def to_household(household: Household, message: Message) -> list[Outgoing]:
    """The household's message in its channel; for a household reached through its community worker,
    an in-app notice to each worker saying whom to tell what."""
    if household_channel(household) is not None:
        return household_outgoing(household, message, await household_language(household), [])
    return household_outgoing(household, message, DEFAULT_LANGUAGE, await community_workers_of(household))


def household_outgoing(
    household: Household, message: Message, reader_language: str, workers: list[User]
) -> list[Outgoing]:
    """`to_household` once its reader's language (or, without a channel, its workers) is known."""
    channel = household_channel(household)
    if channel is not None:
        return [
            Outgoing(
                channel=channel,
                language=reader_language,
                body=_written(reader_language, message, channel),
                recipient=household.phone or "",
                key=f"hh{household.id}:{channel}",
                household_id=household.id,
            )
        ]

    def relayed(channel: NotificationChannel) -> str:
        return _("Please pass this on to {name} ({address}), who is reached through you: {message}").format(
            name=household.head_name,
            address=household.address or "—",
            message=message(NotificationChannel.SMS),
        )

    return [
        Outgoing(
            channel=NotificationChannel.IN_APP,
            language=worker.language or DEFAULT_LANGUAGE,
            body=_written(worker.language or DEFAULT_LANGUAGE, relayed, NotificationChannel.IN_APP),
            recipient=f"via {worker.username}"[:64],
            key=f"hh{household.id}:via{worker.id}",
            user_id=worker.id,
            household_id=household.id,
            relay={
                "name": household.head_name,
                "address": household.address,
                "household_id": household.id,
                "message": _written(worker.language or DEFAULT_LANGUAGE, message, NotificationChannel.SMS),
            },
        )
        for worker in workers
    ]


async def to_volunteer(volunteer: Volunteer, message: Message) -> list[Outgoing]:
    """In-app to the volunteer's account, and a text message to their phone."""
    account = await User.filter(volunteer_id=volunteer.id, is_active=True).first()
    return volunteer_outgoing(volunteer, message, account)


def volunteer_outgoing(volunteer: Volunteer, message: Message, account: User | None) -> list[Outgoing]:
    """`to_volunteer` once the volunteer's active account (or None) is known."""
    reader_language = (account.language if account else None) or DEFAULT_LANGUAGE
    found = []
    if account is not None:
        found.append(
            Outgoing(
                channel=NotificationChannel.IN_APP,
                language=reader_language,
                body=_written(reader_language, message, NotificationChannel.IN_APP),
                recipient=account.username[:64],
                key=f"vol{volunteer.id}:in_app",
                user_id=account.id,
            )
        )
    if volunteer.phone:
        found.append(
            Outgoing(
                channel=NotificationChannel.SMS,
                language=reader_language,
                body=_written(reader_language, message, NotificationChannel.SMS),
                recipient=volunteer.phone,
                key=f"vol{volunteer.id}:sms",
                user_id=account.id if account else None,
            )
        )
    return found


@dataclass
class Recipients:
    """What `to_household` and `to_volunteer` look up, loaded once for many households and
    volunteers (a batch of reminders): the same rules, a few queries instead of some per message."""

    languages: dict[int, str] = field(default_factory=dict)
    workers: dict[int, list[User]] = field(default_factory=dict)
    accounts: dict[int, User] = field(default_factory=dict)

    def household(self, household: Household, message: Message) -> list[Outgoing]:
        if household_channel(household) is not None:
            return household_outgoing(
                household, message, self.languages.get(household.id, DEFAULT_LANGUAGE), []
            )
        return household_outgoing(household, message, DEFAULT_LANGUAGE, self.workers.get(household.id, []))

    def volunteer(self, volunteer: Volunteer, message: Message) -> list[Outgoing]:
        return volunteer_outgoing(volunteer, message, self.accounts.get(volunteer.id))


async def recipients_of(households: Iterable[Household], volunteers: Iterable[Volunteer]) -> Recipients:
    """`Recipients` for these households and volunteers (each rule as in the functions above)."""
    households = list({household.id: household for household in households}.values())
    found = Recipients()
    reached = [household.id for household in households if household_channel(household) is not None]
    for start in range(0, len(reached), 500):
        chosen = (
            await User.filter(household_id__in=reached[start : start + 500])
            .order_by("id")
            .values_list("household_id", "language")
        )
        for household_id, chosen_language in chosen:
            if chosen_language and household_id not in found.languages:
                found.languages[household_id] = chosen_language
    through_workers = [household for household in households if household_channel(household) is None]
    regions = sorted({household.region_id for household in through_workers})  # type: ignore[attr-defined]
    by_region: dict[str, list[User]] = {}
    if regions:
        for worker in await User.filter(
            role=Role.COMMUNITY_WORKER, is_active=True, region_id__in=regions
        ).order_by("id"):
            by_region.setdefault(worker.region_id, []).append(worker)  # type: ignore[attr-defined]
    for household in through_workers:
        workers = by_region.get(household.region_id)  # type: ignore[attr-defined]
        # A community without workers: the coordinators above it (rare; one look-up each).
        found.workers[household.id] = workers or await community_workers_of(household)
    volunteer_ids = sorted({volunteer.id for volunteer in volunteers})
    for start in range(0, len(volunteer_ids), 500):
        accounts = await User.filter(
            volunteer_id__in=volunteer_ids[start : start + 500], is_active=True
        ).order_by("id")
        for account in accounts:
            found.accounts.setdefault(account.volunteer_id, account)  # type: ignore[attr-defined]
    return found


def to_users(users: Iterable[User], message: Message) -> list[Outgoing]:
    """In-app notices to staff (dispatchers, coordinators), each in the reader's language."""
    return [
        Outgoing(
            channel=NotificationChannel.IN_APP,
            language=user.language or DEFAULT_LANGUAGE,
            body=_written(user.language or DEFAULT_LANGUAGE, message, NotificationChannel.IN_APP),
            recipient=user.username[:64],
            key=f"user{user.id}",
            user_id=user.id,
        )
        for user in users
    ]


async def write_notices(
    outgoing: Iterable[Outgoing], *, kind: str, visit_id: int | None = None, dedupe_prefix: str | None = None
) -> list[int]:
    """Write the messages as pending notifications (call inside the change's transaction); returns
    their ids. With `dedupe_prefix` (a job id), each row's dedupe key is the prefix plus the
    recipient, and a row written before is kept: a job run twice writes each message once."""
    messages = list(outgoing)
    if not messages:
        return []
    if dedupe_prefix is None:
        await _open_call_tasks([item for item in messages if item.relay], visit_id)
        created = []
        for item in messages:
            row = await Notification.create(**_fields(item, kind, visit_id, None))
            created.append(row.id)
        return created
    notices = [KeyedNotice(item, kind, f"{dedupe_prefix}:{item.key}", visit_id) for item in messages]
    written = await write_keyed_notices(notices)
    return sorted({written[notice.key] for notice in notices})


@dataclass(frozen=True)
class KeyedNotice:
    """One message of a job that may run twice: written once under its dedupe key."""

    outgoing: Outgoing
    kind: str
    dedupe_key: str
    visit_id: int | None = None
    # The visit's start, when the caller has it (the relayed messages' call tasks fall due before it).
    visit_starts_at: datetime | None = None

    @property
    def key(self) -> str:
        return self.dedupe_key[:128]


async def write_keyed_notices(notices: list[KeyedNotice]) -> dict[str, int]:
    """Write many keyed messages at once (inside the job's transaction): a claim of their keys, one
    insert of the messages whose keys were free (those written before stay as they are), and one
    read of the ids. Returns each dedupe key's row id."""
    if not notices:
        return {}
    by_visit: dict[int | None, list[KeyedNotice]] = {}
    for notice in notices:
        if notice.outgoing.relay:
            by_visit.setdefault(notice.visit_id, []).append(notice)
    for visit_id, relayed in by_visit.items():
        await _open_call_tasks(
            [notice.outgoing for notice in relayed], visit_id, starts_at=relayed[0].visit_starts_at
        )
    ids: dict[str, int] = {}
    for start in range(0, len(notices), 500):
        chunk = notices[start : start + 500]
        keys = list(dict.fromkeys(notice.key for notice in chunk))
        # Keys and messages commit together (a savepoint in the caller's transaction): a key is
        # never taken without its message.
        async with in_transaction():
            ours = await claim_keys(keys)
            fresh = []
            for notice in chunk:
                if notice.key in ours:
                    ours.discard(notice.key)  # the first message under a key is the one written
                    fresh.append(
                        Notification(**_fields(notice.outgoing, notice.kind, notice.visit_id, notice.key))
                    )
            if fresh:
                await Notification.bulk_create(fresh)
        ids.update(await Notification.filter(dedupe_key__in=keys).values_list("dedupe_key", "id"))
    return ids


async def claim_keys(keys: list[str]) -> set[str]:
    """Claim these dedupe keys for messages about to be written (inside the transaction that writes
    them): the ones nobody had claimed, now ours. A key is claimed once across all time and all
    years (`NotificationKey`); a concurrent claim of the same key waits for the first to commit
    and then gets nothing, and a rolled back claim frees its keys."""
    if not keys:
        return set()
    connection = Tortoise.get_connection("default")
    postgres = connection.capabilities.dialect == "postgres"
    now = utc_now()
    claimed: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        if postgres:
            rows = ", ".join(f"(${number + 2}, $1)" for number in range(len(chunk)))
            values: list = [now, *chunk]
        else:
            rows = ", ".join(["(?, ?)"] * len(chunk))
            values = [value for key in chunk for value in (key, now)]
        found = await connection.execute_query_dict(
            f'INSERT INTO "notification_key" ("key", "created_at") VALUES {rows} '
            'ON CONFLICT DO NOTHING RETURNING "key"',
            values,
        )
        claimed.update(row["key"] for row in found)
    return claimed


# A worker should have called before this much of the time left to the visit is gone.
CALL_BEFORE_VISIT = timedelta(hours=3)


async def _open_call_tasks(
    relays: list[Outgoing], visit_id: int | None, starts_at: datetime | None = None
) -> None:
    """Each relayed message is also a task for the worker: call (or visit) the household before the
    visit. One open task per worker and visit (or household), its text following the latest message."""
    if not relays:
        return
    from alliance.visits.models import Visit  # models only: no area rule is imported

    if visit_id is not None and starts_at is None:
        starts_at = await Visit.filter(id=visit_id).first().values_list("window_start", flat=True)
    now = utc_now()
    due = now + timedelta(days=1)
    if starts_at is not None:
        due = max(starts_at - CALL_BEFORE_VISIT, min(starts_at, now + timedelta(hours=1)))
    for item in relays:
        params = dict(item.relay or {})
        params["starts_at"] = starts_at.isoformat() if starts_at else None
        subject = (
            Subject("visit", visit_id)
            if visit_id is not None
            else Subject("household", params["household_id"])
        )
        await open_task(item.user_id or 0, TaskKind.CALL_HOUSEHOLD, subject, due_at=due, params=params)


def _fields(item: Outgoing, kind: str, visit_id: int | None, dedupe_key: str | None) -> dict:
    return {
        "user_id": item.user_id,
        "household_id": item.household_id,
        "channel": item.channel,
        "kind": kind,
        "recipient": item.recipient,
        "visit_id": visit_id,
        "language": item.language,
        "body": item.body,
        "dedupe_key": dedupe_key,
    }


# --- the coordinators' view of the outbox -------------------------------------------------------------

_NOTICE_LABELS = {
    # delivery states
    NotificationStatus.PENDING: _l("Waiting to be sent"),
    NotificationStatus.SENDING: _l("Being sent"),
    NotificationStatus.SENT: _l("Sent"),
    NotificationStatus.FAILED: _l("Failed"),
    # channels
    NotificationChannel.SMS: _l("Text message"),
    NotificationChannel.VOICE: _l("Voice call"),
    NotificationChannel.IN_APP: _l("In the app"),
    # what a notice is about
    "visit_scheduled": _l("Visit scheduled"),
    "visit_moved": _l("Visit moved"),
    "visit_cancelled": _l("Visit cancelled"),
    "visit_booked": _l("Volunteer booked"),
    "visit_unbooked": _l("Volunteer released"),
    "household_confirmed": _l("Household confirmed"),
    "household_reschedule": _l("Household asks to reschedule"),
    "household_declined": _l("Household declined"),
    "reminder_24h": _l("Reminder, a day before"),
    "reminder_2h": _l("Reminder, two hours before"),
    "request_escalated": _l("Request escalated"),
    "visit_missed": _l("Visit missed"),
    "daily_digest": _l("Daily digest"),
    "service_confirmation": _l("Service to confirm"),
    "claim_churn": _l("Claims paused: many releases"),
    "claims_resumed": _l("Claims allowed again"),
    "consent_withdrawn": _l("Consent withdrawn"),
    "low_rating": _l("Low rating of a service"),
    "event_confirmation_request": _l("Event registration to confirm"),
    "request_served_by_event": _l("Request served by an event"),
    "inbound_reply": _l("A household's reply by text message or phone"),
    "request_closed_casework": _l("Request closed by the household's worker"),
    "regular_visit_overdue": _l("Regular visit overdue"),
    "regular_visit_escalated": _l("Regular visit overdue: escalated"),
    "regular_follow_up_overdue": _l("Risk follow-up past due"),
    "regular_follow_up_escalated": _l("Risk follow-up past due: escalated"),
    "new_matches": _l("New matches"),
    "transfer": _l("Transfer"),
    "unscheduled_claim": _l("Claim not yet scheduled"),
    "partner_status": _l("Organisation status"),
    "volunteer_deactivated": _l("Volunteer deactivated: visits to restaff"),
    # events (alliance/events/notices.py)
    "event_invitation": _l("Event invitation"),
    "event_registered": _l("Registered for an event"),
    "event_waitlisted": _l("On an event's waiting list"),
    "event_promoted": _l("Moved up from the waiting list"),
    "event_registration_cancelled": _l("Event registration cancelled"),
    "event_cancelled": _l("Event cancelled"),
    "event_moved": _l("Event times changed"),
    "event_reminder_24h": _l("Event reminder, a day before"),
    "event_reminder_2h": _l("Event reminder, two hours before"),
}


def notice_label(code: object) -> str:
    """The label of a delivery state, channel or kind on the outbox page."""
    found = _NOTICE_LABELS.get(str(code))
    return str(found) if found is not None else str(code)


@dataclass(frozen=True)
class OutboxFilters:
    status: str = ""
    channel: str = ""
    kind: str = ""
    page: int = 1


@dataclass(frozen=True)
class OutboxRow:
    notification_id: int
    created_at: datetime
    kind: str
    channel: str
    status: str
    recipient: str
    language: str
    body: str
    attempts: int
    error: str
    sent_at: datetime | None
    visit_id: int | None


@dataclass
class OutboxPage:
    rows: list[OutboxRow]
    total: int
    page: int
    pages: int
    filters: OutboxFilters
    by_status: dict[str, int] = field(default_factory=dict)
    kinds: list[str] = field(default_factory=list)


async def outbox_page(principal: Principal, filters: OutboxFilters, page_size: int = 50) -> OutboxPage:
    """The notifications the principal may see (a coordinator: about their region), newest first,
    with the count per delivery state."""
    scope = visible(principal, Action.VIEW_NOTIFICATIONS)
    query = scope
    if filters.status:
        query = query.filter(status=filters.status)
    if filters.channel:
        query = query.filter(channel=filters.channel)
    if filters.kind:
        query = query.filter(kind=filters.kind)
    total = await query.count()
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, filters.page), pages)
    rows = await query.order_by("-id").offset((page - 1) * page_size).limit(page_size)
    by_status = {
        str(row["status"]): row["count"]
        for row in await visible(principal, Action.VIEW_NOTIFICATIONS)
        .annotate(count=Count("id"))
        .group_by("status")
        .values("status", "count")
    }
    kinds = sorted(
        set(await visible(principal, Action.VIEW_NOTIFICATIONS).distinct().values_list("kind", flat=True))
        - {""}
    )
    return OutboxPage(
        rows=[
            OutboxRow(
                notification_id=row.id,
                created_at=row.created_at,
                kind=row.kind,
                channel=str(row.channel),
                status=str(row.status),
                recipient=row.recipient,
                language=row.language,
                body=row.body,
                attempts=row.attempts,
                error=row.error,
                sent_at=row.sent_at,
                visit_id=row.visit_id,  # type: ignore[attr-defined]
            )
            for row in rows
        ],
        total=total,
        page=page,
        pages=pages,
        filters=filters,
        by_status=by_status,
        kinds=kinds,
    )


async def messages_to(principal: Principal, limit: int = 10) -> list[Notification]:
    """The latest in-app messages addressed to the principal themselves, newest first."""
    return (
        await Notification.filter(user_id=principal.user_id, channel=NotificationChannel.IN_APP)
        .order_by("-created_at", "-id")
        .limit(limit)
    )
