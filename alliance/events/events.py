"""Events: training courses (several sessions) and job fairs (one day, with employers and their
jobs) that a partner runs at a venue from one of its venue offerings.

- Invitations go to the households whose OPEN request for the offering's need (VOCATIONAL_TRAINING
  or JOB_PLACEMENT) matches: eligibility (any of the event's flags, else the offering's), the
  household inside the offering's area (distance from the venue within its radius, or its regions),
  and the venue's accessibility covering the household's needs (`FEATURE_FOR`). Best first, up to
  seats + waitlist margin; each household told in its own channel. `invite_households` is safe to
  run twice (one invitation per event and household; notices deduplicated) and runs in an arq job.
- Registration (by the household's personal link or login, its community worker, or the partner)
  takes a seat by a conditional update of `Event.seats_taken` (`seats_taken < seats`), else a place
  on the waiting list. Every registration change first locks the event row (FOR NO KEY UPDATE on
  PostgreSQL; SQLite serialises writers), so waiting-list positions are handed out in order, and a
  cancelled seat goes to the first on the waiting list in the same transaction: the seat count is
  never passed and never left free while someone waits.
- Attendance: one row per session and registration (unique), by the household's visit card or the
  partner's list; each attended session is one person-time for the event's project
  (`tallies.count_delivery`, same transaction).
- Outcomes of a job fair: interviews, offers, hires (a hire may be confirmed later, by the partner or
  the community worker); `hires_in_region` for coordinators.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q, Subquery
from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, allows, get_visible, require, visible
from alliance.core.audit import record
from alliance.core.codes import (
    Accessibility,
    DeliveryMode,
    EventKind,
    FlagCode,
    NeedCode,
    RegistrationStatus,
    RequestStatus,
)
from alliance.core.errors import AllianceError, InvalidInput, NotFound, PermissionDenied
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.models import Region, User
from alliance.core.timeutil import LOCAL_TZ, to_local, utc_now
from alliance.events import event_notices
from alliance.events.models import (
    Attendance,
    EmploymentOutcome,
    Event,
    EventInvitation,
    EventSession,
    Registration,
)
from alliance.households.models import Flag, Household
from alliance.matching.matching import fast_distance_km, within_radius
from alliance.matching.models import ServiceRequest
from alliance.notifications import outbox
from alliance.partners.models import Offering, Partner
from alliance.partners.partners import LAT_RANGE, LON_RANGE
from alliance.targets import tallies
from alliance.visits.visit_cards import CardProblem, CardRefused, verify_card
from alliance.visits.visits import LinkExpired, LinkInvalid, as_utc, local_window

EVENT_NEEDS = (NeedCode.VOCATIONAL_TRAINING, NeedCode.JOB_PLACEMENT)
MAX_SESSIONS = 40
MAX_SEATS = 10_000
REGISTRATION_SALT = "alliance.event-registration"
# A household's personal link stays valid until this long after the last session ends.
LINK_GRACE = timedelta(days=2)
# The partner may tick attendance from this long before a session starts (people arrive early).
ATTENDANCE_OPENS = timedelta(hours=2)
# The candidates read for one event at most (best-first ranking happens after the filters).
_CHUNK = 900


class EventStatus(StrEnum):
    PUBLISHED = "published"
    CANCELLED = "cancelled"


class VenueFeature(StrEnum):
    STEP_FREE = "step_free"
    SIGN_INTERPRETER = "sign_interpreter"
    LARGE_PRINT = "large_print"


class OutcomeKind(StrEnum):
    INTERVIEW = "interview"
    OFFER = "offer"
    HIRE = "hire"


class AttendanceMethod(StrEnum):
    CARD = "card"
    LIST = "list"


# What the venue must offer for a household member with this need to take part.
FEATURE_FOR: dict[Accessibility, VenueFeature] = {
    Accessibility.WHEELCHAIR: VenueFeature.STEP_FREE,
    Accessibility.DEAF: VenueFeature.SIGN_INTERPRETER,
    Accessibility.BLIND: VenueFeature.LARGE_PRINT,
    Accessibility.LOW_VISION: VenueFeature.LARGE_PRINT,
}
# A bedridden member cannot come to a venue at all: such households are served at home instead.
CANNOT_TRAVEL = frozenset({Accessibility.BEDRIDDEN})


class EventError(AllianceError):
    """An event action that cannot happen; `message` is for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RegistrationClosed(EventError):
    pass


# --- the publishing form -------------------------------------------------------------------------


@dataclass(frozen=True)
class EventForm:
    """Raw strings from the form; `parse_event` turns them into checked values or field errors.

    sessions: one a line, "2026-12-01 09:00-12:00" (Asia/Shanghai); employers (job fairs): one a
    line, "Employer: job, job"."""

    offering_id: str = ""
    kind: str = EventKind.TRAINING
    title: str = ""
    description: str = ""
    venue: str = ""
    venue_lat: str = ""
    venue_lon: str = ""
    seats: str = ""
    waitlist_margin: str = "5"
    eligibility_flags: tuple[str, ...] = ()
    venue_accessibility: tuple[str, ...] = ()
    deadline_date: str = ""
    deadline_time: str = ""
    sessions: str = ""
    employers: str = ""


_SESSION_LINE = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2})\s+(\d{1,2}:\d{2})\s*[-–~至到]\s*(\d{1,2}:\d{2})$")


def parse_sessions(text: str, errors: dict[str, str]) -> list[tuple[datetime, datetime]]:
    found = []
    for line in (raw.strip() for raw in text.splitlines()):
        if not line:
            continue
        matched = _SESSION_LINE.match(line)
        try:
            if not matched:
                raise ValueError(line)
            day = date.fromisoformat("-".join(part.zfill(2) for part in matched.group(1).split("-")))
            start = time.fromisoformat(matched.group(2).zfill(5))
            end = time.fromisoformat(matched.group(3).zfill(5))
        except ValueError:
            errors["sessions"] = _(
                'Write each session on its own line as "2026-12-01 09:00-12:00": {line}'
            ).format(line=line)
            return []
        starts, ends = local_window(day, start, end)
        if ends <= starts:
            errors["sessions"] = _("A session must end after it starts: {line}").format(line=line)
            return []
        found.append((as_utc(starts), as_utc(ends)))
    found.sort()
    if not found:
        errors["sessions"] = _("Give at least one session.")
    elif len(found) > MAX_SESSIONS:
        errors["sessions"] = _("At most {count} sessions.").format(count=MAX_SESSIONS)
    return found


def parse_employers(text: str) -> list[dict[str, Any]]:
    employers = []
    for line in (raw.strip() for raw in text.splitlines()):
        if not line:
            continue
        name, _sep, jobs = line.replace("：", ":").partition(":")
        employers.append(
            {
                "name": name.strip()[:128],
                "jobs": [job.strip()[:128] for job in re.split(r"[,，、;；]", jobs) if job.strip()],
            }
        )
    return employers


def employers_text(employers: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{item.get('name', '')}: {', '.join(item.get('jobs', []))}".rstrip(": ") for item in employers
    )


