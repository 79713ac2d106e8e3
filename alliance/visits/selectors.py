"""Reads of visits for each viewer: the partner's list, one visit's page and the scheduling planner;
what the household sees of its visits; a volunteer's own coming visits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alliance.core.access import Action, Principal, get_visible, require, visible
from alliance.core.codes import Accessibility, HouseholdResponse, VisitStatus
from alliance.core.errors import NotFound
from alliance.core.timeutil import utc_now
from alliance.households.models import Household
from alliance.visits.links import response_path, visit_id_from_token
from alliance.visits.models import Visit, VolunteerBooking
from alliance.visits.scheduling import _active_volunteer_ids
from alliance.visits.suggestions import (
    VolunteerFit,
    _fits,
    _held_request,
    earliest_slot,
    suggest_volunteers,
    why_none,
)

ACTIVE_VISIT_STATUSES = (VisitStatus.SCHEDULED, VisitStatus.CHECKED_IN)


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
    # A deaf household needs a volunteer who signs; `why_none` says why nobody suitable was found.
    deaf: bool = False
    why_none: str | None = None


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
        deaf=Accessibility.DEAF in (held.household.accessibility or []),
    )
    if propose is not None:
        slot = await earliest_slot(principal, request_id, propose)
        if slot is None:
            planner.no_slot = True
            # Judge everyone for a window tomorrow, to say whether it is reach and skills or time.
            start = utc_now().replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
            fits = await _fits(held.partner_id, held.request, held.household, start, start + propose)
            planner.why_none = why_none(fits, planner.deaf)
        else:
            window = (slot.window_start, slot.window_end)
            planner.proposed = True
    if window is not None:
        planner.window_start, planner.window_end = window
        planner.fits = await suggest_volunteers(principal, request_id, *window, include_unsuitable=True)
        planner.why_none = why_none(planner.fits, planner.deaf)
    return planner


async def own_household_visits(principal: Principal, secret_key: str) -> list[tuple[HouseholdVisitView, str]]:
    """A household user's own coming visits (the view its personal link shows), each with that link."""
    household = await get_visible(principal, Action.VIEW_OWN_HOUSEHOLD, principal.household_id or 0)
    visits = await Visit.filter(
        request__household_id=household.id, window_end__gt=utc_now() - timedelta(days=1)
    ).order_by("window_start", "id")
    return [(await _household_view(visit), response_path(secret_key, visit)) for visit in visits]
