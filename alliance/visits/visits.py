"""Visits: the holder of a claim schedules a home visit, staffs it with volunteers, moves or cancels
it; the household (or its community worker) confirms, asks for another time, or declines.

No volunteer is ever double-booked. Every write that books volunteers first locks their rows
(SELECT ... FOR NO KEY UPDATE on PostgreSQL: it serialises bookers without blocking foreign-key
inserts elsewhere; SQLite serialises writers anyway), then looks for overlapping active bookings,
then inserts, all in one transaction. Two dispatchers booking the same volunteer at once are thus
ordered by the database, and the second sees the first's booking.

Each write calls `visit_notices.visit_changed` inside its transaction (the transactional outbox) and
returns the outbox job ids for the edge to relay after the commit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from geopy.distance import geodesic
from itsdangerous import BadSignature, URLSafeSerializer
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, require, visible
from alliance.core.audit import record
from alliance.core.codes import (
    NEED_SKILLS,
    Accessibility,
    HouseholdResponse,
    NeedCode,
    RequestStatus,
    Skill,
    VisitStatus,
)
from alliance.core.errors import AllianceError, InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.core.i18n import ngettext
from alliance.core.labels import label
from alliance.core.timeutil import LOCAL_TZ, to_local, utc_now
from alliance.households.models import Household
from alliance.matching.claims import (
    InvalidTransition,
    TransitionKind,
    append_transition,
    return_to_pool,
    transition_reason,
)
from alliance.matching.models import ServiceRequest
from alliance.partners.models import Volunteer
from alliance.visits import visit_notices
from alliance.visits.models import Visit, VolunteerBooking
from alliance.visits.visit_notices import VisitChange

MAX_WINDOW = timedelta(hours=12)
MIN_WINDOW = timedelta(minutes=15)
SLOT_STEP = timedelta(minutes=15)
SEARCH_DAYS = 14
MAX_NOTE = 500
# Ranking: one upcoming visit already on a volunteer's list weighs like 2 km more travel, so a near
# but busy volunteer and a slightly farther idle one trade places instead of the nearest taking all.
LOAD_KM = 2.0
# The household's personal link stays valid until this long after the visit window ends.
RESPONSE_LINK_GRACE = timedelta(days=2)
RESPONSE_SALT = "alliance.visit-response"
CALENDAR_SALT = "alliance.volunteer-calendar"
DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ACTIVE_VISIT_STATUSES = (VisitStatus.SCHEDULED, VisitStatus.CHECKED_IN)


# --- errors ---------------------------------------------------------------------------------------


class ScheduleError(AllianceError):
    """A scheduling action that cannot happen; `message` is for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class VolunteerDoubleBooked(ScheduleError):
    """The volunteer already has an active booking overlapping the window (on visit `visit_id`)."""

    def __init__(
        self,
        volunteer_id: int,
        volunteer_name: str,
        visit_id: int,
        window_start: datetime,
        window_end: datetime,
    ) -> None:
        super().__init__(
            _("{volunteer} is already booked on visit #{visit} ({start} to {end}).").format(
                volunteer=volunteer_name,
                visit=visit_id,
                start=_when(window_start),
                end=_when(window_end, "%H:%M"),
            )
        )
        self.volunteer_id = volunteer_id
        self.volunteer_name = volunteer_name
        self.visit_id = visit_id
        self.window_start = window_start
        self.window_end = window_end


class LinkInvalid(AllianceError):
    """A personal link that was forged, mangled or made for something else."""


class LinkExpired(AllianceError):
    """A genuine personal link past its validity."""


def as_utc(moment: datetime) -> datetime:
    # SQLite stores datetimes as text, so a filter compares strings: every moment that reaches a
    # query or a row is first put in UTC, whatever zone the caller gave it in.
    return moment.astimezone(UTC)