def sessions_text(sessions: list[EventSession]) -> str:
    lines = []
    for session in sessions:
        start, end = to_local(session.starts_at), to_local(session.ends_at)
        lines.append(f"{start:%Y-%m-%d %H:%M}-{end:%H:%M}")  # type: ignore[str-format]
    return "\n".join(lines)


def _whole(value: str, field_name: str, low: int, high: int, message: str, errors: dict[str, str]) -> int:
    text = value.strip()
    if not text.isdigit() or not low <= int(text) <= high:
        errors[field_name] = message
        return low
    return int(text)


def _coordinate(
    value: str, field_name: str, bounds: tuple[float, float], errors: dict[str, str]
) -> float | None:
    try:
        number = float(value.strip())
    except ValueError:
        errors[field_name] = _("Enter a number, e.g. 27.99.")
        return None
    if not bounds[0] <= number <= bounds[1]:
        errors[field_name] = _("Outside China: check the number.")
        return None
    return number


async def venue_offerings(principal: Principal) -> list[Offering]:
    """The principal's partner's active venue offerings for training or jobs: what events come from."""
    return (
        await visible(principal, Action.VIEW_OFFERINGS)
        .filter(
            delivery_mode=DeliveryMode.VENUE_EVENT, active=True, need_id__in=[str(n) for n in EVENT_NEEDS]
        )
        .order_by("title")
    )


async def parse_event(
    partner_id: int, form: EventForm, *, now: datetime | None = None, existing: Event | None = None
) -> dict[str, Any]:
    now = now or utc_now()
    errors: dict[str, str] = {}
    offering = None
    if form.offering_id.isdigit():
        offering = await Offering.get_or_none(id=int(form.offering_id), partner_id=partner_id)
    if offering is None:
        errors["offering_id"] = _("Choose one of your offerings.")
    elif offering.delivery_mode != DeliveryMode.VENUE_EVENT or not offering.active:
        errors["offering_id"] = _("Choose an active offering delivered at a venue.")
    elif offering.need_id not in EVENT_NEEDS:  # type: ignore[attr-defined]
        errors["offering_id"] = _("Events serve vocational training or job placement offerings.")
    if form.kind not in {kind.value for kind in EventKind}:
        errors["kind"] = _("Choose a training course or a job fair.")
    title = form.title.strip()
    if not title:
        errors["title"] = _("Give the event a title.")
    elif len(title) > 128:
        errors["title"] = _("At most 128 characters.")
    venue = form.venue.strip()
    if not venue:
        errors["venue"] = _("Give the venue's name and address.")
    elif len(venue) > 255:
        errors["venue"] = _("At most 255 characters.")
    lat = _coordinate(form.venue_lat, "venue_lat", LAT_RANGE, errors)
    lon = _coordinate(form.venue_lon, "venue_lon", LON_RANGE, errors)
    seats = _whole(form.seats, "seats", 1, MAX_SEATS, _("Enter the number of seats, 1 to 10,000."), errors)
    margin = _whole(
        form.waitlist_margin or "0",
        "waitlist_margin",
        0,
        1000,
        _("Enter how many more to invite than seats, 0 to 1,000."),
        errors,
    )
    if existing is not None and seats < existing.seats_taken:
        errors["seats"] = _("{count} people are registered already: keep at least that many seats.").format(
            count=existing.seats_taken
        )
    unknown = [flag for flag in form.eligibility_flags if flag not in FlagCode.__members__]
    if unknown:
        errors["eligibility_flags"] = _("Unknown flag code: {codes}").format(codes=", ".join(unknown))
    features = {feature.value for feature in VenueFeature}
    if any(code not in features for code in form.venue_accessibility):
        errors["venue_accessibility"] = _("Unknown accessibility feature.")
    sessions = parse_sessions(form.sessions, errors)
    if sessions and form.kind == EventKind.JOB_FAIR and len(sessions) != 1:
        errors["sessions"] = _("A job fair is one session on one day.")
    if sessions and existing is None and sessions[0][0] <= now:
        errors["sessions"] = _("The first session must be in the future.")
    deadline = None
    if form.deadline_date.strip():
        try:
            day = date.fromisoformat(form.deadline_date.strip())
            clock = time.fromisoformat(form.deadline_time.strip() or "23:59")
            deadline = as_utc(datetime.combine(day, clock, LOCAL_TZ))
        except ValueError:
            errors["deadline_date"] = _("Enter a date and a time for the deadline.")
        else:
            if sessions and deadline > sessions[0][0]:
                errors["deadline_date"] = _("Registration must close before the first session starts.")
    employers = parse_employers(form.employers) if form.kind == EventKind.JOB_FAIR else []
    if form.kind == EventKind.JOB_FAIR and not employers:
        errors["employers"] = _("List the employers and their jobs, one employer a line.")
    if errors:
        raise InvalidInput(errors)
    assert offering is not None
    return {
        "values": {
            "offering_id": offering.id,
            "project_id": offering.project_id,  # type: ignore[attr-defined]
            "kind": EventKind(form.kind),
            "title": title,
            "description": form.description.strip()[:4000],
            "venue": venue,
            "venue_lat": lat,
            "venue_lon": lon,
            "seats": seats,
            "waitlist_margin": margin,
            "eligibility_flags": sorted(set(form.eligibility_flags)),
            "venue_accessibility": sorted(set(form.venue_accessibility)),
            "registration_deadline": deadline,
            "employers": employers,
        },
        "sessions": sessions,
    }


def event_form_of(event: Event, sessions: list[EventSession]) -> EventForm:
    deadline = to_local(event.registration_deadline)
    return EventForm(
        offering_id=str(event.offering_id),  # type: ignore[attr-defined]
        kind=str(event.kind),
        title=event.title,
        description=event.description,
        venue=event.venue,
        venue_lat="" if event.venue_lat is None else str(event.venue_lat),
        venue_lon="" if event.venue_lon is None else str(event.venue_lon),
        seats=str(event.seats),
        waitlist_margin=str(event.waitlist_margin),
        eligibility_flags=tuple(event.eligibility_flags or ()),
        venue_accessibility=tuple(event.venue_accessibility or ()),
        deadline_date=f"{deadline:%Y-%m-%d}" if deadline else "",
        deadline_time=f"{deadline:%H:%M}" if deadline else "",
        sessions=sessions_text(sessions),
        employers=employers_text(event.employers or []),
    )


@dataclass
class EventOutcome:
    """A change and what the edge relays after the commit (outbox job ids)."""

    event: Event
    job_ids: list[str] = field(default_factory=list)
    registration: Registration | None = None
    changed: bool = True


def invitation_job_id(event: Event) -> str:
    # A new job when the number to invite changes (seats or margin edited); the same otherwise.
    return f"event-invite:{event.id}:{event.seats + event.waitlist_margin}"


async def _plan_invitations(event: Event) -> list[str]:
    job = await outbox.add_job("invite_event_households", event.id, job_id=invitation_job_id(event))
    return [job.job_id]


