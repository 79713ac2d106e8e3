"""What households hear about events: the invitation, their registration (or place on the waiting
list, or the free place that came to them), a cancelled or moved event, and the reminders before
each session, each in the household's channel (voice for the blind, via the community worker).

Written inside the change's transaction (the transactional outbox), like alliance/visits/notices.py.

Reminders exactly once: one job per session and offset, "event-reminder:<session>:<start>:<24h|2h>";
the start time in the id is the session's version (a moved session has a new id, and the old job
finds the start changed and does nothing); the job writes each household's message with the job id
as dedupe prefix (a retried job writes no second row) and delivery claims each row once.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime

from tortoise.transactions import in_transaction

from alliance.core.codes import NotificationChannel, RegistrationStatus
from alliance.core.i18n import current_language
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import to_local, utc_now
from alliance.events.models import Event, EventSession, Registration
from alliance.households.models import Household
from alliance.notifications import outbox
from alliance.notifications.notifications import Message, Outgoing, deliver_all, to_household, write_notices
from alliance.notifications.speech import spoken_datetime, written_window
from alliance.partners.models import Partner
from alliance.visits.notices import ReminderKind, reminder_due

logger = logging.getLogger("alliance.event_notices")

INVITATION = "event_invitation"
REGISTERED = "event_registered"
WAITLISTED = "event_waitlisted"
PROMOTED = "event_promoted"
REGISTRATION_CANCELLED = "event_registration_cancelled"
EVENT_CANCELLED = "event_cancelled"
EVENT_MOVED = "event_moved"
# A partner registered the household (it says the household asked it to): the household confirms.
CONFIRMATION_REQUEST = "event_confirmation_request"
KINDS = (
    INVITATION,
    REGISTERED,
    WAITLISTED,
    PROMOTED,
    REGISTRATION_CANCELLED,
    EVENT_CANCELLED,
    EVENT_MOVED,
    CONFIRMATION_REQUEST,
)


def public_url(path: str) -> str:
    """A personal link for a text message: ALLIANCE_PUBLIC_URL (the site's address) and the path;
    empty when the address is not configured (the message then points to the community worker)."""
    base = os.environ.get("ALLIANCE_PUBLIC_URL", "").rstrip("/")
    return f"{base}{path}" if base else ""


@dataclass
class EventFacts:
    event: Event
    partner: Partner
    first: EventSession | None

    def when(self) -> str:
        if self.first is None:
            return "—"
        return written_window(self.first.starts_at, self.first.ends_at)

    def spoken(self) -> str:
        if self.first is None:
            return "—"
        return spoken_datetime(self.first.starts_at, current_language())


async def event_facts(event: Event) -> EventFacts:
    partner = await Partner.get(id=event.partner_id)  # type: ignore[attr-defined]
    first = await EventSession.filter(event_id=event.id).order_by("starts_at").first()
    return EventFacts(event, partner, first)


def _sentences(*sentences: str) -> str:
    return ("" if current_language() == "zh_CN" else " ").join(sentence for sentence in sentences if sentence)


def household_message(
    facts: EventFacts,
    kind: str,
    *,
    link: str = "",
    position: int | None = None,
    until: datetime | None = None,
) -> Message:
    """The household's message: short text, or short spoken sentences with the time in words."""

    def message(channel: NotificationChannel) -> str:
        event = facts.event
        title, venue, partner = event.title, event.venue, facts.partner.name
        voice = channel == NotificationChannel.VOICE
        when = facts.spoken() if voice else facts.when()
        greeting = _("Hello. This is the Caring Offered to Your Home service.") if voice else ""
        if kind == INVITATION:
            text = _("{partner} invites you to {title} at {venue}, starting {when}.").format(
                partner=partner, title=title, venue=venue, when=when
            )
            how = (
                _("To take part, open {link}").format(link=link)
                if link and not voice
                else _("To take part, tell your community worker.")
            )
            return _sentences(greeting, text, how)
        if kind == CONFIRMATION_REQUEST:
            deadline = ""
            if until is not None:
                deadline = (
                    spoken_datetime(until, current_language())
                    if voice
                    else to_local(until).strftime("%Y-%m-%d %H:%M")
                )
            text = _(
                "{partner} says you asked to take part in {title} at {venue}, starting {when}, "
                "and holds a place for you."
            ).format(partner=partner, title=title, venue=venue, when=when)
            how = (
                _("If you want it, confirm by {until}: open {link}").format(until=deadline, link=link)
                if link and not voice
                else _("If you want it, tell your community worker by {until}.").format(until=deadline)
            )
            return _sentences(greeting, text, how, _("Without your answer the place is given up."))
        if kind in (REGISTERED, PROMOTED):
            text = (
                _("A place became free: you are now registered for {title} at {venue}, starting {when}.")
                if kind == PROMOTED
                else _("You are registered for {title} at {venue}, starting {when}.")
            )
            return _sentences(greeting, text.format(title=title, venue=venue, when=when))
        if kind == WAITLISTED:
            text = _(
                "{title} is full. You are number {position} on the waiting list; "
                "we will tell you when a place is free."
            ).format(title=title, position=position or 1)
            return _sentences(greeting, text)
        if kind == REGISTRATION_CANCELLED:
            return _sentences(greeting, _("Your registration for {title} is cancelled.").format(title=title))
        if kind == EVENT_CANCELLED:
            text = _("{partner} has cancelled {title} ({when}).").format(
                partner=partner, title=title, when=when
            )
            return _sentences(greeting, text)
        if kind == EVENT_MOVED:
            text = _("{title} has new times: it now starts {when}.").format(title=title, when=when)
            return _sentences(greeting, text)
        # reminders
        text = (
            _("Reminder: {title} at {venue}, {when}.")
            if kind == "event_reminder_24h"
            else _("Soon: {title} at {venue}, {when}.")
        )
        return _sentences(greeting, text.format(title=title, venue=venue, when=when))

    return message


async def tell_household(
    facts: EventFacts,
    household: Household,
    kind: str,
    *,
    link: str = "",
    position: int | None = None,
    until: datetime | None = None,
    dedupe_prefix: str | None = None,
) -> list[int]:
    """Write one household's notice (inside the change's transaction); returns the notification ids."""
    outgoing: list[Outgoing] = await to_household(
        household, household_message(facts, kind, link=link, position=position, until=until)
    )
    return await write_notices(outgoing, kind=kind, dedupe_prefix=dedupe_prefix)


async def delivery_job(event_id: int, notification_ids: list[int]) -> list[str]:
    """One delivery job for a change's notices (inside the transaction); its id names these rows."""
    ids = list(dict.fromkeys(notification_ids))
    if not ids:
        return []
    job = await outbox.add_job(
        "deliver_notifications",
        ids,
        job_id=f"event-notices:{event_id}:{ids[0]}-{ids[-1]}:{len(ids)}",
    )
    return [job.job_id]


# --- reminders ------------------------------------------------------------------------------------


def session_reminder_job_id(session_id: int, starts_at: datetime, kind: ReminderKind | str) -> str:
    return f"event-reminder:{session_id}:{int(starts_at.timestamp())}:{ReminderKind(kind)}"


async def plan_session_reminders(sessions: list[EventSession], now: datetime | None = None) -> list[str]:
    """The 24 h and 2 h reminders of each session as deferred outbox jobs (inside the transaction
    that creates or moves the sessions). Planning twice plans once; a time already past is skipped."""
    now = now or utc_now()
    planned = []
    for session in sessions:
        for kind in ReminderKind:
            due = reminder_due(session.starts_at, kind)
            if due <= now:
                continue
            job = await outbox.add_job(
                "send_session_reminder",
                session.id,
                int(session.starts_at.timestamp()),
                str(kind),
                job_id=session_reminder_job_id(session.id, session.starts_at, kind),
                defer_until=due,
            )
            planned.append(job.job_id)
    return planned


@dataclass
class SessionReminderOutcome:
    written: list[int] = field(default_factory=list)
    sent: int = 0
    skipped: str = ""

    def as_json(self) -> dict[str, object]:
        return {"written": len(self.written), "sent": self.sent, "skipped": self.skipped}


async def send_session_reminder(session_id: int, starts_at_ts: int, kind: str) -> SessionReminderOutcome:
    """Remind every household registered (not waitlisted) for the session, once. Nothing when the
    session is gone or moved, the event is cancelled, or the session has begun."""
    reminder = ReminderKind(kind)
    outcome = SessionReminderOutcome()
    async with in_transaction():
        session = await EventSession.get_or_none(id=session_id)
        event = await Event.get_or_none(id=session.event_id) if session else None  # type: ignore[attr-defined]
        if session is None or event is None:
            outcome.skipped = "gone"
        elif int(session.starts_at.timestamp()) != int(starts_at_ts):
            outcome.skipped = "moved"
        elif event.status != "published":
            outcome.skipped = str(event.status)
        elif session.starts_at <= utc_now():
            outcome.skipped = "begun"
        if outcome.skipped:
            logger.info("session reminder %s/%s: nothing to do (%s)", session_id, kind, outcome.skipped)
            return outcome
        assert session is not None and event is not None
        job_id = session_reminder_job_id(session.id, session.starts_at, reminder)
        partner = await Partner.get(id=event.partner_id)  # type: ignore[attr-defined]
        facts = EventFacts(event, partner, session)
        registrations = await Registration.filter(
            event_id=event.id, status=RegistrationStatus.REGISTERED
        ).prefetch_related("household")
        outgoing: list[Outgoing] = []
        for registration in registrations:
            outgoing += await to_household(
                registration.household, household_message(facts, f"event_reminder_{reminder}")
            )
        outcome.written = await write_notices(
            outgoing, kind=f"event_reminder_{reminder}", dedupe_prefix=job_id
        )
    outcome.sent = await deliver_all(outcome.written)
    return outcome
