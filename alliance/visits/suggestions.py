"""Who may go on a visit: the partner's volunteers judged for a held request and a window (skills,
distance, weekly availability, bookings, load), ranked, and the earliest window with one free."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from geopy.distance import geodesic

from alliance.core.access import Action, Principal, get_visible, require
from alliance.core.codes import NEED_SKILLS, Accessibility, NeedCode, Skill, VolunteerStatus
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.core.i18n import ngettext
from alliance.core.labels import label
from alliance.core.timeutil import LOCAL_TZ, utc_now
from alliance.households.models import Household
from alliance.matching.models import ServiceRequest
from alliance.partners.models import Volunteer, VolunteerTimeOff
from alliance.visits.models import VolunteerBooking
from alliance.visits.windows import MAX_WINDOW, MIN_WINDOW, _round_up, as_utc, availability_on, is_available

SEARCH_DAYS = 14
# Ranking: one upcoming visit already on a volunteer's list weighs like 2 km more travel, so a near
# but busy volunteer and a slightly farther idle one trade places instead of the nearest taking all.
LOAD_KM = 2.0


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
    # Within reach with the right skills (and signing, for a deaf household), whatever the window.
    able: bool = True
    available: bool = True


def signs(volunteer: Volunteer) -> bool:
    """Sign language (手语) as a skill or among the volunteer's languages."""
    return Skill.SIGN_LANGUAGE in (volunteer.skills or []) or Skill.SIGN_LANGUAGE in (
        volunteer.languages or []
    )


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
    if Accessibility.DEAF in (household.accessibility or []):
        # A deaf household is visited by someone who signs (as a blind one gets voice messages).
        if signs(volunteer):
            fit.reasons.append(_("Knows sign language."))
        else:
            fit.suitable = False
            fit.reasons.append(_("Does not sign, and the household is deaf."))
    fit.able = fit.suitable
    fit.reasons.append(ngettext("%(num)d upcoming visit", "%(num)d upcoming visits", load) % {"num": load})
    # Unknown distance ranks as if at the edge of the volunteer's range.
    travel = fit.distance_km if fit.distance_km is not None else volunteer.max_travel_km
    fit.score = travel + LOAD_KM * load
    return fit


async def _partner_volunteers(partner_id: int) -> list[Volunteer]:
    return await Volunteer.filter(
        partners__id=partner_id, active=True, status=VolunteerStatus.APPROVED
    ).order_by("id")


async def days_off(volunteer_ids: Iterable[int], since: date) -> dict[int, list[tuple[date, date]]]:
    """Each volunteer's exceptions to the weekly pattern that end on or after `since`."""
    found: dict[int, list[tuple[date, date]]] = {volunteer_id: [] for volunteer_id in volunteer_ids}
    rows = await VolunteerTimeOff.filter(volunteer_id__in=list(found), last_day__gte=since).values_list(
        "volunteer_id", "first_day", "last_day"
    )
    for volunteer_id, first, last in rows:
        found[volunteer_id].append((first, last))
    return found


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
    off = await days_off(ids, window_start.astimezone(LOCAL_TZ).date())
    fits = []
    for volunteer in volunteers:
        fit = _static_fit(volunteer, household, request.need_id, loads[volunteer.id])  # type: ignore[attr-defined]
        if is_available(volunteer.weekly_availability, window_start, window_end, off[volunteer.id]):
            fit.reasons.insert(0, _("Available then."))
        else:
            fit.suitable = False
            fit.available = False
            fit.reasons.insert(0, _("Not available then (weekly availability or a day off)."))
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
    off: Iterable[tuple[date, date]] = (),
) -> datetime | None:
    """The earliest start >= `after` in the next `days` days when the volunteer is available for
    `duration` and has no booking overlapping."""
    first_day = after.astimezone(LOCAL_TZ).date()
    for offset in range(days + 1):
        for start, end in availability_on(weekly, first_day + timedelta(days=offset), off):
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
    off = await days_off(busy, after.astimezone(LOCAL_TZ).date())
    best: datetime | None = None
    for volunteer in able:
        start = _first_free_start(
            volunteer.weekly_availability, busy[volunteer.id], after, duration, days, off[volunteer.id]
        )
        if start is not None and (best is None or start < best):
            best = start
    if best is None:
        return None
    best = as_utc(best)
    fits = await _fits(held.partner_id, held.request, held.household, best, best + duration)
    return Slot(best, best + duration, [fit for fit in fits if fit.suitable])


def why_none(fits: list[VolunteerFit], deaf: bool) -> str | None:
    """Why no volunteer is suitable, in words for the dispatcher; None when one is."""
    if any(fit.suitable for fit in fits):
        return None
    if not fits:
        return _("Your organisation has no active volunteers. Add them on the Volunteers page.")
    if deaf and not any(fit.able for fit in fits):
        return _(
            "The household is deaf and none of your volunteers who sign lives within reach with the skills "
            "this need takes. Add sign language to a volunteer's profile, or transfer the request."
        )
    if not any(fit.able for fit in fits):
        return _("None of your volunteers lives within reach with the skills this need takes.")
    return _(
        "Your volunteers who could go are not free then (their weekly availability, days off or other visits)."
    )