async def queue_invitations(principal: Principal, event_id: int) -> list[str]:
    """Invite again now (households flagged since, or declined places to fill): a fresh job."""
    require(principal, Action.MANAGE_EVENTS)
    event = await get_visible(principal, Action.MANAGE_EVENTS, event_id)
    if event.status != EventStatus.PUBLISHED:
        raise EventError(_("This event is cancelled."))
    stamp = int(utc_now().timestamp()) // 60
    async with in_transaction():
        job = await outbox.add_job(
            "invite_event_households", event.id, job_id=f"{invitation_job_id(event)}:{stamp}"
        )
        await record(principal, "event.invite", "event", event.id)
    return [job.job_id]


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
    async with in_transaction():
        event = await _locked_event(event.id)
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


# --- matching households to an event -------------------------------------------------------------


@dataclass
class Fit:
    household_id: int
    request_id: int
    score: float
    distance_km: float | None
    reasons: list[dict[str, Any]]


@dataclass
class _Case:
    request_id: int
    household_id: int
    priority: int
    created_at: datetime | None
    lat: float | None
    lon: float | None
    region_code: str
    region_path: str
    accessibility: list[str]


def _json_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = json.loads(value)
    return [str(item) for item in value]


async def _event_offering(event: Event) -> Offering:
    return await Offering.get(id=event.offering_id).prefetch_related("regions")  # type: ignore[attr-defined]


def required_flags(event: Event, offering: Offering) -> set[str]:
    return set(event.eligibility_flags or offering.eligibility_flags or [])


def _assess(
    case: _Case,
    event: Event,
    offering: Offering,
    flags: set[str],
    region_paths: dict[str, str],
    now: datetime,
) -> tuple[Fit | None, str]:
    """Does the household fit the event? (Fit, "") or (None, why): eligibility, travel, access, area."""
    required = required_flags(event, offering)
    if required and not (required & flags):
        return None, "eligibility"
    needs = {Accessibility(code) for code in case.accessibility if code in Accessibility.__members__}
    if needs & CANNOT_TRAVEL:
        return None, "travel"
    wanted = sorted({FEATURE_FOR[need] for need in needs if need in FEATURE_FOR})
    if set(wanted) - set(event.venue_accessibility or []):
        return None, "access"
    distance = None
    if (
        case.lat is not None
        and case.lon is not None
        and event.venue_lat is not None
        and event.venue_lon is not None
    ):
        distance = fast_distance_km(event.venue_lat, event.venue_lon, case.lat, case.lon)
    within = (
        distance is not None
        and bool(offering.radius_km)
        and within_radius(
            distance,
            offering.radius_km,  # type: ignore[arg-type]
            (event.venue_lat, event.venue_lon, case.lat, case.lon),  # type: ignore[arg-type]
        )
    )
    region = next((code for code, path in region_paths.items() if case.region_path.startswith(path)), None)
    if not within and region is None:
        return None, "area"
    reasons: list[dict[str, Any]] = [{"code": "need", "need": str(offering.need_id)}]  # type: ignore[attr-defined]
    if distance is not None:
        reasons.append({"code": "distance", "km": round(distance, 2)})
    if region is not None and not within:
        reasons.append({"code": "region", "region": region})
    if required:
        reasons.append({"code": "eligible", "flags": sorted(required & flags)})
    if wanted:
        reasons.append({"code": "venue_accessible", "features": [str(feature) for feature in wanted]})
    days_waiting = (now - case.created_at).total_seconds() / 86400 if case.created_at else 0.0
    closeness = 10.0 if distance is None else 30.0 / (1.0 + distance / 5.0)
    score = (
        0.4 * max(0, min(100, case.priority)) + closeness + 15.0 * min(max(days_waiting, 0.0), 90.0) / 90.0
    )
    return Fit(case.household_id, case.request_id, round(score, 3), distance, reasons), ""


async def _cases(event: Event, offering: Offering, household_ids: list[int] | None) -> list[_Case]:
    """Open requests for the offering's need inside the offering's area (a bounding box around the
    venue for the radius, and the offering's region subtrees), filtered in the database."""
    query = ServiceRequest.filter(status=RequestStatus.OPEN, need_id=offering.need_id)  # type: ignore[attr-defined]
    if household_ids is not None:
        query = query.filter(household_id__in=household_ids)
    area: list[Q] = []
    if offering.radius_km and event.venue_lat is not None and event.venue_lon is not None:
        lat_span = offering.radius_km / 110.0
        lon_span = offering.radius_km / (
            110.0 * max(math.cos(math.radians(min(abs(event.venue_lat) + lat_span, 89.0))), 0.01)
        )
        area.append(
            Q(
                household__lat__gte=event.venue_lat - lat_span,
                household__lat__lte=event.venue_lat + lat_span,
                household__lon__gte=event.venue_lon - lon_span,
                household__lon__lte=event.venue_lon + lon_span,
            )
        )
    for region in offering.regions:
        area.append(Q(household__region__path__startswith=region.path))
    if not area:
        return []
    rows = await query.filter(Q(*area, join_type="OR")).values_list(
        "id",
        "household_id",
        "priority",
        "created_at",
        "household__lat",
        "household__lon",
        "household__region_id",
        "household__region__path",
        "household__accessibility",
    )
    return [
        _Case(
            request_id=row[0],
            household_id=row[1],
            priority=row[2] or 0,
            created_at=row[3],
            lat=row[4],
            lon=row[5],
            region_code=str(row[6]),
            region_path=str(row[7] or ""),
            accessibility=_json_list(row[8]),
        )
        for row in rows
    ]


async def _active_flags(household_ids: list[int]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = defaultdict(set)
    for start in range(0, len(household_ids), _CHUNK):
        for household_id, code in await Flag.filter(
            household_id__in=household_ids[start : start + _CHUNK], active=True
        ).values_list("household_id", "code"):
            found[household_id].add(str(code))
    return found


async def matching_households(
    event: Event, *, household_ids: list[int] | None = None, now: datetime | None = None
) -> list[Fit]:
    """The households whose open request fits the event, best first (score, then nearer, then older
    request), each with its reasons."""
    now = now or utc_now()
    offering = await _event_offering(event)
    region_paths = {region.code: region.path for region in offering.regions}
    cases = await _cases(event, offering, household_ids)
    flags = await _active_flags([case.household_id for case in cases])
    fits = []
    for case in cases:
        fit, _why = _assess(case, event, offering, flags.get(case.household_id, set()), region_paths, now)
        if fit is not None:
            fits.append(fit)
    fits.sort(
        key=lambda fit: (-fit.score, fit.distance_km if fit.distance_km is not None else 1e9, fit.request_id)
    )
    return fits


async def why_not(event: Event, household: Household) -> str:
    """Why a household does not fit the event, in words (for a community worker's refusal)."""
    offering = await _event_offering(event)
    request = await ServiceRequest.get_or_none(
        household_id=household.id,
        need_id=offering.need_id,
        status=RequestStatus.OPEN,  # type: ignore[attr-defined]
    )
    if request is None:
        return _("The household has no open request for {need}.").format(need=label(offering.need_id))  # type: ignore[attr-defined]
    path = await Region.get(code=household.region_id).values_list("path", flat=True)  # type: ignore[attr-defined]
    case = _Case(
        request.id,
        household.id,
        request.priority,
        request.created_at,
        household.lat,
        household.lon,
        str(household.region_id),  # type: ignore[attr-defined]
        str(path),
        _json_list(household.accessibility),
    )
    flags = (await _active_flags([household.id])).get(household.id, set())
    region_paths = {region.code: region.path for region in offering.regions}
    fit, why = _assess(case, event, offering, flags, region_paths, utc_now())
    if fit is not None:
        return ""
    return {
        "eligibility": _("The household has none of the flags this event is for."),
        "travel": _("A bedridden member cannot come to a venue."),
        "access": _(
            "The venue lacks what the household needs (step-free access, a sign-language interpreter or large print)."
        ),
        "area": _("The household lives outside the area of this event."),
    }[why]


def registration_open(event: Event, first_start: datetime | None, now: datetime | None = None) -> bool:
    now = now or utc_now()
    if event.status != EventStatus.PUBLISHED:
        return False
    if event.registration_deadline is not None and now > event.registration_deadline:
        return False
    return first_start is None or now < first_start


async def _first_start(event_id: int) -> datetime | None:
    first = await EventSession.filter(event_id=event_id).order_by("starts_at").first()
    return first.starts_at if first else None


async def _last_end(event_id: int) -> datetime | None:
    last = await EventSession.filter(event_id=event_id).order_by("-ends_at").first()
    return last.ends_at if last else None


@dataclass
class InvitationRun:
    invited: int = 0
    job_ids: list[str] = field(default_factory=list)
    notification_ids: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"invited": self.invited, "notifications": len(self.notification_ids)}