def _when(moment: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
    local = to_local(moment)
    return local.strftime(fmt) if local else ""


# --- time windows and weekly availability ----------------------------------------------------------


def local_window(day: date, start: time, end: time) -> tuple[datetime, datetime]:
    """A window given in Asia/Shanghai wall-clock time, as aware datetimes (stored in UTC)."""
    return datetime.combine(day, start, LOCAL_TZ), datetime.combine(day, end, LOCAL_TZ)


def _checked_window(window_start: datetime, window_end: datetime, now: datetime) -> None:
    if window_start.tzinfo is None or window_end.tzinfo is None:
        raise InvalidInput({"window": _("Give the time with its time zone.")})
    if window_end - window_start < MIN_WINDOW:
        raise InvalidInput({"window": _("The window must end at least 15 minutes after it starts.")})
    if window_end - window_start > MAX_WINDOW:
        raise InvalidInput({"window": _("A visit window can be at most 12 hours long.")})
    if window_start <= now:
        raise InvalidInput({"window": _("The window must start in the future.")})


def _clock(text: str) -> time | None:
    hours, _sep, minutes = str(text).partition(":")
    if not (hours.isdigit() and minutes.isdigit()):
        return None
    if (int(hours), int(minutes)) == (24, 0):
        return time.max
    if int(hours) > 23 or int(minutes) > 59:
        return None
    return time(int(hours), int(minutes))


def availability_on(weekly: dict | None, day: date) -> list[tuple[datetime, datetime]]:
    """The volunteer's available intervals on one local date, as aware datetimes. Malformed entries
    are skipped (the availability is typed in by partner staff)."""
    found = []
    for pair in (weekly or {}).get(DAY_KEYS[day.weekday()], []) or []:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            continue
        start, end = _clock(pair[0]), _clock(pair[1])
        if start is None or end is None or end <= start:
            continue
        found.append((datetime.combine(day, start, LOCAL_TZ), datetime.combine(day, end, LOCAL_TZ)))
    return sorted(found)


def is_available(weekly: dict | None, window_start: datetime, window_end: datetime) -> bool:
    """Whether the window lies inside one of the volunteer's weekly intervals (local time)."""
    local_start = window_start.astimezone(LOCAL_TZ)
    return any(
        start <= window_start and window_end <= end
        for start, end in availability_on(weekly, local_start.date())
    )


def _round_up(moment: datetime, step: timedelta = SLOT_STEP) -> datetime:
    local = moment.astimezone(LOCAL_TZ)
    midnight = datetime.combine(local.date(), time(0), LOCAL_TZ)
    steps = -(-(local - midnight) // step)
    return midnight + steps * step


# --- who may go: skills, distance, availability, bookings, load ------------------------------------


@dataclass
class VolunteerFit:
    """One volunteer judged for one window: suitable or not, with the reasons either way."""

    volunteer_id: int
    name: str
    suitable: bool
    distance_km: float | None
    load: int
    reasons: list[str] = field(default_factory=list)
    score: float = 0.0


def _needed_skills(need: str) -> tuple[Skill, ...]:
    return NEED_SKILLS.get(NeedCode(need), ()) if need in NeedCode.__members__ else ()


def distance_km(volunteer: Volunteer, household: Household) -> float | None:
    if None in (volunteer.home_lat, volunteer.home_lon, household.lat, household.lon):
        return None
    return geodesic((volunteer.home_lat, volunteer.home_lon), (household.lat, household.lon)).km


def _static_fit(volunteer: Volunteer, household: Household, need: str, load: int) -> VolunteerFit:
    """What does not depend on the window: skills and travel distance."""
    fit = VolunteerFit(volunteer.id, volunteer.name, True, distance_km(volunteer, household), load)
    needed = _needed_skills(need)
    missing = [skill for skill in needed if skill not in (volunteer.skills or [])]
    if missing:
        fit.suitable = False
        fit.reasons.append(
            _("Lacks the skill: {skills}").format(skills=", ".join(label(skill) for skill in missing))
        )
    elif needed:
        fit.reasons.append(_("Skill: {skills}").format(skills=", ".join(label(skill) for skill in needed)))
    if fit.distance_km is None:
        fit.reasons.append(_("Distance unknown: the household or the volunteer has no location."))
    elif fit.distance_km > volunteer.max_travel_km:
        fit.suitable = False
        fit.reasons.append(
            _("Too far: {km:.1f} km; travels up to {max:.0f} km.").format(
                km=fit.distance_km, max=volunteer.max_travel_km
            )
        )
    else:
        fit.reasons.append(
            _("{km:.1f} km away (travels up to {max:.0f} km).").format(
                km=fit.distance_km, max=volunteer.max_travel_km
            )
        )
    if Accessibility.DEAF in (household.accessibility or []) and Skill.SIGN_LANGUAGE in (
        volunteer.skills or []
    ):
        fit.reasons.append(_("Knows sign language."))
    fit.reasons.append(ngettext("%(num)d upcoming visit", "%(num)d upcoming visits", load) % {"num": load})
    # Unknown distance ranks as if at the edge of the volunteer's range.
    travel = fit.distance_km if fit.distance_km is not None else volunteer.max_travel_km
    fit.score = travel + LOAD_KM * load
    return fit


async def _partner_volunteers(partner_id: int) -> list[Volunteer]:
    return await Volunteer.filter(partners__id=partner_id, active=True).order_by("id")


async def _loads(volunteer_ids: list[int], now: datetime) -> Counter[int]:
    rows = await VolunteerBooking.filter(
        volunteer_id__in=volunteer_ids, active=True, window_end__gt=now
    ).values_list("volunteer_id", flat=True)
    return Counter(rows)


async def _overlapping(
    volunteer_ids: Iterable[int],
    window_start: datetime,
    window_end: datetime,
    exclude_visit: int | None = None,
) -> list[VolunteerBooking]:
    query = VolunteerBooking.filter(
        volunteer_id__in=list(volunteer_ids),
        active=True,
        window_start__lt=as_utc(window_end),
        window_end__gt=as_utc(window_start),
    )
    if exclude_visit is not None:
        query = query.exclude(visit_id=exclude_visit)
    return await query.order_by("window_start", "id")


async def _fits(
    partner_id: int,
    request: ServiceRequest,
    household: Household,
    window_start: datetime,
    window_end: datetime,
    *,
    exclude_visit: int | None = None,
) -> list[VolunteerFit]:
    volunteers = await _partner_volunteers(partner_id)
    ids = [volunteer.id for volunteer in volunteers]
    loads = await _loads(ids, utc_now())
    booked = {}
    for booking in await _overlapping(ids, window_start, window_end, exclude_visit):
        booked.setdefault(booking.volunteer_id, booking.visit_id)  # type: ignore[attr-defined]
    fits = []
    for volunteer in volunteers:
        fit = _static_fit(volunteer, household, request.need_id, loads[volunteer.id])  # type: ignore[attr-defined]
        if is_available(volunteer.weekly_availability, window_start, window_end):
            fit.reasons.insert(0, _("Available then."))
        else:
            fit.suitable = False
            fit.reasons.insert(0, _("Not available then (weekly availability)."))
        if volunteer.id in booked:
            fit.suitable = False
            fit.reasons.insert(
                0, _("Already booked then, on visit #{visit}.").format(visit=booked[volunteer.id])
            )
        fits.append(fit)
    return sorted(fits, key=lambda fit: (not fit.suitable, fit.score, fit.name, fit.volunteer_id))


@dataclass
class HeldRequest:
    request: ServiceRequest
    household: Household
    partner_id: int


async def _held_request(principal: Principal, request_id: int) -> HeldRequest:
    """The request as its holder's staff sees it (404 for anyone else)."""
    require(principal, Action.SCHEDULE_VISITS)
    request = await get_visible(principal, Action.HOLD_REQUESTS, request_id)
    if request.claimed_by_id is None:  # type: ignore[attr-defined]
        raise NotFound(f"request {request_id} is not held")
    household = await Household.get(id=request.household_id)  # type: ignore[attr-defined]
    return HeldRequest(request, household, request.claimed_by_id)  # type: ignore[attr-defined]


async def suggest_volunteers(
    principal: Principal,
    request_id: int,
    window_start: datetime,
    window_end: datetime,
    *,
    include_unsuitable: bool = False,
    exclude_visit: int | None = None,
) -> list[VolunteerFit]:
    """The partner's volunteers for this request and window, best first: the right skills, available
    by their weekly availability, not booked then, within their travel distance of the household;
    ranked by distance and current load, each with its reasons."""
    held = await _held_request(principal, request_id)
    window_start, window_end = as_utc(window_start), as_utc(window_end)
    fits = await _fits(
        held.partner_id, held.request, held.household, window_start, window_end, exclude_visit=exclude_visit
    )
    return fits if include_unsuitable else [fit for fit in fits if fit.suitable]


@dataclass
class Slot:
    window_start: datetime
    window_end: datetime
    volunteers: list[VolunteerFit]


def _first_free_start(
    weekly: dict | None,
    busy: list[tuple[datetime, datetime]],
    after: datetime,
    duration: timedelta,
    days: int,
) -> datetime | None:
    """The earliest start >= `after` in the next `days` days when the volunteer is available for
    `duration` and has no booking overlapping."""
    first_day = after.astimezone(LOCAL_TZ).date()
    for offset in range(days + 1):
        for start, end in availability_on(weekly, first_day + timedelta(days=offset)):
            # A free stretch begins at the interval's start, at `after`, or where a booking ends.
            candidates = {max(start, after)} | {
                booking_end for _booking_start, booking_end in busy if start < booking_end < end
            }
            for candidate in sorted(_round_up(moment) for moment in candidates):
                if candidate < after or candidate + duration > end:
                    continue
                if not any(b_start < candidate + duration and candidate < b_end for b_start, b_end in busy):
                    return candidate
    return None


async def earliest_slot(
    principal: Principal,
    request_id: int,
    duration: timedelta,
    after: datetime | None = None,
    *,
    days: int = SEARCH_DAYS,
) -> Slot | None:
    """The earliest window of `duration` in the next `days` days with at least one suitable volunteer
    (skills, travel distance, weekly availability, no overlapping booking), with those volunteers."""
    if not (MIN_WINDOW <= duration <= MAX_WINDOW):
        raise InvalidInput({"duration": _("A visit lasts between 15 minutes and 12 hours.")})
    held = await _held_request(principal, request_id)
    now = utc_now()
    after = as_utc(_round_up(max(after or now, now + timedelta(minutes=1))))
    horizon = after + timedelta(days=days + 1)
    volunteers = await _partner_volunteers(held.partner_id)
    loads = await _loads([volunteer.id for volunteer in volunteers], now)
    able = [
        volunteer
        for volunteer in volunteers
        if _static_fit(volunteer, held.household, held.request.need_id, loads[volunteer.id]).suitable  # type: ignore[attr-defined]
    ]
    busy: dict[int, list[tuple[datetime, datetime]]] = {volunteer.id: [] for volunteer in able}
    for booking in await _overlapping(busy, after, horizon):
        busy[booking.volunteer_id].append((booking.window_start, booking.window_end))  # type: ignore[attr-defined]
    best: datetime | None = None
    for volunteer in able:
        start = _first_free_start(volunteer.weekly_availability, busy[volunteer.id], after, duration, days)
        if start is not None and (best is None or start < best):
            best = start
    if best is None:
        return None
    best = as_utc(best)
    fits = await _fits(held.partner_id, held.request, held.household, best, best + duration)
    return Slot(best, best + duration, [fit for fit in fits if fit.suitable])


# --- writes ---------------------------------------------------------------------------------------


@dataclass
class VisitOutcome:
    visit: Visit
    # Outbox jobs written with the change: relay them after the commit (web.jobs.relay_outbox).
    job_ids: list[str] = field(default_factory=list)
    # Set when the request went back to the pool (household declined): re-match it.
    released_request_id: int | None = None


async def _chosen_volunteers(partner_id: int, volunteer_ids: Iterable[int], need: str) -> list[Volunteer]:
    ids = sorted({int(volunteer_id) for volunteer_id in volunteer_ids})
    if not ids:
        raise InvalidInput({"volunteer_ids": _("Choose at least one volunteer.")})
    volunteers = await Volunteer.filter(id__in=ids, partners__id=partner_id, active=True).order_by("id")
    if len({volunteer.id for volunteer in volunteers}) != len(ids):
        raise InvalidInput({"volunteer_ids": _("Choose among your organisation's active volunteers.")})
    needed = _needed_skills(need)
    for volunteer in volunteers:
        missing = [skill for skill in needed if skill not in (volunteer.skills or [])]
        if missing:
            raise InvalidInput(
                {
                    "volunteer_ids": _("{volunteer} lacks the skill: {skills}").format(
                        volunteer=volunteer.name, skills=", ".join(label(skill) for skill in missing)
                    )
                }
            )
    return volunteers


async def _book(
    visit_id: int, volunteer_ids: list[int], window_start: datetime, window_end: datetime
) -> None:
    """Book the volunteers on the visit for the window, or raise VolunteerDoubleBooked. Call inside
    a transaction: the lock is held until it ends."""
    # Lock in id order, so two bookers of overlapping sets never wait on each other in a cycle.
    locked = await Volunteer.filter(id__in=volunteer_ids).order_by("id").select_for_update(no_key=True)
    names = {volunteer.id: volunteer.name for volunteer in locked}
    clashes = await _overlapping(volunteer_ids, window_start, window_end, exclude_visit=visit_id)
    if clashes:
        clash = clashes[0]
        raise VolunteerDoubleBooked(
            clash.volunteer_id,  # type: ignore[attr-defined]
            names.get(clash.volunteer_id, ""),  # type: ignore[attr-defined]
            clash.visit_id,  # type: ignore[attr-defined]
            clash.window_start,
            clash.window_end,
        )
    existing = set(
        await VolunteerBooking.filter(visit_id=visit_id, volunteer_id__in=volunteer_ids).values_list(
            "volunteer_id", flat=True
        )
    )
    if existing:
        await VolunteerBooking.filter(visit_id=visit_id, volunteer_id__in=list(existing)).update(
            active=True, window_start=window_start, window_end=window_end
        )
    await VolunteerBooking.bulk_create(
        [
            VolunteerBooking(
                visit_id=visit_id, volunteer_id=volunteer_id, window_start=window_start, window_end=window_end
            )
            for volunteer_id in volunteer_ids
            if volunteer_id not in existing
        ]
    )


def _note(text: str, field_name: str, *, required: bool) -> str:
    text = " ".join(str(text or "").split())
    if required and not text:
        raise InvalidInput({field_name: _("Give a reason.")})
    if len(text) > MAX_NOTE:
        raise InvalidInput({field_name: _("At most 500 characters.")})
    return text


async def schedule_visit(
    principal: Principal,
    request_id: int,
    window_start: datetime,
    window_end: datetime,
    volunteer_ids: Iterable[int],
    notes: str = "",
) -> VisitOutcome:
    """The holder schedules a home visit for a claimed request, with one or more of its volunteers:
    the request becomes scheduled. Raises VolunteerDoubleBooked naming the volunteer and the clash."""
    held = await _held_request(principal, request_id)
    now = utc_now()
    _checked_window(window_start, window_end, now)
    window_start, window_end = as_utc(window_start), as_utc(window_end)
    volunteers = await _chosen_volunteers(held.partner_id, volunteer_ids, held.request.need_id)  # type: ignore[attr-defined]
    text = _note(notes, "notes", required=False)
    if held.request.status != RequestStatus.CLAIMED:
        raise InvalidTransition(_("Only a claimed request without a visit can be scheduled."))
    async with in_transaction():
        won = await ServiceRequest.filter(
            id=held.request.id, status=RequestStatus.CLAIMED, claimed_by_id=held.partner_id
        ).update(status=RequestStatus.SCHEDULED, claim_warned_at=None, updated_at=now)
        if not won:
            raise InvalidTransition(_("This request changed meanwhile; reload the page."))
        visit = await Visit.create(
            request_id=held.request.id,
            partner_id=held.partner_id,
            window_start=window_start,
            window_end=window_end,
            created_by_id=principal.user_id,
            notes=text,
        )
        await _book(visit.id, [volunteer.id for volunteer in volunteers], window_start, window_end)
        await append_transition(
            held.request.id,
            RequestStatus.CLAIMED,
            RequestStatus.SCHEDULED,
            principal.user_id,
            held.partner_id,
            transition_reason(TransitionKind.SCHEDULE, f"#{visit.id} {_when(window_start)}"),
        )
        job_ids = await visit_notices.visit_changed(visit, VisitChange.SCHEDULED)
        await record(
            principal,
            "visit.schedule",
            "visit",
            visit.id,
            {"request": held.request.id, "volunteers": [volunteer.id for volunteer in volunteers]},
        )
    return VisitOutcome(visit, job_ids)


async def _own_visit(principal: Principal, visit_id: int) -> Visit:
    require(principal, Action.SCHEDULE_VISITS)
    visit = await get_visible(principal, Action.SCHEDULE_VISITS, visit_id)
    if visit.status != VisitStatus.SCHEDULED:
        raise InvalidTransition(_("Only a scheduled visit that has not started can be changed."))
    return visit


async def _bump(visit: Visit, **changes: object) -> Visit:
    """Apply `changes` and a new schedule version, only if nobody changed the visit since it was read."""
    changed = await Visit.filter(
        id=visit.id, status=VisitStatus.SCHEDULED, schedule_version=visit.schedule_version
    ).update(schedule_version=F("schedule_version") + 1, updated_at=utc_now(), **changes)
    if not changed:
        raise InvalidTransition(_("This visit changed meanwhile; reload the page."))
    await visit.refresh_from_db()
    return visit


async def _active_volunteer_ids(visit_id: int) -> list[int]:
    return sorted(
        await VolunteerBooking.filter(visit_id=visit_id, active=True).values_list("volunteer_id", flat=True)
    )


async def reschedule_visit(
    principal: Principal, visit_id: int, window_start: datetime, window_end: datetime
) -> VisitOutcome:
    """Move the visit to another window, keeping its volunteers (each re-checked for clashes). The
    household is asked again: its earlier answer was for the old time."""
    visit = await _own_visit(principal, visit_id)
    _checked_window(window_start, window_end, utc_now())
    window_start, window_end = as_utc(window_start), as_utc(window_end)
    async with in_transaction():
        await _book(visit.id, await _active_volunteer_ids(visit.id), window_start, window_end)
        old = _when(visit.window_start)
        visit = await _bump(
            visit,
            window_start=window_start,
            window_end=window_end,
            household_response=HouseholdResponse.PENDING,
            household_responded_at=None,
        )
        job_ids = await visit_notices.visit_changed(visit, VisitChange.MOVED)
        await record(
            principal, "visit.reschedule", "visit", visit.id, {"from": old, "to": _when(window_start)}
        )
    return VisitOutcome(visit, job_ids)


async def change_volunteers(
    principal: Principal, visit_id: int, volunteer_ids: Iterable[int]
) -> VisitOutcome:
    """Staff the visit with exactly these volunteers: the removed are freed, the added booked."""
    visit = await _own_visit(principal, visit_id)
    request = await ServiceRequest.get(id=visit.request_id)  # type: ignore[attr-defined]
    chosen = await _chosen_volunteers(visit.partner_id, volunteer_ids, request.need_id)  # type: ignore[attr-defined]
    wanted = [volunteer.id for volunteer in chosen]
    async with in_transaction():
        current = await _active_volunteer_ids(visit.id)
        if current == wanted:
            return VisitOutcome(visit, [])
        await (
            VolunteerBooking.filter(visit_id=visit.id, active=True)
            .exclude(volunteer_id__in=wanted)
            .update(active=False)
        )
        await _book(visit.id, wanted, visit.window_start, visit.window_end)
        visit = await _bump(visit)
        job_ids = await visit_notices.visit_changed(visit, VisitChange.VOLUNTEERS_CHANGED)
        await record(principal, "visit.volunteers", "visit", visit.id, {"from": current, "to": wanted})
    return VisitOutcome(visit, job_ids)


async def cancel_visit(principal: Principal, visit_id: int, reason: str) -> VisitOutcome:
    """The holder calls the visit off: its volunteers are freed and the request is claimed again,
    ready for a new visit."""
    visit = await _own_visit(principal, visit_id)
    text = _note(reason, "reason", required=True)
    async with in_transaction():
        visit = await _bump(visit, status=VisitStatus.CANCELLED, notes=_joined(visit.notes, text))
        await VolunteerBooking.filter(visit_id=visit.id, active=True).update(active=False)
        back = await ServiceRequest.filter(
            id=visit.request_id,  # type: ignore[attr-defined]
            status=RequestStatus.SCHEDULED,
            claimed_by_id=visit.partner_id,  # type: ignore[attr-defined]
        ).update(status=RequestStatus.CLAIMED, claim_warned_at=None, updated_at=utc_now())
        if back:
            await append_transition(
                visit.request_id,  # type: ignore[attr-defined]
                RequestStatus.SCHEDULED,
                RequestStatus.CLAIMED,
                principal.user_id,
                visit.partner_id,  # type: ignore[attr-defined]
                transition_reason(TransitionKind.VISIT_CANCELLED, f"#{visit.id} {text}"),
            )
        job_ids = await visit_notices.visit_changed(visit, VisitChange.CANCELLED)
        await record(principal, "visit.cancel", "visit", visit.id, {"reason": text})
    return VisitOutcome(visit, job_ids)


def _joined(existing: str, addition: str) -> str:
    return f"{existing}\n{addition}".strip() if existing else addition


# --- the household's answer ------------------------------------------------------------------------


def response_token(secret_key: str, visit: Visit) -> str:
    """The household's personal link token for this visit: signed, valid until the visit is over."""
    expires = visit.window_end + RESPONSE_LINK_GRACE
    return URLSafeSerializer(secret_key, salt=RESPONSE_SALT).dumps(
        {"visit": visit.id, "exp": int(expires.timestamp())}
    )


def response_path(secret_key: str, visit: Visit) -> str:
    return f"/visit-response/{response_token(secret_key, visit)}"


def visit_id_from_token(secret_key: str, token: str, now: datetime | None = None) -> int:
    """The visit a personal link is for. LinkInvalid when forged or not a visit link, LinkExpired
    when genuine but past its validity."""
    try:
        payload = URLSafeSerializer(secret_key, salt=RESPONSE_SALT).loads(token)
    except BadSignature as error:
        raise LinkInvalid("bad signature") from error
    if not isinstance(payload, dict) or not isinstance(payload.get("visit"), int):
        raise LinkInvalid("not a visit link")
    if int(payload.get("exp", 0)) < (now or utc_now()).timestamp():
        raise LinkExpired(f"visit {payload['visit']}")
    return payload["visit"]


async def _respond(
    visit: Visit, response: HouseholdResponse | str, note: str, principal: Principal | None
) -> VisitOutcome:
    if response not in HouseholdResponse.__members__.values() or response == HouseholdResponse.PENDING:
        raise InvalidInput({"response": _("Choose confirm, another time, or decline.")})
    answer = HouseholdResponse(response)
    text = _note(note, "note", required=answer != HouseholdResponse.CONFIRMED)
    if visit.status != VisitStatus.SCHEDULED or visit.window_end <= utc_now():
        raise InvalidTransition(_("This visit can no longer be answered."))
    if answer == visit.household_response and answer == HouseholdResponse.CONFIRMED:
        return VisitOutcome(visit, [])  # a second tap on "confirm" changes nothing and tells no one
    actor_id = principal.user_id if principal else None
    now = utc_now()
    audit = {"response": str(answer), "note": text, "on_behalf": principal is not None}
    async with in_transaction():
        if answer == HouseholdResponse.DECLINED:
            visit = await _bump(
                visit,
                status=VisitStatus.CANCELLED,
                household_response=answer,
                household_response_note=text,
                household_responded_at=now,
            )
            await VolunteerBooking.filter(visit_id=visit.id, active=True).update(active=False)
            request = await ServiceRequest.get(id=visit.request_id)  # type: ignore[attr-defined]
            released = await return_to_pool(
                request,
                actor_id,
                transition_reason(TransitionKind.HOUSEHOLD_DECLINED, text),
                expected_partner_id=visit.partner_id,  # type: ignore[attr-defined]
                from_status=RequestStatus.SCHEDULED,
            )
            job_ids = await visit_notices.visit_changed(visit, VisitChange.HOUSEHOLD_DECLINED)
            await record(principal, "visit.household_response", "visit", visit.id, audit)
            return VisitOutcome(visit, job_ids, request.id if released else None)
        changed = await Visit.filter(
            id=visit.id, status=VisitStatus.SCHEDULED, schedule_version=visit.schedule_version
        ).update(
            household_response=answer,
            household_response_note=text,
            household_responded_at=now,
            updated_at=now,
        )
        if not changed:
            raise InvalidTransition(_("This visit changed meanwhile; reload the page."))
        await visit.refresh_from_db()
        change = (
            VisitChange.HOUSEHOLD_CONFIRMED
            if answer == HouseholdResponse.CONFIRMED
            else VisitChange.HOUSEHOLD_RESCHEDULE
        )
        job_ids = await visit_notices.visit_changed(visit, change)
        await record(principal, "visit.household_response", "visit", visit.id, audit)
    return VisitOutcome(visit, job_ids)


async def respond_by_link(
    secret_key: str, token: str, response: HouseholdResponse | str, note: str = ""
) -> VisitOutcome:
    """The household answers through its personal link: confirm, ask for another time (with a note
    that reaches the dispatcher), or decline (with a reason; the request goes back to the pool)."""
    visit = await Visit.get_or_none(id=visit_id_from_token(secret_key, token))
    if visit is None:
        raise NotFound("visit")
    return await _respond(visit, response, note, None)


async def respond_on_behalf(
    principal: Principal, visit_id: int, response: HouseholdResponse | str, note: str = ""
) -> VisitOutcome:
    """A community worker gives the household's answer for it (no phone, or no skills to use one)."""
    require(principal, Action.RESPOND_FOR_HOUSEHOLDS)
    visit = await get_visible(principal, Action.RESPOND_FOR_HOUSEHOLDS, visit_id)
    return await _respond(visit, response, note, principal)


# --- reads ----------------------------------------------------------------------------------------


@dataclass
class VisitRow:
    visit_id: int
    request_id: int
    need: str
    community: str
    window_start: datetime
    window_end: datetime
    status: str
    household_response: str
    household_response_note: str
    volunteer_names: list[str]
    schedule_version: int


async def _rows(visits: list[Visit]) -> list[VisitRow]:
    names: dict[int, list[str]] = {}
    for visit_id, name in (
        await VolunteerBooking.filter(visit_id__in=[visit.id for visit in visits], active=True)
        .order_by("volunteer_id")
        .values_list("visit_id", "volunteer__name")
    ):
        names.setdefault(visit_id, []).append(name)
    return [
        VisitRow(
            visit_id=visit.id,
            request_id=visit.request_id,  # type: ignore[attr-defined]
            need=visit.request.need_id,  # type: ignore[attr-defined]
            community=visit.request.household.region.name,
            window_start=visit.window_start,
            window_end=visit.window_end,
            status=str(visit.status),
            household_response=str(visit.household_response),
            household_response_note=visit.household_response_note,
            volunteer_names=names.get(visit.id, []),
            schedule_version=visit.schedule_version,
        )
        for visit in visits
    ]


async def partner_visits(
    principal: Principal, *, include_past: bool = False, limit: int = 200
) -> list[VisitRow]:
    """The partner's visits, soonest first: those the household asked to move come first."""
    query = visible(principal, Action.SCHEDULE_VISITS)
    if not include_past:
        query = query.filter(window_end__gt=utc_now() - timedelta(days=1))
    visits = (
        await query.order_by("window_start", "id").limit(limit).prefetch_related("request__household__region")
    )
    rows = await _rows(visits)
    return sorted(rows, key=lambda row: row.household_response != HouseholdResponse.RESCHEDULE_REQUESTED)


@dataclass
class VisitPage:
    row: VisitRow
    visit: Visit
    partner_name: str
    head_name: str
    address: str
    volunteer_ids: list[int]
    response_path: str
    can_change: bool
    # Every volunteer of the partner judged for the visit's window (its own bookings aside).
    fits: list[VolunteerFit] = field(default_factory=list)


async def visit_page(principal: Principal, visit_id: int, secret_key: str) -> VisitPage:
    """One visit as its partner's staff sees it (404 for anyone else)."""
    require(principal, Action.SCHEDULE_VISITS)
    visit = await get_visible(principal, Action.SCHEDULE_VISITS, visit_id)
    await visit.fetch_related("request__household__region", "partner")
    row = (await _rows([visit]))[0]
    household = visit.request.household
    can_change = visit.status == VisitStatus.SCHEDULED and visit.window_end > utc_now()
    fits = []
    if can_change:
        fits = await _fits(
            visit.partner_id,  # type: ignore[attr-defined]
            visit.request,
            household,
            visit.window_start,
            visit.window_end,
            exclude_visit=visit.id,
        )
    return VisitPage(
        row=row,
        visit=visit,
        partner_name=visit.partner.name,
        head_name=household.head_name,
        address=household.address,
        volunteer_ids=await _active_volunteer_ids(visit.id),
        response_path=response_path(secret_key, visit),
        can_change=can_change,
        fits=fits,
    )


@dataclass
class HouseholdVisitView:
    """What the household's personal link shows: its own visit, no one else's data."""

    visit_id: int
    need: str
    partner_name: str
    window_start: datetime
    window_end: datetime
    status: str
    household_response: str
    household_response_note: str
    volunteer_names: list[str]
    head_name: str
    can_answer: bool


async def _household_view(visit: Visit) -> HouseholdVisitView:
    await visit.fetch_related("request__household", "partner")
    row_names = (
        await VolunteerBooking.filter(visit_id=visit.id, active=True)
        .order_by("volunteer_id")
        .values_list("volunteer__name", flat=True)
    )
    return HouseholdVisitView(
        visit_id=visit.id,
        need=visit.request.need_id,  # type: ignore[attr-defined]
        partner_name=visit.partner.name,
        window_start=visit.window_start,
        window_end=visit.window_end,
        status=str(visit.status),
        household_response=str(visit.household_response),
        household_response_note=visit.household_response_note,
        volunteer_names=list(row_names),
        head_name=visit.request.household.head_name,
        can_answer=visit.status == VisitStatus.SCHEDULED and visit.window_end > utc_now(),
    )


async def visit_for_link(secret_key: str, token: str) -> HouseholdVisitView:
    visit = await Visit.get_or_none(id=visit_id_from_token(secret_key, token))
    if visit is None:
        raise NotFound("visit")
    return await _household_view(visit)


async def household_visits(
    principal: Principal, household_id: int
) -> tuple[Household, list[HouseholdVisitView]]:
    """A community worker's view of one household's recent and coming visits, to answer for it."""
    require(principal, Action.RESPOND_FOR_HOUSEHOLDS)
    household = await get_visible(principal, Action.VIEW_HOUSEHOLDS, household_id)
    visits = (
        await visible(principal, Action.RESPOND_FOR_HOUSEHOLDS)
        .filter(request__household_id=household.id, window_end__gt=utc_now() - timedelta(days=7))
        .order_by("window_start", "id")
    )
    return household, [await _household_view(visit) for visit in visits]


async def household_of_visit(principal: Principal, visit_id: int) -> int:
    """The household a visit the community worker may answer is for (404 out of their community)."""
    require(principal, Action.RESPOND_FOR_HOUSEHOLDS)
    visit = await get_visible(principal, Action.RESPOND_FOR_HOUSEHOLDS, visit_id)
    await visit.fetch_related("request")
    return visit.request.household_id  # type: ignore[attr-defined]


@dataclass
class VolunteerVisit:
    visit_id: int
    need: str
    partner_name: str
    window_start: datetime
    window_end: datetime
    status: str
    household_response: str
    address: str
    community: str
    accessibility: list[str]


async def volunteer_visits(principal: Principal, *, days: int = 30) -> list[VolunteerVisit]:
    """The volunteer's own coming visits (active bookings), soonest first."""
    volunteer = await get_visible(principal, Action.VIEW_OWN_VOLUNTEER, principal.volunteer_id or 0)
    now = utc_now()
    bookings = (
        await VolunteerBooking.filter(
            volunteer_id=volunteer.id,
            active=True,
            window_end__gt=now,
            window_start__lt=now + timedelta(days=days),
            visit__status__in=list(ACTIVE_VISIT_STATUSES),
        )
        .order_by("window_start", "id")
        .prefetch_related("visit__partner", "visit__request__household__region")
    )
    return [
        VolunteerVisit(
            visit_id=booking.visit.id,
            need=booking.visit.request.need_id,  # type: ignore[attr-defined]
            partner_name=booking.visit.partner.name,
            window_start=booking.window_start,
            window_end=booking.window_end,
            status=str(booking.visit.status),
            household_response=str(booking.visit.household_response),
            address=booking.visit.request.household.address,
            community=booking.visit.request.household.region.name,
            accessibility=list(booking.visit.request.household.accessibility or []),
        )
        for booking in bookings
    ]


# --- the volunteer's calendar link ------------------------------------------------------------------


def calendar_token(secret_key: str, volunteer_id: int) -> str:
    """The signed token of a volunteer's iCalendar feed URL (no login: calendar apps cannot log in)."""
    return URLSafeSerializer(secret_key, salt=CALENDAR_SALT).dumps({"volunteer": volunteer_id})


def volunteer_id_from_calendar_token(secret_key: str, token: str) -> int:
    try:
        payload = URLSafeSerializer(secret_key, salt=CALENDAR_SALT).loads(token)
    except BadSignature as error:
        raise LinkInvalid("bad signature") from error
    if not isinstance(payload, dict) or not isinstance(payload.get("volunteer"), int):
        raise LinkInvalid("not a calendar link")
    return payload["volunteer"]


@dataclass
class Planner:
    """The dispatcher's scheduling page for one held request: the window being considered (typed in
    or proposed) and every volunteer of the partner judged for it."""

    request_id: int
    need: str
    community: str
    head_name: str
    address: str
    status: str
    window_start: datetime | None
    window_end: datetime | None
    fits: list[VolunteerFit]
    proposed: bool = False
    no_slot: bool = False
    visit_ids: list[int] = field(default_factory=list)


async def schedule_planner(
    principal: Principal,
    request_id: int,
    window: tuple[datetime, datetime] | None = None,
    propose: timedelta | None = None,
) -> Planner:
    held = await _held_request(principal, request_id)
    await held.household.fetch_related("region")
    planner = Planner(
        request_id=held.request.id,
        need=held.request.need_id,  # type: ignore[attr-defined]
        community=held.household.region.name,
        head_name=held.household.head_name,
        address=held.household.address,
        status=str(held.request.status),
        window_start=None,
        window_end=None,
        fits=[],
        visit_ids=await Visit.filter(request_id=held.request.id, status__in=list(ACTIVE_VISIT_STATUSES))
        .order_by("window_start")
        .values_list("id", flat=True),
    )
    if propose is not None:
        slot = await earliest_slot(principal, request_id, propose)
        if slot is None:
            planner.no_slot = True
        else:
            window = (slot.window_start, slot.window_end)
            planner.proposed = True
    if window is not None:
        planner.window_start, planner.window_end = window
        planner.fits = await suggest_volunteers(principal, request_id, *window, include_unsuitable=True)
    return planner


async def own_household_visits(principal: Principal, secret_key: str) -> list[tuple[HouseholdVisitView, str]]:
    """A household user's own coming visits (the view its personal link shows), each with that link."""
    household = await get_visible(principal, Action.VIEW_OWN_HOUSEHOLD, principal.household_id or 0)
    visits = await Visit.filter(
        request__household_id=household.id, window_end__gt=utc_now() - timedelta(days=1)
    ).order_by("window_start", "id")
    return [(await _household_view(visit), response_path(secret_key, visit)) for visit in visits]
