"""Check-in at the door: by the household's visit card (QR or its short code), by the phone's GPS
within a radius of the home, or by a coordinator on a volunteer's behalf.

A check-in is written once, whatever the network does: the page sends a `client_key` it made when
the volunteer tapped, and (visit, volunteer) is unique too, so double taps, retries and an offline
queue replayed later all land on the one row. The first check-in of a visit moves the visit to
checked-in and the request to in-service, with a line in the request's history.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from geopy.distance import geodesic
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, require, visible
from alliance.core.audit import record
from alliance.core.codes import CheckInMethod, LocationPrecision, RequestStatus, VisitStatus
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.core.metrics import check_in_counted
from alliance.core.models import Region
from alliance.core.regions import inherited_setting
from alliance.core.timeutil import utc_now
from alliance.households.models import Household
from alliance.matching.claims import InvalidTransition, TransitionKind, append_transition, transition_reason
from alliance.matching.models import ServiceRequest
from alliance.visits.cards import verify_card
from alliance.visits.models import CheckIn, Visit, VolunteerBooking

DEFAULT_RADIUS_M = 150.0
# An offline check-in may arrive late with its original time; older than this it is refused.
MAX_OFFLINE_AGE = timedelta(days=7)
# Phones' clocks drift: a time this far ahead of the server's is still taken as "now".
CLOCK_SKEW = timedelta(minutes=5)
# A check-in more than this long before the window starts is a mistake, not an early arrival.
EARLY_LIMIT = timedelta(hours=12)
CHECKABLE_STATUSES = (VisitStatus.SCHEDULED, VisitStatus.CHECKED_IN, VisitStatus.MISSED)


def checkin_radius_m() -> float:
    """ALLIANCE_CHECKIN_RADIUS_M (default 150 m: phone GPS is 5-50 m off, worse indoors): the radius
    of a region that sets none of its own."""
    value = float(os.environ.get("ALLIANCE_CHECKIN_RADIUS_M") or DEFAULT_RADIUS_M)
    if value <= 0:
        raise ValueError("ALLIANCE_CHECKIN_RADIUS_M must be positive")
    return value


async def checkin_radii_m(region_paths: Iterable[str]) -> dict[str, int]:
    """The check-in radius of each region path: the region's own setting, else its nearest
    ancestor's, else ALLIANCE_CHECKIN_RADIUS_M. One query for any number of paths."""
    return await inherited_setting(region_paths, "checkin_radius_m", round(checkin_radius_m()))


async def household_checkin_radius_m(household: Household) -> float:
    """The geofence of a door or regular-visit check-in: the radius of the household's region."""
    path = await Region.get(code=household.region_id).values_list("path", flat=True)  # type: ignore[attr-defined]
    return float((await checkin_radii_m([path]))[path])


@dataclass
class CheckInOutcome:
    check_in: CheckIn
    created: bool
    visit: Visit

    @property
    def needs_review(self) -> bool:
        return self.check_in.needs_review