async def invite_households(event_id: int, secret_key: str, *, now: datetime | None = None) -> InvitationRun:
    """Invite the best-matching households not yet invited, up to seats + waitlist margin in all,
    and tell each in its channel. Safe to run twice: nobody is invited or told twice."""
    now = now or utc_now()
    run = InvitationRun()
    event = await Event.get_or_none(id=event_id)
    if event is None or not registration_open(event, await _first_start(event.id), now):
        return run
    already = set(await EventInvitation.filter(event_id=event.id).values_list("household_id", flat=True))
    already |= set(await Registration.filter(event_id=event.id).values_list("household_id", flat=True))
    room = event.seats + event.waitlist_margin - await EventInvitation.filter(event_id=event.id).count()
    if room > 0:
        chosen = [
            fit for fit in await matching_households(event, now=now) if fit.household_id not in already
        ][:room]
        last_rank = (
            await EventInvitation.filter(event_id=event.id).order_by("-rank").values_list("rank", flat=True)
        )
        start = (last_rank[0] if last_rank else 0) + 1
        await EventInvitation.bulk_create(
            [
                EventInvitation(
                    event_id=event.id,
                    household_id=fit.household_id,
                    request_id=fit.request_id,
                    rank=start + index,
                    score=fit.score,
                    distance_km=None if fit.distance_km is None else round(fit.distance_km, 3),
                    reasons=fit.reasons,
                )
                for index, fit in enumerate(chosen)
            ],
            ignore_conflicts=True,
        )
        run.invited = len(chosen)
    # Tell whoever is invited and not yet told (also those of an earlier run that stopped midway).
    facts = await event_notices.event_facts(event)
    last_end = await _last_end(event.id)
    untold = (
        await EventInvitation.filter(event_id=event.id, notified_at__isnull=True)
        .order_by("rank")
        .prefetch_related("household")
    )
    for invitation in untold:
        async with in_transaction():
            link = event_notices.public_url(
                registration_path(secret_key, event.id, invitation.household.id, last_end)
            )
            written = await event_notices.tell_household(
                facts,
                invitation.household,
                event_notices.INVITATION,
                link=link,
                dedupe_prefix=f"event:{event.id}:invite",
            )
            await EventInvitation.filter(id=invitation.id).update(notified_at=utc_now())
            run.notification_ids += written
    return run


# --- registration --------------------------------------------------------------------------------


async def _locked_event(event_id: int) -> Event:
    # Registrations of one event are serialised on its row: waiting-list positions in order, and a
    # freed seat handed on before anyone else looks. FOR NO KEY UPDATE leaves foreign-key checks
    # (registrations being inserted) unblocked.
    event = await Event.filter(id=event_id).select_for_update(no_key=True).first()
    if event is None:
        raise NotFound(f"event {event_id}")
    return event


async def _take_seat(event: Event) -> bool:
    # The database decides: never more registered than seats, whatever runs at the same time.
    taken = await Event.filter(id=event.id, status=EventStatus.PUBLISHED, seats_taken__lt=event.seats).update(
        seats_taken=F("seats_taken") + 1
    )
    if taken:
        event.seats_taken += 1
    return taken == 1


async def _give_seat_back(event: Event) -> None:
    given = await Event.filter(id=event.id, seats_taken__gt=0).update(seats_taken=F("seats_taken") - 1)
    if given:
        event.seats_taken -= 1


async def _fill_free_seats(event: Event) -> list[Registration]:
    """Move the first on the waiting list into each free seat (inside the locked transaction)."""
    promoted = []
    while event.status == EventStatus.PUBLISHED:
        waiting = (
            await Registration.filter(event_id=event.id, status=RegistrationStatus.WAITLISTED)
            .order_by("waitlist_position", "id")
            .first()
        )
        if waiting is None or not await _take_seat(event):
            break
        moved = await Registration.filter(id=waiting.id, status=RegistrationStatus.WAITLISTED).update(
            status=RegistrationStatus.REGISTERED, waitlist_position=None, updated_at=utc_now()
        )
        if not moved:
            await _give_seat_back(event)
            continue
        await waiting.refresh_from_db()
        promoted.append(waiting)
    return promoted


async def _tell_promoted(event: Event, promoted: list[Registration]) -> list[int]:
    if not promoted:
        return []
    facts = await event_notices.event_facts(event)
    notices = []
    for registration in promoted:
        household = await Household.get(id=registration.household_id)  # type: ignore[attr-defined]
        notices += await event_notices.tell_household(
            facts,
            household,
            event_notices.PROMOTED,
            dedupe_prefix=f"event:{event.id}:promoted:{registration.id}:{int(registration.updated_at.timestamp())}",
        )
    return notices


