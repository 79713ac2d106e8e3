"""What happens around a visit besides the visit itself: the household and the volunteers are told
(in their channel and language), and reminders are planned 24 h and 2 h before the window.

`visit_changed` is called by the scheduling services INSIDE their transaction, so the notices and
the reminder jobs are written together with the change (the transactional outbox) or not at all.

Exactly once: a reminder's job id is "reminder:<visit>:v<schedule version>:<24h|2h>", so planning
twice plans once. The reminder waits in the job outbox until its time, when the reminder sweep takes
it with the others due, a batch per transaction that writes their messages and marks them done; the
sweep re-reads the visit and writes nothing when the version moved (the visit was rescheduled or
cancelled) or the visit is no longer scheduled; each message's dedupe key is the job id plus the
recipient, so a batch written again after a crash writes no second row; and delivery claims rows
with a conditional update under a lease, so no row is sent twice (docs/scale.md, "Reminders").
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from tortoise.transactions import in_transaction

from alliance.core.codes import HouseholdResponse, NotificationChannel, VisitStatus
from alliance.core.config import reminder_batch_size, reminder_time_scale
from alliance.core.i18n import current_language
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.timeutil import utc_now
from alliance.households.models import Household
from alliance.matching.models import ServiceRequest
from alliance.notifications import outbox
from alliance.notifications.delivery import deliver_batch, deliver_waiting
from alliance.notifications.models import OutboxJob
from alliance.notifications.notifications import (
    KeyedNotice,
    Message,
    Outgoing,
    partner_staff,
    recipients_of,
    to_household,
    to_users,
    to_volunteer,
    write_keyed_notices,
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


async def visit_contexts(visits: list[Visit]) -> dict[int, VisitContext]:
    """`visit_context` for many visits, in five queries whatever their number."""
    if not visits:
        return {}
    requests = {
        request.id: request
        for request in await ServiceRequest.filter(id__in={visit.request_id for visit in visits})  # type: ignore[attr-defined]
    }
    households = {
        household.id: household
        for household in await Household.filter(
            id__in={request.household_id for request in requests.values()}
        )  # type: ignore[attr-defined]
    }
    partners = {
        partner.id: partner
        for partner in await Partner.filter(id__in={visit.partner_id for visit in visits})  # type: ignore[attr-defined]
    }
    bookings: dict[int, list[VolunteerBooking]] = {}
    for booking in (
        await VolunteerBooking.filter(visit_id__in=[visit.id for visit in visits])
        .order_by("id")
        .prefetch_related("volunteer")
    ):
        bookings.setdefault(booking.visit_id, []).append(booking)  # type: ignore[attr-defined]
    contexts = {}
    for visit in visits:
        request = requests[visit.request_id]  # type: ignore[attr-defined]
        booked = bookings.get(visit.id, [])
        contexts[visit.id] = VisitContext(
            visit=visit,
            request=request,
            household=households[request.household_id],  # type: ignore[attr-defined]
            partner=partners[visit.partner_id],  # type: ignore[attr-defined]
            volunteers=[booking.volunteer for booking in booked if booking.active],
            former_volunteers=[booking.volunteer for booking in booked if not booking.active],
        )
    return contexts


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
    """Plan the 24 h and 2 h reminders of the visit's current version in the job outbox (call inside
    the change's transaction): each waits there until its time, when the reminder sweep takes it with
    the others due (`send_due_reminders`). A reminder whose time has already passed is not planned:
    the scheduling notice just went out. Planning twice plans once (the job id is deterministic)."""
    now = now or utc_now()
    planned = []
    for kind in ReminderKind:
        due = reminder_due(visit.window_start, kind)
        if due <= now:
            continue
        job = await outbox.plan_job(
            REMINDER_JOB,
            visit.id,
            visit.schedule_version,
            str(kind),
            job_id=reminder_job_id(visit.id, visit.schedule_version, kind),
            due=due,
        )
        planned.append(job.job_id)
    return planned


# --- the reminders: written and sent in batches -------------------------------------------------------

# The outbox rows of the reminders (args: visit id, schedule version, kind). Rows planned before the
# batches are arq jobs of this name (workers/jobs.py): each runs `send_visit_reminder`.
REMINDER_JOB = "send_visit_reminder"
REMINDER_KINDS = [f"reminder_{kind}" for kind in ReminderKind]
# How long one sweep keeps taking batches (ALLIANCE_REMINDER_BATCH reminders each): the cron starts
# another every few seconds, so during a burst runs overlap and the workers take different batches.
SWEEP_SECONDS = 20.0


@dataclass(frozen=True)
class DueReminder:
    visit_id: int
    version: int
    kind: str

    @property
    def job_id(self) -> str:
        return reminder_job_id(self.visit_id, self.version, self.kind)


@dataclass
class ReminderOutcome:
    written: list[int] = field(default_factory=list)
    sent: int = 0
    skipped: str = ""

    def as_json(self) -> dict[str, object]:
        return {"written": len(self.written), "sent": self.sent, "skipped": self.skipped}


async def send_visit_reminder(visit_id: int, version: int, kind: str) -> ReminderOutcome:
    """Remind the household and the volunteers of one visit, once (a batch of one: the arq jobs
    planned before the batches, and tests). Does nothing when the visit moved (its version is not
    `version`), is no longer scheduled, or its window is over."""
    async with in_transaction():
        [outcome] = await write_reminders([DueReminder(visit_id, version, str(kind))])
    outcome.sent = await deliver_batch(outcome.written)
    return outcome


def _skipped(visit: Visit | None, version: int, now: datetime) -> str:
    if visit is None:
        return "gone"
    if visit.schedule_version != version:
        return "moved"
    if visit.status != VisitStatus.SCHEDULED:
        return str(visit.status)
    if visit.window_end <= now:
        # Late (the worker was down, the queue long) but the visit is still ahead or under way:
        # the reminder still helps; once the window is over it no longer does.
        return "over"
    return ""


async def write_reminders(due: list[DueReminder]) -> list[ReminderOutcome]:
    """Write the messages of many reminders at once (call inside a transaction): the visits, their
    requests, households, partners, volunteers and recipients are read in a few queries, and every
    message is one row of one insert that keeps rows written before (its dedupe key is the reminder's
    job id plus the recipient), so a batch written twice writes each message once. A reminder whose
    visit moved, was cancelled or is over writes nothing. Returns an outcome per reminder, in order."""
    now = utc_now()
    visits = {visit.id: visit for visit in await Visit.filter(id__in={item.visit_id for item in due})}
    outcomes = [
        ReminderOutcome(skipped=_skipped(visits.get(item.visit_id), item.version, now)) for item in due
    ]
    for item, outcome in zip(due, outcomes, strict=True):
        if outcome.skipped:
            logger.info("reminder %s: nothing to do (%s)", item.job_id, outcome.skipped)
    contexts = await visit_contexts(
        [visits[item.visit_id] for item, outcome in zip(due, outcomes, strict=True) if not outcome.skipped]
    )
    recipients = await recipients_of(
        [context.household for context in contexts.values()],
        [volunteer for context in contexts.values() for volunteer in context.volunteers],
    )
    notices: list[KeyedNotice] = []
    spans: list[tuple[int, int]] = []
    for item, outcome in zip(due, outcomes, strict=True):
        first = len(notices)
        if not outcome.skipped:
            context = contexts[item.visit_id]
            message_kind = f"reminder_{ReminderKind(item.kind)}"
            outgoing = [
                message
                for volunteer in context.volunteers
                for message in recipients.volunteer(volunteer, _volunteer_message(context, message_kind))
            ]
            if context.visit.household_response != HouseholdResponse.DECLINED:
                outgoing = (
                    recipients.household(context.household, _household_message(context, message_kind))
                    + outgoing
                )
            notices += [
                KeyedNotice(
                    message,
                    message_kind,
                    f"{item.job_id}:{message.key}",
                    item.visit_id,
                    context.visit.window_start,
                )
                for message in outgoing
            ]
        spans.append((first, len(notices)))
    written = await write_keyed_notices(notices)
    for outcome, (first, last) in zip(outcomes, spans, strict=True):
        outcome.written = list(dict.fromkeys(written[notice.key] for notice in notices[first:last]))
    return outcomes


@dataclass
class ReminderSweep:
    reminders: int = 0
    batches: int = 0
    written: int = 0
    sent: int = 0

    def as_json(self) -> dict[str, int]:
        return {
            "reminders": self.reminders,
            "batches": self.batches,
            "written": self.written,
            "sent": self.sent,
        }


async def send_due_reminders(batch: int | None = None, seconds: float = SWEEP_SECONDS) -> ReminderSweep:
    """The reminder sweep (a cron every few seconds, on every worker): take the planned reminders
    whose time has come, `batch` at a time, write their messages and mark them done in one
    transaction, then deliver those messages in batches; until none is due or `seconds` have passed.
    Then deliver the reminder messages a killed sweep left behind (written but never handed over, or
    handed over under a lease that ran out).

    Killed before a batch's commit, the sweep leaves its reminders due (the next sweep takes them);
    after it, pending messages (taken by `deliver_waiting`); in the gateway call, messages under a
    lease (taken again when it runs out, under the same idempotency key). Nothing is lost, and the
    gateway gets each message once."""
    batch = batch or reminder_batch_size()
    sweep = ReminderSweep()
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        taken: list[int] = []
        try:
            async with in_transaction():
                jobs = await outbox.take_due_jobs(REMINDER_JOB, batch)
                taken = [job.id for job in jobs]
                outcomes = await write_reminders([DueReminder(*job.args) for job in jobs])
                await outbox.mark_done(jobs)
        except Exception as error:
            if not taken:
                raise
            # One reminder that cannot be written must not hold up the others: this batch again,
            # one reminder a transaction; the one that fails waits and is tried again later.
            logger.warning("reminder batch failed, writing it one by one: %s", type(error).__name__)
            jobs, outcomes = await _write_one_by_one(taken)
        if not taken:
            break
        written = [notification_id for outcome in outcomes for notification_id in outcome.written]
        sweep.reminders += len(jobs)
        sweep.batches += 1
        sweep.written += len(written)
        sweep.sent += await deliver_batch(written)
        if len(taken) < batch:
            break
    sweep.sent += await deliver_waiting(
        REMINDER_KINDS, seconds=max(1.0, seconds - (time.monotonic() - started))
    )
    return sweep


async def _write_one_by_one(job_ids: list[int]) -> tuple[list[OutboxJob], list[ReminderOutcome]]:
    done: list[OutboxJob] = []
    outcomes: list[ReminderOutcome] = []
    for job_id in job_ids:
        try:
            async with in_transaction():
                jobs = await outbox.take_due_jobs(REMINDER_JOB, 1, only=job_id)
                if not jobs:
                    continue
                [outcome] = await write_reminders([DueReminder(*jobs[0].args)])
                await outbox.mark_done(jobs)
        except Exception as error:
            logger.warning("reminder job %s failed: %s", job_id, type(error).__name__)
            await outbox.postpone(job_id, error)
            continue
        done += jobs
        outcomes.append(outcome)
    return done, outcomes
