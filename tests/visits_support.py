"""Shared by the visit tests: the claim world (tests.claims_support) with the request claimed by the
left partner, volunteers placed around the household, and local times a few days ahead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from alliance.core.access import Principal, principal_for
from alliance.core.timeutil import LOCAL_TZ, utc_now
from alliance.households.models import Household
from alliance.matching.claims import claim_request
from alliance.matching.matching import match_all
from alliance.matching.models import ServiceRequest
from alliance.partners.models import Partner, Volunteer
from alliance.visits.models import Visit
from alliance.visits.scheduling import schedule_visit
from alliance.visits.windows import DAY_KEYS
from tests.claims_support import ClaimWorld, add_household_request, build_claim_world
from tests.factories import Side

ALL_WEEK = {day: [["08:00", "20:00"]] for day in DAY_KEYS}
# The left household sits at (28.015, 120.655).
NEAR = (28.020, 120.660)  # ~0.7 km
MIDDLE = (28.040, 120.680)  # ~3.7 km
FAR = (28.200, 120.900)  # ~31 km


@dataclass
class VisitWorld:
    claims: ClaimWorld
    request: ServiceRequest
    dispatcher: Principal

    @property
    def partner(self) -> Partner:
        return self.claims.home.partner


async def add_volunteer(
    partner: Partner,
    name: str,
    *,
    skills: tuple[str, ...] = ("CARE",),
    home: tuple[float, float] | None = NEAR,
    max_travel_km: float = 10.0,
    availability: dict | None = None,
    region_id: str = "330302001001",
) -> Volunteer:
    volunteer = await Volunteer.create(
        name=name,
        region_id=region_id,
        skills=list(skills),
        home_lat=home[0] if home else None,
        home_lon=home[1] if home else None,
        max_travel_km=max_travel_km,
        weekly_availability=ALL_WEEK if availability is None else availability,
    )
    await volunteer.partners.add(partner)
    return volunteer


async def build_visit_world(capacity: int = 50) -> VisitWorld:
    """The left request claimed by the left partner; the left side's own volunteer is made away
    (no availability) so each test places the volunteers it needs."""
    claims = await build_claim_world(capacity=capacity)
    await Volunteer.filter(id=claims.left.volunteer.id).update(weekly_availability={})
    dispatcher = await claims.home.principal()
    await claim_request(dispatcher, claims.request.id)
    request = await ServiceRequest.get(id=claims.request.id)
    return VisitWorld(claims, request, dispatcher)


async def more_claimed_requests(world: VisitWorld, count: int) -> list[ServiceRequest]:
    """`count` further HOME_CARE requests in the left community, claimed by the left partner."""
    first = await Household.all().count()
    created = [await add_household_request(world.claims.left, f"V{first + index}") for index in range(count)]
    await match_all(notify=False)
    for request in created:
        await claim_request(world.dispatcher, request.id)
    return [await ServiceRequest.get(id=request.id) for request in created]


def days_ahead(days: int, hour: int, minute: int = 0) -> datetime:
    """Local wall-clock time `days` days from today (Asia/Shanghai)."""
    today = utc_now().astimezone(LOCAL_TZ).date()
    return datetime.combine(today + timedelta(days=days), time(hour, minute), LOCAL_TZ)


def window(days: int, hour: int, hours: float = 1.0, minute: int = 0) -> tuple[datetime, datetime]:
    start = days_ahead(days, hour, minute)
    return start, start + timedelta(hours=hours)


def local_day(days: int) -> date:
    return utc_now().astimezone(LOCAL_TZ).date() + timedelta(days=days)


async def scheduled_visit_for(side: Side, suffix: str) -> Visit:
    """A visit of the side's partner, on a further request of the side's community (its own request
    stays open), staffed by the side's volunteer: for walks that need one visit per side."""
    request = await add_household_request(side, suffix)
    await match_all(notify=False)
    dispatcher = await principal_for(side.users["dispatcher"])
    await claim_request(dispatcher, request.id)
    start, end = window(2, 10)
    return (await schedule_visit(dispatcher, request.id, start, end, [side.volunteer.id])).visit