async def _register(
    event_id: int, household: Household, principal: Principal | None, *, now: datetime | None = None
) -> EventOutcome:
    now = now or utc_now()
    async with in_transaction():
        event = await _locked_event(event_id)
        if not registration_open(event, await _first_start(event.id), now):
            if event.status != EventStatus.PUBLISHED:
                raise RegistrationClosed(_("This event is cancelled."))
            raise RegistrationClosed(_("Registration for this event has closed."))
        existing = await Registration.get_or_none(event_id=event.id, household_id=household.id)
        if existing is not None and existing.status != RegistrationStatus.CANCELLED:
            return EventOutcome(event, [], existing, changed=False)
        offering_need = await Offering.get(id=event.offering_id).values_list("need_id", flat=True)  # type: ignore[attr-defined]
        request_id = (
            await ServiceRequest.filter(
                household_id=household.id, need_id=offering_need, active_key__isnull=False
            )
            .order_by("-id")
            .values_list("id", flat=True)
        )
        fields: dict[str, Any] = {
            "registered_by_id": principal.user_id if principal else None,
            "request_id": request_id[0] if request_id else None,
            "cancelled_at": None,
            "cancel_reason": "",
        }
        if await _take_seat(event):
            fields.update(status=RegistrationStatus.REGISTERED, waitlist_position=None)
        else:
            last = (
                await Registration.filter(event_id=event.id, status=RegistrationStatus.WAITLISTED)
                .order_by("-waitlist_position")
                .values_list("waitlist_position", flat=True)
            )
            fields.update(
                status=RegistrationStatus.WAITLISTED, waitlist_position=((last[0] or 0) if last else 0) + 1
            )
        if existing is None:
            registration = await Registration.create(event_id=event.id, household_id=household.id, **fields)
        else:
            await Registration.filter(id=existing.id).update(updated_at=now, **fields)
            registration = await Registration.get(id=existing.id)
        facts = await event_notices.event_facts(event)
        kind = (
            event_notices.REGISTERED
            if registration.status == RegistrationStatus.REGISTERED
            else event_notices.WAITLISTED
        )
        notices = await event_notices.tell_household(
            facts, household, kind, position=await waitlist_rank(registration)
        )
        job_ids = await event_notices.delivery_job(event.id, notices)
        await record(
            principal,
            "event.register",
            "registration",
            registration.id,
            {"event": event.id, "household": household.id, "status": str(registration.status)},
        )
    return EventOutcome(event, job_ids, registration)


async def waitlist_rank(registration: Registration) -> int | None:
    """Where the registration stands on the waiting list now (1 = next in), or None."""
    if registration.status != RegistrationStatus.WAITLISTED:
        return None
    ahead = (
        await Registration.filter(
            event_id=registration.event_id,  # type: ignore[attr-defined]
            status=RegistrationStatus.WAITLISTED,
        )
        .filter(
            Q(waitlist_position__lt=registration.waitlist_position)
            | Q(waitlist_position=registration.waitlist_position, id__lt=registration.id)
        )
        .count()
    )
    return ahead + 1


async def _cancel(registration: Registration, principal: Principal | None, reason: str) -> EventOutcome:
    async with in_transaction():
        event = await _locked_event(registration.event_id)  # type: ignore[attr-defined]
        registration = await Registration.get(id=registration.id)
        if registration.status == RegistrationStatus.CANCELLED:
            return EventOutcome(event, [], registration, changed=False)
        was = registration.status
        now = utc_now()
        await Registration.filter(id=registration.id, status=was).update(
            status=RegistrationStatus.CANCELLED,
            waitlist_position=None,
            cancelled_at=now,
            cancel_reason=reason.strip()[:255],
            updated_at=now,
        )
        promoted: list[Registration] = []
        if was == RegistrationStatus.REGISTERED:
            # The seat is handed on in this same transaction, never left free while someone waits.
            await _give_seat_back(event)
            promoted = await _fill_free_seats(event)
        household = await Household.get(id=registration.household_id)  # type: ignore[attr-defined]
        facts = await event_notices.event_facts(event)
        notices = await event_notices.tell_household(facts, household, event_notices.REGISTRATION_CANCELLED)
        notices += await _tell_promoted(event, promoted)
        job_ids = await event_notices.delivery_job(event.id, notices)
        await record(
            principal,
            "event.cancel_registration",
            "registration",
            registration.id,
            {"event": event.id, "was": str(was), "promoted": [r.id for r in promoted]},
        )
        await registration.refresh_from_db()
    return EventOutcome(event, job_ids, registration)


async def register_by_partner(principal: Principal, event_id: int, household_id: int) -> EventOutcome:
    """The partner registers a household it invited (e.g. one that phoned the partner)."""
    require(principal, Action.MANAGE_EVENTS)
    event = await get_visible(principal, Action.MANAGE_EVENTS, event_id)
    invitation = await EventInvitation.get_or_none(event_id=event.id, household_id=household_id)
    if invitation is None:
        raise EventError(_("Only invited households can be registered by the organisation."))
    household = await Household.get(id=household_id)
    return await _register(event.id, household, principal)


async def register_on_behalf(principal: Principal, household_id: int, event_id: int) -> EventOutcome:
    """A community worker registers a household of the community: an invited one, or one whose open
    request fits the event."""
    require(principal, Action.REGISTER_FOR_HOUSEHOLDS)
    household = await get_visible(principal, Action.REGISTER_FOR_HOUSEHOLDS, household_id)
    event = await Event.get_or_none(id=event_id)
    if event is None:
        raise NotFound(f"event {event_id}")
    if not await EventInvitation.exists(event_id=event.id, household_id=household.id):
        refusal = await why_not(event, household)
        if refusal:
            raise EventError(refusal)
    return await _register(event.id, household, principal)


async def cancel_registration(principal: Principal, registration_id: int, reason: str = "") -> EventOutcome:
    """Cancel for the partner (its event), the community worker (a household of the community) or
    the household itself; the first on the waiting list moves up."""
    registration = await Registration.get_or_none(id=registration_id)
    if registration is None:
        raise NotFound(f"registration {registration_id}")
    allowed = False
    if allows(principal, Action.MANAGE_EVENTS):
        allowed = await visible(principal, Action.MANAGE_EVENTS).filter(id=registration.event_id).exists()  # type: ignore[attr-defined]
    if not allowed and allows(principal, Action.REGISTER_FOR_HOUSEHOLDS):
        allowed = (
            await visible(principal, Action.REGISTER_FOR_HOUSEHOLDS)
            .filter(
                id=registration.household_id  # type: ignore[attr-defined]
            )
            .exists()
        )
    if not allowed and allows(principal, Action.VIEW_OWN_HOUSEHOLD):
        allowed = registration.household_id == principal.household_id  # type: ignore[attr-defined]
    if not allowed:
        raise NotFound(f"registration {registration_id}")
    return await _cancel(registration, principal, reason)


# --- the household's personal link ---------------------------------------------------------------


def registration_token(secret_key: str, event_id: int, household_id: int, last_end: datetime | None) -> str:
    expires = (last_end or utc_now() + timedelta(days=90)) + LINK_GRACE
    return URLSafeSerializer(secret_key, salt=REGISTRATION_SALT).dumps(
        {"event": event_id, "household": household_id, "exp": int(expires.timestamp())}
    )


def registration_path(secret_key: str, event_id: int, household_id: int, last_end: datetime | None) -> str:
    return f"/event-registration/{registration_token(secret_key, event_id, household_id, last_end)}"


def link_target(secret_key: str, token: str, now: datetime | None = None) -> tuple[int, int]:
    """(event id, household id) of a personal link. LinkInvalid when forged, LinkExpired when old."""
    try:
        payload = URLSafeSerializer(secret_key, salt=REGISTRATION_SALT).loads(token)
    except BadSignature as error:
        raise LinkInvalid("bad signature") from error
    if not isinstance(payload, dict) or not all(
        isinstance(payload.get(key), int) for key in ("event", "household")
    ):
        raise LinkInvalid("not an event link")
    if int(payload.get("exp", 0)) < (now or utc_now()).timestamp():
        raise LinkExpired(f"event {payload['event']}")
    return payload["event"], payload["household"]