def _client_key(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    key = value.strip()
    if len(key) > 64 or not all(ch.isalnum() or ch in "-_" for ch in key):
        raise InvalidInput({"client_key": _("The page sent a malformed key; reload it and try again.")})
    return key


def _moment(at: datetime | None, visit: Visit, now: datetime) -> datetime:
    """The time the volunteer tapped (sent later by an offline page), checked for sense."""
    if at is None:
        return now
    if at.tzinfo is None:
        raise InvalidInput({"at": _("The time must carry its time zone.")})
    if at > now + CLOCK_SKEW:
        raise InvalidInput({"at": _("The check-in time is in the future.")})
    if at < now - MAX_OFFLINE_AGE:
        raise InvalidInput({"at": _("The check-in is more than 7 days old; ask a coordinator to record it.")})
    if at < visit.window_start - EARLY_LIMIT:
        raise InvalidInput({"at": _("The check-in is long before the visit's window.")})
    # UTC before it reaches a row: SQLite compares stored times as text.
    return min(at, now).astimezone(UTC)


async def _existing(visit_id: int, volunteer_id: int | None, client_key: str | None) -> CheckIn | None:
    if client_key:
        found = await CheckIn.get_or_none(client_key=client_key)
        if found is not None:
            if found.visit_id != visit_id:  # type: ignore[attr-defined]
                raise InvalidInput({"client_key": _("This key belongs to another check-in.")})
            return found
    if volunteer_id is not None:
        return await CheckIn.get_or_none(visit_id=visit_id, volunteer_id=volunteer_id)
    return None


def _refuse_closed(visit: Visit) -> None:
    if visit.status == VisitStatus.CANCELLED:
        raise InvalidTransition(_("This visit was cancelled: there is nothing to check in to."))
    if visit.status == VisitStatus.COMPLETED:
        raise InvalidTransition(_("This visit is already completed."))


async def _write(
    visit: Visit,
    *,
    volunteer_id: int | None,
    method: CheckInMethod,
    at: datetime,
    client_key: str | None,
    actor_id: int,
    lat: float | None = None,
    lon: float | None = None,
    distance_m: float | None = None,
    needs_review: bool = False,
    reason: str = "",
) -> CheckInOutcome:
    """Insert the check-in and move visit and request on; the existing row when it is a repeat."""
    existing = await _existing(visit.id, volunteer_id, client_key)
    if existing is not None:
        return CheckInOutcome(existing, False, visit)
    try:
        async with in_transaction():
            check_in = await CheckIn.create(
                visit_id=visit.id,
                volunteer_id=volunteer_id,
                method=method,
                lat=lat,
                lon=lon,
                distance_m=None if distance_m is None else round(distance_m, 1),
                needs_review=needs_review,
                reason=reason,
                recorded_by_id=actor_id,
                client_key=client_key,
                at=at,
            )
            moved = await Visit.filter(
                id=visit.id, status__in=[VisitStatus.SCHEDULED, VisitStatus.MISSED]
            ).update(status=VisitStatus.CHECKED_IN, updated_at=utc_now())
            if moved:
                request = await ServiceRequest.get(id=visit.request_id)  # type: ignore[attr-defined]
                started = await ServiceRequest.filter(id=request.id, status=RequestStatus.SCHEDULED).update(
                    status=RequestStatus.IN_SERVICE, updated_at=utc_now()
                )
                if started:
                    await append_transition(
                        request.id,
                        RequestStatus.SCHEDULED,
                        RequestStatus.IN_SERVICE,
                        actor_id,
                        visit.partner_id,  # type: ignore[attr-defined]
                        transition_reason(TransitionKind.CHECK_IN, reason),
                    )
            elif visit.status != VisitStatus.CHECKED_IN:
                await visit.refresh_from_db()
                _refuse_closed(visit)
    except IntegrityError:
        # A concurrent copy of this check-in won the unique key: it is the one.
        existing = await _existing(visit.id, volunteer_id, client_key)
        if existing is None:
            raise
        return CheckInOutcome(existing, False, visit)
    check_in_counted(str(method), needs_review)
    await visit.refresh_from_db()
    return CheckInOutcome(check_in, True, visit)


async def _volunteer_visit(principal: Principal, visit_id: int) -> Visit:
    require(principal, Action.CHECK_IN)
    visit = await get_visible(principal, Action.CHECK_IN, visit_id)
    _refuse_closed(visit)
    if visit.status not in CHECKABLE_STATUSES:
        raise InvalidTransition(_("This visit cannot be checked in to."))
    return visit


async def _household_of(visit: Visit) -> Household:
    request = await ServiceRequest.get(id=visit.request_id).prefetch_related("household")  # type: ignore[attr-defined]
    return request.household


async def check_in_by_card(
    principal: Principal,
    visit_id: int,
    secret_key: str,
    *,
    token: str = "",
    code: str = "",
    client_key: str | None = None,
    at: datetime | None = None,
) -> CheckInOutcome:
    """Check in by scanning the household's card (token) or typing the code printed under it.
    A card of another household, a forged or a replaced card raises CardRefused."""
    visit = await _volunteer_visit(principal, visit_id)
    key = _client_key(client_key)
    existing = await _existing(visit.id, principal.volunteer_id, key)
    if existing is not None:
        return CheckInOutcome(existing, False, visit)
    if not token.strip() and not code.strip():
        raise InvalidInput({"code": _("Scan the card or type the code printed under it.")})
    household = await _household_of(visit)
    proof = verify_card(secret_key, household, token=token, code=code)
    moment = _moment(at, visit, utc_now())
    return await _write(
        visit,
        volunteer_id=principal.volunteer_id,
        method=CheckInMethod.QR,
        at=moment,
        client_key=key,
        actor_id=principal.user_id,
        reason=proof.by,
    )


def _coordinate(value: float | str | None, name: str, low: float, high: float) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput({name: _("The phone sent no usable position.")}) from None
    if not low <= number <= high:
        raise InvalidInput({name: _("The phone sent no usable position.")})
    return number


async def check_in_by_gps(
    principal: Principal,
    visit_id: int,
    lat: float | str | None,
    lon: float | str | None,
    *,
    accuracy_m: float | None = None,
    client_key: str | None = None,
    at: datetime | None = None,
    radius_m: float | None = None,
) -> CheckInOutcome:
    """Check in by the phone's position. Within the radius of the household: a plain check-in.
    Farther (or the household's point is only its region's centre): accepted, flagged for review."""
    visit = await _volunteer_visit(principal, visit_id)
    key = _client_key(client_key)
    existing = await _existing(visit.id, principal.volunteer_id, key)
    if existing is not None:
        return CheckInOutcome(existing, False, visit)
    latitude = _coordinate(lat, "lat", -90, 90)
    longitude = _coordinate(lon, "lon", -180, 180)
    household = await _household_of(visit)
    radius = radius_m or await household_checkin_radius_m(household)
    distance = None
    needs_review = True
    note = ""
    if household.lat is None or household.lon is None:
        note = "household has no position"
    else:
        distance = geodesic((latitude, longitude), (household.lat, household.lon)).meters
        if household.location_precision == LocationPrecision.REGION:
            note = "household placed at its region's centre only"
        else:
            needs_review = distance > radius
            if needs_review:
                note = f"{round(distance)} m from the household (radius {round(radius)} m)"
    if accuracy_m is not None and needs_review:
        note = f"{note}; phone accuracy ±{round(float(accuracy_m))} m"
    return await _write(
        visit,
        volunteer_id=principal.volunteer_id,
        method=CheckInMethod.GPS,
        at=_moment(at, visit, utc_now()),
        client_key=key,
        actor_id=principal.user_id,
        lat=latitude,
        lon=longitude,
        distance_m=distance,
        needs_review=needs_review,
        reason=note,
    )


_NOTE_DISTANCE = re.compile(r"^(\d+) m from the household \(radius (\d+) m\)$")
_NOTE_ACCURACY = re.compile(r"^(.*); phone accuracy ±(\d+) m$")


def check_in_note_text(note: str) -> str:
    """A GPS check-in's stored note (written in English, above) in the reader's language."""
    accuracy = _NOTE_ACCURACY.match(note or "")
    main = accuracy.group(1) if accuracy else (note or "")
    if main == "household has no position":
        text = _("the household has no position")
    elif main == "household placed at its region's centre only":
        text = _("the household is placed at its region's centre only")
    elif found := _NOTE_DISTANCE.match(main):
        text = _("%(distance)s m from the household (radius %(radius)s m)") % {
            "distance": found.group(1),
            "radius": found.group(2),
        }
    else:
        text = main
    if accuracy:
        text = _("%(note)s; phone accuracy ±%(metres)s m") % {"note": text, "metres": accuracy.group(2)}
    return text


async def check_in_on_behalf(
    principal: Principal, visit_id: int, volunteer_id: int, reason: str, *, at: datetime | None = None
) -> CheckInOutcome:
    """A coordinator records a volunteer's arrival (the phone died, no signal at the door), with the
    reason, which stays in the request's history."""
    require(principal, Action.OVERSEE_VISITS)
    visit = await get_visible(principal, Action.OVERSEE_VISITS, visit_id)
    _refuse_closed(visit)
    text = " ".join(reason.split())[:200]
    if not text:
        raise InvalidInput({"reason": _("Say why you check in for the volunteer.")})
    if not await VolunteerBooking.exists(visit_id=visit.id, volunteer_id=volunteer_id, active=True):
        raise InvalidInput({"volunteer": _("This volunteer is not booked on this visit.")})
    outcome = await _write(
        visit,
        volunteer_id=volunteer_id,
        method=CheckInMethod.ON_BEHALF,
        at=_moment(at, visit, utc_now()),
        client_key=None,
        actor_id=principal.user_id,
        reason=text,
    )
    if outcome.created:
        await record(
            principal,
            "visit.check_in_on_behalf",
            "visit",
            visit.id,
            {"volunteer": volunteer_id, "reason": text},
        )
    return outcome


async def review_check_in(principal: Principal, check_in_id: int) -> CheckIn:
    """A coordinator has looked at a far-away check-in and accepts it."""
    require(principal, Action.OVERSEE_VISITS)
    check_in = await CheckIn.get_or_none(id=check_in_id)
    if check_in is None:
        raise NotFound(f"check-in {check_in_id}")
    await get_visible(principal, Action.OVERSEE_VISITS, check_in.visit_id)  # type: ignore[attr-defined]
    if check_in.needs_review and check_in.reviewed_at is None:
        await CheckIn.filter(id=check_in.id, reviewed_at__isnull=True).update(
            reviewed_by_id=principal.user_id, reviewed_at=utc_now()
        )
        await record(
            principal, "check_in.reviewed", "check_in", check_in.id, {"distance_m": check_in.distance_m}
        )
        await check_in.refresh_from_db()
    return check_in


@dataclass(frozen=True)
class ReviewRow:
    check_in_id: int
    visit_id: int
    at: datetime
    volunteer_name: str
    household_name: str
    community: str
    distance_m: float | None
    note: str


async def check_ins_to_review(principal: Principal, limit: int = 200) -> list[ReviewRow]:
    """Flagged check-ins of the coordinator's region that nobody has reviewed yet, oldest first."""
    visits = visible(principal, Action.OVERSEE_VISITS)
    rows = (
        await CheckIn.filter(
            needs_review=True, reviewed_at__isnull=True, visit_id__in=Subquery(visits.values("id"))
        )
        .order_by("at")
        .limit(limit)
        .prefetch_related("volunteer", "visit__request__household__region")
    )
    return [
        ReviewRow(
            check_in_id=row.id,
            visit_id=row.visit.id,
            at=row.at,
            volunteer_name=row.volunteer.name if row.volunteer else "",
            household_name=row.visit.request.household.head_name,
            community=row.visit.request.household.region.name,
            distance_m=row.distance_m,
            note=check_in_note_text(row.reason),
        )
        for row in rows
    ]


# --- the volunteer's door page -------------------------------------------------------------------


def accessibility_instructions(accessibility: list[str] | None) -> list[str]:
    """What the volunteer should do, for each of the household's accessibility needs."""
    texts = {
        "BLIND": _(
            "Blind: announce yourself at the door, say your name and organisation, and read the service aloud."
        ),
        "LOW_VISION": _("Low vision: use large print, good light, and read anything you hand over aloud."),
        "DEAF": _(
            "Deaf: use the written card or sign language; face the person and write down times and codes."
        ),
        "WHEELCHAIR": _(
            "Wheelchair user: wait at the door longer, keep paths clear, and sit at eye level to talk."
        ),
        "COGNITIVE": _(
            "Cognitive disability: speak simply, one step at a time, and confirm with a family member."
        ),
        "BEDRIDDEN": _("Bedridden: someone else may open the door; ask before entering the bedroom."),
    }
    return [texts[code] for code in accessibility or [] if code in texts]


def maps_link(lat: float | None, lon: float | None, label: str) -> str | None:
    """A geo: URI, which phones open in their own maps app (no map service of ours involved)."""
    if lat is None or lon is None:
        return None
    return f"geo:{lat:.6f},{lon:.6f}?q={lat:.6f},{lon:.6f}({label})"


@dataclass(frozen=True)
class DoorPage:
    visit: Visit
    household: Household
    need: str
    community: str
    partner_name: str
    instructions: list[str]
    maps_url: str | None
    my_check_in: CheckIn | None
    checked_in: bool
    completed: bool


async def door_page(principal: Principal, visit_id: int) -> DoorPage:
    """Everything the volunteer needs at the door: where, who, how to behave, what to deliver."""
    require(principal, Action.CHECK_IN)
    visit = await get_visible(principal, Action.CHECK_IN, visit_id)
    await visit.fetch_related("partner", "request__household__region")
    household = visit.request.household
    mine = await CheckIn.get_or_none(visit_id=visit.id, volunteer_id=principal.volunteer_id)
    return DoorPage(
        visit=visit,
        household=household,
        need=str(visit.request.need_id),  # type: ignore[attr-defined]
        community=household.region.name,
        partner_name=visit.partner.name,
        instructions=accessibility_instructions(household.accessibility),
        maps_url=maps_link(household.lat, household.lon, household.address or household.region.name),
        my_check_in=mine,
        checked_in=visit.status == VisitStatus.CHECKED_IN,
        completed=visit.status == VisitStatus.COMPLETED,
    )


@dataclass(frozen=True)
class UnderWay:
    visit_id: int
    window_start: datetime
    window_end: datetime
    status: str
    household_name: str
    community: str
    partner_name: str
    volunteers: list[tuple[int, str]]


async def visits_under_way(principal: Principal, hours: int = 12, limit: int = 200) -> list[UnderWay]:
    """Visits of the region around now with nobody checked in yet: where a coordinator may check in
    on a volunteer's behalf (a phone that died, no signal at the door)."""
    now = utc_now()
    rows = (
        await visible(principal, Action.OVERSEE_VISITS)
        .filter(
            status__in=[VisitStatus.SCHEDULED, VisitStatus.MISSED],
            window_start__gte=(now - timedelta(hours=hours)).astimezone(UTC),
            window_start__lte=(now + timedelta(hours=hours)).astimezone(UTC),
        )
        .order_by("window_start")
        .limit(limit)
        .prefetch_related("partner", "request__household__region")
    )
    booked: dict[int, list[tuple[int, str]]] = {}
    for visit_id, volunteer_id, name in await VolunteerBooking.filter(
        visit_id__in=[row.id for row in rows], active=True
    ).values_list("visit_id", "volunteer_id", "volunteer__name"):
        booked.setdefault(visit_id, []).append((volunteer_id, name))
    return [
        UnderWay(
            visit_id=row.id,
            window_start=row.window_start,
            window_end=row.window_end,
            status=str(row.status),
            household_name=row.request.household.head_name,
            community=row.request.household.region.name,
            partner_name=row.partner.name,
            volunteers=booked.get(row.id, []),
        )
        for row in rows
    ]


async def door_pages(principal: Principal, visit_ids: list[int]) -> dict[int, DoorPage]:
    """The door briefs of a day's visits (a volunteer has a handful a day)."""
    return {visit_id: await door_page(principal, visit_id) for visit_id in visit_ids}
