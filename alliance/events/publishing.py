"""Publishing events: publish, edit and cancel.

Events are training courses (several sessions) and job fairs (one day, with employers and their
jobs) that a partner runs at a venue from one of its venue offerings.
"""

from __future__ import annotations

from datetime import datetime

from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, require
from alliance.core.audit import record
from alliance.core.codes import RegistrationStatus
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import utc_now
from alliance.events import notices as event_notices
from alliance.events.codes import EventError, EventOutcome, EventStatus
from alliance.events.forms import EventForm, parse_event
from alliance.events.invitations import _plan_invitations
from alliance.events.models import Attendance, Event, EventSession, Registration
from alliance.events.registrations import _fill_free_seats, _locked_event, _tell_promoted
from alliance.visits.windows import as_utc


async def publish_event(
    principal: Principal, form: EventForm, *, now: datetime | None = None
) -> EventOutcome:
    """Publish an event from one of the partner's venue offerings: its sessions, the invitation job
    and the session reminders are written in the same transaction."""
    require(principal, Action.MANAGE_EVENTS)
    if principal.partner_id is None:
        raise InvalidInput({"offering_id": _("Only partner staff publish events.")})
    parsed = await parse_event(principal.partner_id, form, now=now)
    async with in_transaction():
        event = await Event.create(
            partner_id=principal.partner_id, created_by_id=principal.user_id, **parsed["values"]
        )
        sessions = [
            await EventSession.create(event_id=event.id, starts_at=starts, ends_at=ends)
            for starts, ends in parsed["sessions"]
        ]
        job_ids = await _plan_invitations(event)
        job_ids += await event_notices.plan_session_reminders(sessions, now)
        await record(principal, "event.publish", "event", event.id, {"title": event.title})
    return EventOutcome(event, job_ids)


async def update_event(
    principal: Principal, event_id: int, form: EventForm, *, now: datetime | None = None
) -> EventOutcome:
    """Edit a published event. New session times (allowed until attendance is recorded) replace the
    sessions, re-plan the reminders and tell the registered; more seats move the waiting list up."""
    require(principal, Action.MANAGE_EVENTS)
    event = await get_visible(principal, Action.MANAGE_EVENTS, event_id)
    if event.status != EventStatus.PUBLISHED:
        raise EventError(_("This event is cancelled."))
    parsed = await parse_event(event.partner_id, form, now=now, existing=event)  # type: ignore[attr-defined]
    async with in_transaction():
        event = await _locked_event(event.id)
        if parsed["values"]["seats"] < event.seats_taken:
            raise InvalidInput(
                {
                    "seats": _(
                        "{count} people are registered already: keep at least that many seats."
                    ).format(count=event.seats_taken)
                }
            )
        old_sessions = await EventSession.filter(event_id=event.id).order_by("starts_at")
        old_times = [(as_utc(s.starts_at), as_utc(s.ends_at)) for s in old_sessions]
        job_ids: list[str] = []
        notices: list[int] = []
        for name, value in parsed["values"].items():
            setattr(event, name, value)
        await event.save()
        if parsed["sessions"] != old_times:
            if await Attendance.filter(session__event_id=event.id).exists():
                raise InvalidInput(
                    {"sessions": _("Attendance is recorded already: the sessions can no longer change.")}
                )
            await EventSession.filter(event_id=event.id).delete()
            sessions = [
                await EventSession.create(event_id=event.id, starts_at=starts, ends_at=ends)
                for starts, ends in parsed["sessions"]
            ]
            job_ids += await event_notices.plan_session_reminders(sessions, now)
            facts = await event_notices.event_facts(event)
            for registration in await Registration.filter(
                event_id=event.id, status__in=[RegistrationStatus.REGISTERED, RegistrationStatus.WAITLISTED]
            ).prefetch_related("household"):
                notices += await event_notices.tell_household(
                    facts, registration.household, event_notices.EVENT_MOVED
                )
        promoted = await _fill_free_seats(event)
        notices += await _tell_promoted(event, promoted)
        job_ids += await _plan_invitations(event)
        job_ids += await event_notices.delivery_job(event.id, notices)
        await record(principal, "event.update", "event", event.id, {"title": event.title})
    return EventOutcome(event, job_ids)


async def cancel_event(principal: Principal, event_id: int, reason: str = "") -> EventOutcome:
    """Call the event off: every registration and waiting-list place ends, everyone is told."""
    require(principal, Action.MANAGE_EVENTS)
    event = await get_visible(principal, Action.MANAGE_EVENTS, event_id)
    return await call_off_event(principal, event.id, reason)


async def call_off_event(principal: Principal, event_id: int, reason: str = "") -> EventOutcome:
    """Cancel an event the caller's rules decided on (the event's partner cancels it, or a
    coordinator suspends the partner): every registration and waiting-list place ends, every
    household is told. Runs in the caller's transaction when there is one."""
    async with in_transaction():
        event = await _locked_event(event_id)
        if event.status == EventStatus.CANCELLED:
            return EventOutcome(event, [], changed=False)
        active = await Registration.filter(
            event_id=event.id, status__in=[RegistrationStatus.REGISTERED, RegistrationStatus.WAITLISTED]
        ).prefetch_related("household")
        now = utc_now()
        await Registration.filter(id__in=[r.id for r in active]).update(
            status=RegistrationStatus.CANCELLED,
            waitlist_position=None,
            cancelled_at=now,
            cancel_reason=(reason.strip() or "event cancelled")[:255],
            updated_at=now,
        )
        await Event.filter(id=event.id).update(status=EventStatus.CANCELLED, seats_taken=0, updated_at=now)
        await event.refresh_from_db()
        facts = await event_notices.event_facts(event)
        notices: list[int] = []
        for registration in active:
            notices += await event_notices.tell_household(
                facts,
                registration.household,
                event_notices.EVENT_CANCELLED,
                dedupe_prefix=f"event:{event.id}:cancelled",
            )
        job_ids = await event_notices.delivery_job(event.id, notices)
        await record(principal, "event.cancel", "event", event.id, {"reason": reason.strip()})
    return EventOutcome(event, job_ids)