@dataclass
class HouseholdEventView:
    event: Event
    partner_name: str
    sessions: list[EventSession]
    registration: Registration | None
    waitlist_rank: int | None
    can_register: bool
    invited: bool

    @property
    def status(self) -> str:
        return str(self.registration.status) if self.registration else ""


async def _household_view(event: Event, household_id: int) -> HouseholdEventView:
    sessions = await EventSession.filter(event_id=event.id).order_by("starts_at")
    registration = await Registration.get_or_none(event_id=event.id, household_id=household_id)
    partner = await Partner.get(id=event.partner_id)  # type: ignore[attr-defined]
    active = registration is not None and registration.status != RegistrationStatus.CANCELLED
    return HouseholdEventView(
        event=event,
        partner_name=partner.name,
        sessions=sessions,
        registration=registration,
        waitlist_rank=await waitlist_rank(registration) if registration else None,
        can_register=not active and registration_open(event, sessions[0].starts_at if sessions else None),
        invited=await EventInvitation.exists(event_id=event.id, household_id=household_id),
    )


async def event_for_link(secret_key: str, token: str) -> HouseholdEventView:
    event_id, household_id = link_target(secret_key, token)
    event = await Event.get_or_none(id=event_id)
    if event is None:
        raise NotFound("event")
    return await _household_view(event, household_id)


async def register_by_link(secret_key: str, token: str) -> EventOutcome:
    event_id, household_id = link_target(secret_key, token)
    household = await Household.get_or_none(id=household_id)
    if household is None:
        raise NotFound("household")
    return await _register(event_id, household, None)


async def cancel_by_link(secret_key: str, token: str) -> EventOutcome:
    event_id, household_id = link_target(secret_key, token)
    registration = await Registration.get_or_none(event_id=event_id, household_id=household_id)
    if registration is None:
        raise NotFound("registration")
    return await _cancel(registration, None, "by the household")


# --- attendance ----------------------------------------------------------------------------------


@dataclass
class AttendanceOutcome:
    recorded: list[int] = field(default_factory=list)  # registration ids newly recorded
    already: list[int] = field(default_factory=list)
    household_name: str = ""


async def _session_of(principal: Principal, session_id: int) -> tuple[EventSession, Event]:
    require(principal, Action.MANAGE_EVENTS)
    session = await EventSession.get_or_none(id=session_id)
    if session is None:
        raise NotFound(f"session {session_id}")
    event = await get_visible(principal, Action.MANAGE_EVENTS, session.event_id)  # type: ignore[attr-defined]
    return session, event


async def _attend(
    principal: Principal,
    session: EventSession,
    event: Event,
    registration: Registration,
    method: str,
    at: datetime,
) -> bool:
    """One attended session, counted once as one person-time. False when it was recorded before."""
    household = await Household.get(id=registration.household_id).prefetch_related("region")  # type: ignore[attr-defined]
    try:
        async with in_transaction():
            if await Attendance.exists(session_id=session.id, registration_id=registration.id):
                return False
            await Attendance.create(
                session_id=session.id,
                registration_id=registration.id,
                at=at,
                method=method,
                recorded_by_id=principal.user_id,
            )
            await tallies.count_delivery(
                tallies.Delivery(
                    completed_at=session.starts_at,
                    region_code=household.region.code,
                    region_path=household.region.path,
                    partner_id=event.partner_id,  # type: ignore[attr-defined]
                    project_id=event.project_id,  # type: ignore[attr-defined]
                    person_times=1,
                )
            )
    except IntegrityError:
        # The same tick from two devices at once: the other one counted it.
        return False
    return True


def _check_attendance_open(event: Event, session: EventSession, now: datetime) -> None:
    if event.status != EventStatus.PUBLISHED:
        raise EventError(_("This event is cancelled."))
    if now < session.starts_at - ATTENDANCE_OPENS:
        raise EventError(_("Attendance opens two hours before the session starts."))


async def record_attendance(
    principal: Principal, session_id: int, registration_ids: list[int], *, now: datetime | None = None
) -> AttendanceOutcome:
    """Tick registered households on the partner's list for one session. Ticking twice counts once."""
    session, event = await _session_of(principal, session_id)
    now = now or utc_now()
    _check_attendance_open(event, session, now)
    outcome = AttendanceOutcome()
    registrations = await Registration.filter(
        id__in=registration_ids, event_id=event.id, status=RegistrationStatus.REGISTERED
    ).order_by("id")
    for registration in registrations:
        if await _attend(principal, session, event, registration, AttendanceMethod.LIST, now):
            outcome.recorded.append(registration.id)
        else:
            outcome.already.append(registration.id)
    return outcome


async def record_attendance_by_card(
    principal: Principal,
    session_id: int,
    secret_key: str,
    *,
    token: str = "",
    code: str = "",
    now: datetime | None = None,
) -> AttendanceOutcome:
    """The household's visit card scanned (or its code typed) at the venue. Raises CardRefused for
    a forged, replaced or mistyped card, EventError for a household not registered."""
    session, event = await _session_of(principal, session_id)
    now = now or utc_now()
    _check_attendance_open(event, session, now)
    registrations = await Registration.filter(
        event_id=event.id, status=RegistrationStatus.REGISTERED
    ).prefetch_related("household")
    found: Registration | None = None
    if token.strip():
        parts = token.strip().split(".")
        household_id = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0
        household = await Household.get_or_none(id=household_id)
        if household is None:
            raise CardRefused(CardProblem.FORGED)
        verify_card(secret_key, household, token=token)
        found = next((r for r in registrations if r.household_id == household.id), None)  # type: ignore[attr-defined]
    elif code.strip():
        revoked = False
        for registration in registrations:
            try:
                verify_card(secret_key, registration.household, code=code)
            except CardRefused as refused:
                revoked = revoked or refused.problem == CardProblem.REVOKED
                continue
            found = registration
            break
        if found is None:
            raise CardRefused(CardProblem.REVOKED if revoked else CardProblem.WRONG_CODE)
    else:
        raise InvalidInput({"code": _("Scan the card or type its code.")})
    if found is None:
        raise EventError(_("This household is not registered for this event."))
    outcome = AttendanceOutcome(household_name=found.household.head_name)
    if await _attend(principal, session, event, found, AttendanceMethod.CARD, now):
        outcome.recorded.append(found.id)
    else:
        outcome.already.append(found.id)
    return outcome


# --- employment outcomes --------------------------------------------------------------------------


