"""The event publishing form: what the partner typed, parsed into checked values or field errors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from alliance.core.access import Action, Principal, visible
from alliance.core.codes import DeliveryMode, EventKind, FlagCode, NeedCode
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import LOCAL_TZ, to_local, utc_now
from alliance.events.codes import VenueFeature
from alliance.events.models import Event, EventSession
from alliance.partners.models import Offering
from alliance.partners.offerings import LAT_RANGE, LON_RANGE
from alliance.visits.windows import as_utc, local_window

EVENT_NEEDS = (NeedCode.VOCATIONAL_TRAINING, NeedCode.JOB_PLACEMENT)
MAX_SESSIONS = 40
MAX_SEATS = 10_000


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
