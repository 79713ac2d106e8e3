"""What happens around a visit besides the visit itself: the household and the volunteers are told
(in their channel and language), and reminders are planned 24 h and 2 h before the window.

`visit_changed` is called by the scheduling services INSIDE their transaction, so the notices and
the reminder jobs are written together with the change (the transactional outbox) or not at all.

Exactly once: a reminder's job id is "reminder:<visit>:v<schedule version>:<24h|2h>", so planning
twice plans once; the job re-reads the visit and does nothing when the version moved (the visit was
rescheduled or cancelled) or the visit is no longer scheduled; each message's dedupe key is the job
id plus the recipient, so a job retried after a crash writes no second row; and delivery claims
each row with a conditional update, so no row is sent twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from alliance.core.codes import HouseholdResponse, NotificationChannel, VisitStatus
from alliance.core.config import reminder_time_scale
from alliance.core.i18n import current_language
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.timeutil import utc_now
from alliance.households.models import Household
from alliance.matching.models import ServiceRequest
from alliance.notifications import outbox
from alliance.notifications.notifications import (
    Message,
    Outgoing,
    deliver_all,
    partner_staff,
    to_household,
    to_users,
    to_volunteer,
    write_notices,
)
from alliance.notifications.speech import spoken_datetime, spoken_time, written_window
from alliance.partners.models import Partner, Volunteer
from alliance.visits.models import Visit, VolunteerBooking

logger = logging.getLogger("alliance.visit_notices")


class VisitChange(StrEnum):
    SCHEDULED = "scheduled"
    MOVED = "moved"
    CANCELLED = "cancelled"
    VOLUNTEERS_CHANGED = "volunteers_changed"
    HOUSEHOLD_CONFIRMED = "household_confirmed"
    HOUSEHOLD_RESCHEDULE = "household_reschedule"
    HOUSEHOLD_DECLINED = "household_declined"


class ReminderKind(StrEnum):
    DAY_BEFORE = "24h"
    TWO_HOURS_BEFORE = "2h"


REMINDER_OFFSETS = {
    ReminderKind.DAY_BEFORE: timedelta(hours=24),
    ReminderKind.TWO_HOURS_BEFORE: timedelta(hours=2),
}


def reminder_job_id(visit_id: int, version: int, kind: ReminderKind | str) -> str:
    return f"reminder:{visit_id}:v{version}:{kind}"


def reminder_due(window_start: datetime, kind: ReminderKind | str, scale: float | None = None) -> datetime:
    """When the reminder goes out: its offset before the window, scaled by the time-compression
    setting (1 in production)."""
    scale = reminder_time_scale() if scale is None else scale
    return window_start - REMINDER_OFFSETS[ReminderKind(kind)] * scale


@dataclass
class VisitContext:
    """Everything a notice about one visit mentions, loaded once."""

    visit: Visit
    request: ServiceRequest
    household: Household
    partner: Partner
    volunteers: list[Volunteer]
    former_volunteers: list[Volunteer]

    @property
    def need(self) -> str:
        return label(str(self.request.need_id))  # type: ignore[attr-defined]

    def window(self) -> str:
        return written_window(self.visit.window_start, self.visit.window_end)

    def spoken(self) -> str:
        return spoken_datetime(self.visit.window_start, current_language())


async def visit_context(visit: Visit) -> VisitContext:
    request = await ServiceRequest.get(id=visit.request_id)  # type: ignore[attr-defined]
    household = await Household.get(id=request.household_id)  # type: ignore[attr-defined]
    partner = await Partner.get(id=visit.partner_id)  # type: ignore[attr-defined]
    bookings = await VolunteerBooking.filter(visit_id=visit.id).order_by("id").prefetch_related("volunteer")
    return VisitContext(
        visit=visit,
        request=request,
        household=household,
        partner=partner,
        volunteers=[booking.volunteer for booking in bookings if booking.active],
        former_volunteers=[booking.volunteer for booking in bookings if not booking.active],
    )


def _sentences(*sentences: str) -> str:
    """Whole translated sentences in a row: Chinese runs them together, English puts a space."""
    return ("" if current_language() == "zh_CN" else " ").join(sentences)


def _call_back(partner: Partner) -> str:
    if partner.contact_phone:
        return _("If the time does not suit you, please call {phone}.").format(phone=partner.contact_phone)
    return _("If the time does not suit you, please tell your community worker.")


# --- what each person is told ------------------------------------------------------------------------


def _household_message(context: VisitContext, kind: str) -> Message:
    """To the household: a short text, or short sentences for a voice call with the time in words."""

    def message(channel: NotificationChannel) -> str:
        partner, need = context.partner.name, context.need
        if channel == NotificationChannel.VOICE:
            when = context.spoken()
            greeting = _("Hello. This is the Caring Offered to Your Home service.")
            if kind == "visit_scheduled":
                text = _("{partner} will visit you at home on {when}. They come to help with {need}.")
                return _sentences(
                    greeting, text.format(partner=partner, when=when, need=need), _call_back(context.partner)
                )
            if kind == "visit_moved":
                text = _("The visit of {partner} has moved. The new time is {when}.")
                return _sentences(
                    greeting, text.format(partner=partner, when=when), _call_back(context.partner)
                )
            if kind == "visit_cancelled":
                text = _("The visit of {partner} on {when} is cancelled.")
                return _sentences(greeting, text.format(partner=partner, when=when))
            if kind == "reminder_24h":
                text = _("This is a reminder. {partner} will visit you on {when}.")
                return _sentences(greeting, text.format(partner=partner, when=when))
            text = _("{partner} will be at your door soon, at {time}.")
            time = spoken_time(context.visit.window_start, current_language())
            return _sentences(greeting, text.format(partner=partner, time=time))
        window = context.window()
        texts = {
            "visit_scheduled": _("{partner} will visit you {window} ({need})."),
            "visit_moved": _("{partner} moved your visit to {window} ({need})."),
            "visit_cancelled": _("{partner} cancelled the visit of {window} ({need})."),
            "reminder_24h": _("Reminder: {partner} visits you {window} ({need})."),
            "reminder_2h": _("Soon: {partner} visits you {window} ({need})."),
        }
        text = texts[kind].format(partner=partner, window=window, need=need)
        if kind in ("visit_scheduled", "visit_moved"):
            text = _sentences(text, _call_back(context.partner))
        return text

    return message


def _volunteer_message(context: VisitContext, kind: str) -> Message:
    def message(_channel: NotificationChannel) -> str:
        texts = {
            "visit_booked": _("You are booked: visit {name}, {address}, {window} ({need})."),
            "visit_moved": _("Visit moved: {name}, {address}, now {window} ({need})."),
            "visit_cancelled": _("Visit cancelled: {name}, {address}, {window}."),
            "visit_unbooked": _("You are no longer booked for the visit to {name}, {window}."),
            "reminder_24h": _("Reminder: visit {name}, {address}, {window} ({need})."),
            "reminder_2h": _("Soon: visit {name}, {address}, {window} ({need})."),
        }
        return texts[kind].format(
            name=context.household.head_name,
            address=context.household.address or "—",
            window=context.window(),
            need=context.need,
        )

    return message


def _staff_message(context: VisitContext, kind: str) -> Message:
    def message(_channel: NotificationChannel) -> str:
        texts = {
            "household_confirmed": _("{name} confirmed the visit of {window} (request #{request})."),
            "household_reschedule": _(
                "{name} asks to reschedule the visit of {window} (request #{request}): {note}"
            ),
            "household_declined": _("{name} declined the visit of {window} (request #{request}): {note}"),
        }
        return texts[kind].format(
            name=context.household.head_name,
            window=context.window(),
            request=context.request.id,
            note=context.visit.household_response_note or "—",
        )

    return message


async def _volunteers_told(context: VisitContext, volunteers: list[Volunteer], kind: str) -> list[Outgoing]:
    found: list[Outgoing] = []
    for volunteer in volunteers:
        found += await to_volunteer(volunteer, _volunteer_message(context, kind))
    return found


# --- the change notices --------------------------------------------------------------------------------


async def visit_changed(visit: Visit, change: VisitChange) -> list[str]:
    """Write the notices and plan the reminders for this change. Returns the outbox job ids
    written, for the caller to relay right after its commit (`web.jobs.relay_outbox`)."""
    context = await visit_context(visit)
    version = visit.schedule_version
    notices: list[int] = []
    # "You are booked" and "you are no longer booked" carry a dedupe key per visit and volunteer, so a
    # change of the team tells only the volunteers it concerns, once.
    booked, unbooked = f"visit:{visit.id}:booked", f"visit:{visit.id}:unbooked"
    if change == VisitChange.SCHEDULED:
        notices += await write_notices(
            await to_household(context.household, _household_message(context, "visit_scheduled")),
            kind="visit_scheduled",
            visit_id=visit.id,
        )
        notices += await write_notices(
            await _volunteers_told(context, context.volunteers, "visit_booked"),
            kind="visit_booked",
            visit_id=visit.id,
            dedupe_prefix=booked,
        )
    elif change == VisitChange.MOVED:
        notices += await write_notices(
            await to_household(context.household, _household_message(context, "visit_moved")),
            kind="visit_moved",
            visit_id=visit.id,
        )
        notices += await write_notices(
            await _volunteers_told(context, context.volunteers, "visit_moved"),
            kind="visit_moved",
            visit_id=visit.id,
            dedupe_prefix=f"visit:{visit.id}:v{version}:moved",
        )
    elif change == VisitChange.CANCELLED:
        notices += await write_notices(
            await to_household(context.household, _household_message(context, "visit_cancelled")),
            kind="visit_cancelled",
            visit_id=visit.id,
        )
        notices += await _tell_volunteers_cancelled(context)
    elif change == VisitChange.VOLUNTEERS_CHANGED:
        notices += await write_notices(
            await _volunteers_told(context, context.volunteers, "visit_booked"),
            kind="visit_booked",
            visit_id=visit.id,
            dedupe_prefix=booked,
        )
        notices += await write_notices(
            await _volunteers_told(context, context.former_volunteers, "visit_unbooked"),
            kind="visit_unbooked",
            visit_id=visit.id,
            dedupe_prefix=unbooked,
        )
    else:
        kind = {
            VisitChange.HOUSEHOLD_CONFIRMED: "household_confirmed",
            VisitChange.HOUSEHOLD_RESCHEDULE: "household_reschedule",
            VisitChange.HOUSEHOLD_DECLINED: "household_declined",
        }[change]
        staff = await partner_staff(context.partner.id)
        notices += await write_notices(
            to_users(staff, _staff_message(context, kind)), kind=kind, visit_id=visit.id
        )
        if change == VisitChange.HOUSEHOLD_DECLINED and visit.status == VisitStatus.CANCELLED:
            notices += await _tell_volunteers_cancelled(context)
    job_ids = []
    notices = list(dict.fromkeys(notices))
    if notices:
        # One delivery job for the change's notices; its id names exactly these rows.
        job = await outbox.add_job(
            "deliver_notifications",
            notices,
            job_id=f"notices:{visit.id}:{notices[0]}-{notices[-1]}:{len(notices)}",
        )
        job_ids.append(job.job_id)
    if visit.status == VisitStatus.SCHEDULED:
        # Every change that bumps the version (a move, a new team) needs the new version's reminders;
        # for the others the job ids exist already and nothing new is planned.
        job_ids += await plan_reminders(visit)
    return job_ids


async def _tell_volunteers_cancelled(context: VisitContext) -> list[int]:
    # Everyone who was on the visit hears it is off (the bookings may already be released).
    everyone = context.volunteers + context.former_volunteers
    return await write_notices(
        await _volunteers_told(context, everyone, "visit_cancelled"),
        kind="visit_cancelled",
        visit_id=context.visit.id,
        dedupe_prefix=f"visit:{context.visit.id}:v{context.visit.schedule_version}:cancelled",
    )


async def plan_reminders(visit: Visit, now: datetime | None = None) -> list[str]:
    """Plan the 24 h and 2 h reminders of the visit's current version as deferred outbox jobs (call
    inside the change's transaction). A reminder whose time has already passed is not planned: the
    scheduling notice just went out. Planning twice plans once (the job id is deterministic)."""
    now = now or utc_now()
    planned = []
    for kind in ReminderKind:
        due = reminder_due(visit.window_start, kind)
        if due <= now:
            continue
        job = await outbox.add_job(
            "send_visit_reminder",
            visit.id,
            visit.schedule_version,
            str(kind),
            job_id=reminder_job_id(visit.id, visit.schedule_version, kind),
            defer_until=due,
        )
        planned.append(job.job_id)
    return planned


# --- the reminder job ---------------------------------------------------------------------------------


@dataclass
class ReminderOutcome:
    written: list[int] = field(default_factory=list)
    sent: int = 0
    skipped: str = ""

    def as_json(self) -> dict[str, object]:
        return {"written": len(self.written), "sent": self.sent, "skipped": self.skipped}


async def send_visit_reminder(visit_id: int, version: int, kind: str) -> ReminderOutcome:
    """Remind the household and the volunteers of a visit, once. Does nothing when the visit moved
    (its version is not `version`), is no longer scheduled, or its window is over."""
    job_id = reminder_job_id(visit_id, version, kind)
    message_kind = f"reminder_{ReminderKind(kind)}"
    outcome = ReminderOutcome()
    # No transaction around the read and the write: the messages are one insert that skips rows
    # already written (so a rerun adds nothing), and a read-then-write transaction only invites
    # SQLite's "database is locked" when another process writes in between.
    visit = await Visit.get_or_none(id=visit_id)
    if visit is None:
        outcome.skipped = "gone"
    elif visit.schedule_version != version:
        outcome.skipped = "moved"
    elif visit.status != VisitStatus.SCHEDULED:
        outcome.skipped = str(visit.status)
    elif visit.window_end <= utc_now():
        # Late (the worker was down, the queue long) but the visit is still ahead or under way:
        # the reminder still helps; once the window is over it no longer does.
        outcome.skipped = "over"
    if outcome.skipped:
        logger.info("reminder %s: nothing to do (%s)", job_id, outcome.skipped)
        return outcome
    assert visit is not None
    context = await visit_context(visit)
    outgoing = await _volunteers_told(context, context.volunteers, message_kind)
    if visit.household_response != HouseholdResponse.DECLINED:
        outgoing = await to_household(context.household, _household_message(context, message_kind)) + outgoing
    outcome.written = await write_notices(
        outgoing, kind=message_kind, visit_id=visit.id, dedupe_prefix=job_id
    )
    # From here a crash leaves pending rows that a rerun (or the notification sweep) delivers; rows
    # already sent are not sent again.
    outcome.sent = await deliver_all(outcome.written)
    return outcome