async def record_outcome(
    principal: Principal,
    event_id: int,
    household_id: int,
    kind: str,
    employer: str = "",
    job: str = "",
    note: str = "",
) -> EmploymentOutcome:
    """An interview, an offer or a hire for a household registered for the event, recorded by the
    event's partner or the household's community worker. The same outcome recorded twice is kept once."""
    if allows(principal, Action.MANAGE_EVENTS):
        event = await get_visible(principal, Action.MANAGE_EVENTS, event_id)
    elif allows(principal, Action.REGISTER_FOR_HOUSEHOLDS):
        await get_visible(principal, Action.REGISTER_FOR_HOUSEHOLDS, household_id)
        event = await Event.get_or_none(id=event_id)
        if event is None:
            raise NotFound(f"event {event_id}")
    else:
        raise PermissionDenied(Action.MANAGE_EVENTS)
    registration = await Registration.get_or_none(event_id=event.id, household_id=household_id)
    if registration is None:
        raise NotFound(f"registration of {household_id} at {event_id}")
    errors: dict[str, str] = {}
    if kind not in {value.value for value in OutcomeKind}:
        errors["kind"] = _("Choose interview, offer or hire.")
    employer, job, note = employer.strip(), job.strip(), note.strip()
    if kind in (OutcomeKind.OFFER, OutcomeKind.HIRE) and not employer:
        errors["employer"] = _("Name the employer.")
    if len(employer) > 128 or len(job) > 128:
        errors["employer" if len(employer) > 128 else "job"] = _("At most 128 characters.")
    if len(note) > 255:
        errors["note"] = _("At most 255 characters.")
    if errors:
        raise InvalidInput(errors)
    async with in_transaction():
        existing = await EmploymentOutcome.get_or_none(
            event_id=event.id, household_id=household_id, kind=kind, employer=employer, job=job
        )
        if existing is not None:
            return existing
        outcome = await EmploymentOutcome.create(
            event_id=event.id,
            registration_id=registration.id,
            household_id=household_id,
            kind=kind,
            employer=employer,
            job=job,
            note=note,
            recorded_by_id=principal.user_id,
        )
        await record(
            principal, "event.outcome", "employment_outcome", outcome.id, {"event": event.id, "kind": kind}
        )
    return outcome


@dataclass
class HireRow:
    household_id: int
    head_name: str
    community: str
    flags: list[str]
    employer: str
    job: str
    event_title: str
    at: datetime


@dataclass
class HireReport:
    hires: int
    households: int
    by_community: dict[str, int]
    rows: list[HireRow]


async def hires_in_region(principal: Principal, year: int) -> HireReport:
    """Hires among the flagged households of the coordinator's region in a year (Asia/Shanghai):
    counts and rows, newest first. Only households with an active flag count."""
    start = as_utc(datetime(year, 1, 1, tzinfo=LOCAL_TZ))
    end = as_utc(datetime(year + 1, 1, 1, tzinfo=LOCAL_TZ))
    flagged = Flag.filter(active=True).values("household_id")
    outcomes = (
        await visible(principal, Action.VIEW_EVENT_HIRES)
        .filter(kind=OutcomeKind.HIRE, at__gte=start, at__lt=end)
        .filter(household_id__in=Subquery(flagged))
        .order_by("-at", "-id")
        .prefetch_related("household__region", "event")
    )
    flags = await _active_flags(sorted({outcome.household_id for outcome in outcomes}))  # type: ignore[attr-defined]
    rows = [
        HireRow(
            household_id=outcome.household_id,  # type: ignore[attr-defined]
            head_name=outcome.household.head_name,
            community=outcome.household.region.name,
            flags=sorted(flags.get(outcome.household_id, set())),  # type: ignore[attr-defined]
            employer=outcome.employer,
            job=outcome.job,
            event_title=outcome.event.title,
            at=outcome.at,
        )
        for outcome in outcomes
    ]
    by_community: dict[str, int] = defaultdict(int)
    for row in rows:
        by_community[row.community] += 1
    return HireReport(
        hires=len(rows),
        households=len({row.household_id for row in rows}),
        by_community=dict(sorted(by_community.items())),
        rows=rows,
    )


# --- selectors for the pages ---------------------------------------------------------------------


@dataclass
class EventRow:
    event: Event
    first_start: datetime | None
    sessions: int
    waitlisted: int
    invited: int


async def partner_events(principal: Principal, *, include_past: bool = False) -> list[EventRow]:
    events = await visible(principal, Action.MANAGE_EVENTS).order_by("-created_at").limit(200)
    ids = [event.id for event in events]
    sessions: dict[int, list[datetime]] = defaultdict(list)
    for event_id, starts_at, ends_at in await EventSession.filter(event_id__in=ids).values_list(
        "event_id", "starts_at", "ends_at"
    ):
        sessions[event_id].append(starts_at)
        sessions[event_id].append(ends_at)
    waiting: dict[int, int] = defaultdict(int)
    for event_id in await Registration.filter(
        event_id__in=ids, status=RegistrationStatus.WAITLISTED
    ).values_list("event_id", flat=True):
        waiting[event_id] += 1
    invited: dict[int, int] = defaultdict(int)
    for event_id in await EventInvitation.filter(event_id__in=ids).values_list("event_id", flat=True):
        invited[event_id] += 1
    now = utc_now()
    rows = []
    for event in events:
        times = sessions.get(event.id, [])
        if not include_past and times and max(times) < now:
            continue
        rows.append(
            EventRow(
                event=event,
                first_start=min(times) if times else None,
                sessions=len(times) // 2,
                waitlisted=waiting.get(event.id, 0),
                invited=invited.get(event.id, 0),
            )
        )
    rows.sort(key=lambda row: row.first_start or now)
    return rows


def reason_texts(reasons: list[dict[str, Any]]) -> list[str]:
    texts = []
    for reason in reasons or []:
        code = reason.get("code")
        if code == "need":
            texts.append(_("Open request: {need}").format(need=label(reason.get("need", ""))))
        elif code == "distance":
            texts.append(_("{km} km from the venue").format(km=reason.get("km")))
        elif code == "region":
            texts.append(_("In the offering's area {region}").format(region=reason.get("region")))
        elif code == "eligible":
            texts.append(
                _("Eligible: {flags}").format(
                    flags=", ".join(label(flag) for flag in reason.get("flags", []))
                )
            )
        elif code == "venue_accessible":
            texts.append(
                _("The venue has {features}").format(
                    features=", ".join(label(feature) for feature in reason.get("features", []))
                )
            )
    return texts


@dataclass
class InvitationRow:
    rank: int
    household_id: int
    community: str
    distance_km: float | None
    reasons: list[str]
    notified: bool
    status: str  # registration status or ""
    name: str  # shown once the household registered


@dataclass
class PersonRow:
    registration_id: int
    household_id: int
    name: str
    community: str
    phone: str
    status: str
    waitlist_rank: int | None
    registered_by: str
    attended: int


@dataclass
class SessionRow:
    session: EventSession
    attended: int


@dataclass
class EventPage:
    event: Event
    offering: Offering
    partner: Partner
    sessions: list[SessionRow]
    invitations: list[InvitationRow]
    registered: list[PersonRow]
    waitlist: list[PersonRow]
    cancelled: list[PersonRow]
    outcomes: list[EmploymentOutcome]
    registration_open: bool
    deadline: datetime | None


async def _people(event: Event) -> list[PersonRow]:
    registrations = (
        await Registration.filter(event_id=event.id)
        .order_by("waitlist_position", "id")
        .prefetch_related("household__region")
    )
    users = dict(
        await User.filter(
            id__in=[r.registered_by_id for r in registrations if r.registered_by_id]
        ).values_list(  # type: ignore[attr-defined]
            "id", "display_name"
        )
    )
    attended: dict[int, int] = defaultdict(int)
    for registration_id in await Attendance.filter(session__event_id=event.id).values_list(
        "registration_id", flat=True
    ):
        attended[registration_id] += 1
    rows = []
    waiting_rank = 0
    for registration in registrations:
        if registration.status == RegistrationStatus.WAITLISTED:
            waiting_rank += 1
        household = registration.household
        rows.append(
            PersonRow(
                registration_id=registration.id,
                household_id=household.id,
                name=household.head_name,
                community=household.region.name,
                phone=household.phone or "",
                status=str(registration.status),
                waitlist_rank=waiting_rank if registration.status == RegistrationStatus.WAITLISTED else None,
                registered_by=users.get(registration.registered_by_id, "")
                if registration.registered_by_id
                else "",  # type: ignore[attr-defined]
                attended=attended.get(registration.id, 0),
            )
        )
    return rows


async def event_page(principal: Principal, event_id: int) -> EventPage:
    event = await get_visible(principal, Action.MANAGE_EVENTS, event_id)
    offering = await Offering.get(id=event.offering_id)  # type: ignore[attr-defined]
    partner = await Partner.get(id=event.partner_id)  # type: ignore[attr-defined]
    sessions = await EventSession.filter(event_id=event.id).order_by("starts_at")
    counts: dict[int, int] = defaultdict(int)
    for session_id in await Attendance.filter(session__event_id=event.id).values_list(
        "session_id", flat=True
    ):
        counts[session_id] += 1
    people = await _people(event)
    status_of = {row.household_id: row for row in people}
    invitations = (
        await EventInvitation.filter(event_id=event.id).order_by("rank").prefetch_related("household__region")
    )
    invitation_rows = []
    for invitation in invitations:
        person = status_of.get(invitation.household_id)  # type: ignore[attr-defined]
        invitation_rows.append(
            InvitationRow(
                rank=invitation.rank,
                household_id=invitation.household_id,  # type: ignore[attr-defined]
                community=invitation.household.region.name,
                distance_km=invitation.distance_km,
                reasons=reason_texts(invitation.reasons),
                notified=invitation.notified_at is not None,
                status=person.status if person else "",
                # Partners see a name only once the household chose to take part.
                name=person.name if person and person.status != RegistrationStatus.CANCELLED else "",
            )
        )
    return EventPage(
        event=event,
        offering=offering,
        partner=partner,
        sessions=[SessionRow(session, counts.get(session.id, 0)) for session in sessions],
        invitations=invitation_rows,
        registered=[row for row in people if row.status == RegistrationStatus.REGISTERED],
        waitlist=[row for row in people if row.status == RegistrationStatus.WAITLISTED],
        cancelled=[row for row in people if row.status == RegistrationStatus.CANCELLED],
        outcomes=await EmploymentOutcome.filter(event_id=event.id)
        .order_by("-at")
        .prefetch_related("household"),
        registration_open=registration_open(event, sessions[0].starts_at if sessions else None),
        deadline=event.registration_deadline,
    )


@dataclass
class AttendanceRow:
    registration_id: int
    name: str
    community: str
    attended: bool
    method: str
    at: datetime | None


@dataclass
class SessionPage:
    event: Event
    session: EventSession
    number: int
    rows: list[AttendanceRow]
    open: bool


async def session_page(principal: Principal, session_id: int) -> SessionPage:
    session, event = await _session_of(principal, session_id)
    ids = await EventSession.filter(event_id=event.id).order_by("starts_at").values_list("id", flat=True)
    recorded = {
        row.registration_id: row  # type: ignore[attr-defined]
        for row in await Attendance.filter(session_id=session.id)
    }
    registrations = await Registration.filter(
        event_id=event.id, status=RegistrationStatus.REGISTERED
    ).prefetch_related("household__region")
    rows = sorted(
        (
            AttendanceRow(
                registration_id=registration.id,
                name=registration.household.head_name,
                community=registration.household.region.name,
                attended=registration.id in recorded,
                method=recorded[registration.id].method if registration.id in recorded else "",
                at=recorded[registration.id].at if registration.id in recorded else None,
            )
            for registration in registrations
        ),
        key=lambda row: (row.community, row.name, row.registration_id),
    )
    now = utc_now()
    return SessionPage(
        event=event,
        session=session,
        number=list(ids).index(session.id) + 1,
        rows=rows,
        open=event.status == EventStatus.PUBLISHED and now >= session.starts_at - ATTENDANCE_OPENS,
    )


@dataclass
class HouseholdEvents:
    household: Household
    registered: list[HouseholdEventView]
    open_events: list[tuple[Event, str]]  # (event, "" when it fits, else why not)
    outcomes: list[EmploymentOutcome]


async def household_events(principal: Principal, household_id: int) -> HouseholdEvents:
    """For a community worker: the household's invitations and registrations, and the open events
    it could be registered for (those of its open requests' needs), each with why not when it does not fit."""
    household = await get_visible(principal, Action.REGISTER_FOR_HOUSEHOLDS, household_id)
    views = []
    seen = set()
    ids = set(await EventInvitation.filter(household_id=household.id).values_list("event_id", flat=True))
    ids |= set(await Registration.filter(household_id=household.id).values_list("event_id", flat=True))
    for event in await Event.filter(id__in=sorted(ids)).order_by("-created_at"):
        views.append(await _household_view(event, household.id))
        seen.add(event.id)
    needs = await ServiceRequest.filter(household_id=household.id, status=RequestStatus.OPEN).values_list(
        "need_id", flat=True
    )
    open_events = []
    now = utc_now()
    candidates = (
        await Event.filter(status=EventStatus.PUBLISHED, offering__need_id__in=[str(n) for n in needs])
        .exclude(id__in=sorted(seen) or [0])
        .order_by("-created_at")
        .limit(100)
    )
    for event in candidates:
        if not registration_open(event, await _first_start(event.id), now):
            continue
        open_events.append((event, await why_not(event, household)))
    return HouseholdEvents(
        household=household,
        registered=views,
        open_events=open_events[:30],
        outcomes=await EmploymentOutcome.filter(household_id=household.id)
        .order_by("-at")
        .prefetch_related("event"),
    )


async def own_events(principal: Principal, secret_key: str) -> list[tuple[HouseholdEventView, str]]:
    """The household's own invitations and registrations, with its personal link to each."""
    household = await get_visible(principal, Action.VIEW_OWN_HOUSEHOLD, principal.household_id or 0)
    ids = set(await EventInvitation.filter(household_id=household.id).values_list("event_id", flat=True))
    ids |= set(await Registration.filter(household_id=household.id).values_list("event_id", flat=True))
    found = []
    for event in await Event.filter(id__in=sorted(ids)).order_by("-created_at"):
        view = await _household_view(event, household.id)
        last_end = await _last_end(event.id)
        found.append((view, registration_path(secret_key, event.id, household.id, last_end)))
    return found
