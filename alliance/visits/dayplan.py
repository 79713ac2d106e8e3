"""A volunteer's day: the day's visits in an order that cuts travel, with each leg's distance.

`plan_route` is pure: nearest neighbour from the volunteer's home, then 2-opt on the open path
(the start fixed, no return home) until no reversal shortens it. A day holds a handful of visits,
so the O(n^2) passes are instant. Visits whose household has no location cannot be placed on the
map; they go last, in time order, with no distance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from geopy.distance import geodesic

from alliance.core.access import Action, Principal, get_visible
from alliance.core.codes import VisitStatus
from alliance.core.timeutil import LOCAL_TZ
from alliance.visits.models import VolunteerBooking

Point = tuple[float, float]


@dataclass(frozen=True)
class Stop:
    key: int  # the visit id
    point: Point | None
    label: str = ""
    window_start: datetime | None = None
    window_end: datetime | None = None


@dataclass(frozen=True)
class Leg:
    stop: Stop
    # From the previous stop (or home); None when either end has no location.
    distance_km: float | None


@dataclass
class DayPlan:
    day: date | None
    start: Point | None
    legs: list[Leg] = field(default_factory=list)

    @property
    def total_km(self) -> float:
        return sum(leg.distance_km or 0.0 for leg in self.legs)

    @property
    def order(self) -> list[int]:
        return [leg.stop.key for leg in self.legs]


def km(a: Point, b: Point) -> float:
    return geodesic(a, b).km


def path_length(start: Point, points: Sequence[Point]) -> float:
    total, here = 0.0, start
    for point in points:
        total += km(here, point)
        here = point
    return total


def nearest_neighbour(start: Point, points: Sequence[Point]) -> list[int]:
    """Indexes of `points` in nearest-neighbour order from `start` (ties: the lower index)."""
    left = list(range(len(points)))
    order: list[int] = []
    here = start
    while left:
        nearest = min(left, key=lambda index: (km(here, points[index]), index))
        order.append(nearest)
        left.remove(nearest)
        here = points[nearest]
    return order


def two_opt(start: Point, points: Sequence[Point], order: list[int]) -> list[int]:
    """Improve an open path from a fixed start by reversing segments while any reversal shortens it."""
    route = [start] + [points[index] for index in order]
    best = list(order)
    distance = [[km(a, b) for b in route] for a in route]
    nodes = list(range(len(route)))  # 0 is the start
    improved = True
    while improved:
        improved = False
        for i in range(1, len(nodes) - 1):
            for k in range(i + 1, len(nodes)):
                before, first, last = nodes[i - 1], nodes[i], nodes[k]
                after = nodes[k + 1] if k + 1 < len(nodes) else None
                old = distance[before][first] + (distance[last][after] if after is not None else 0.0)
                new = distance[before][last] + (distance[first][after] if after is not None else 0.0)
                if new < old - 1e-9:
                    nodes[i : k + 1] = reversed(nodes[i : k + 1])
                    improved = True
    best = [order[node - 1] for node in nodes[1:]]
    return best


def plan_route(start: Point | None, stops: Sequence[Stop], day: date | None = None) -> DayPlan:
    """Order the stops to cut travel from `start` (the volunteer's home; without one, the earliest
    located visit), and give each leg's geodesic distance."""
    located = [stop for stop in stops if stop.point is not None]
    unlocated = sorted(
        (stop for stop in stops if stop.point is None),
        key=lambda stop: (stop.window_start or datetime.max.replace(tzinfo=LOCAL_TZ), stop.key),
    )
    plan = DayPlan(day=day, start=start)
    ordered: list[Stop] = []
    if located:
        origin = start
        if origin is None:
            first = min(
                located,
                key=lambda stop: (stop.window_start or datetime.max.replace(tzinfo=LOCAL_TZ), stop.key),
            )
            origin = first.point
        points = [stop.point for stop in located]  # type: ignore[misc]
        order = two_opt(origin, points, nearest_neighbour(origin, points))  # type: ignore[arg-type]
        ordered = [located[index] for index in order]
    here = start if start is not None else (ordered[0].point if ordered else None)
    for stop in ordered:
        plan.legs.append(Leg(stop, km(here, stop.point) if here is not None else None))  # type: ignore[arg-type]
        here = stop.point
    plan.legs.extend(Leg(stop, None) for stop in unlocated)
    return plan


async def volunteer_day_plan(principal: Principal, day: date) -> DayPlan:
    """The volunteer's own visits on `day` (Asia/Shanghai) ordered to cut travel from home."""
    volunteer = await get_visible(principal, Action.VIEW_OWN_VOLUNTEER, principal.volunteer_id or 0)
    begin = datetime.combine(day, time(0), LOCAL_TZ).astimezone(UTC)  # SQLite compares text
    bookings = (
        await VolunteerBooking.filter(
            volunteer_id=volunteer.id,
            active=True,
            window_start__gte=begin,
            window_start__lt=begin + timedelta(days=1),
            visit__status__in=[VisitStatus.SCHEDULED, VisitStatus.CHECKED_IN],
        )
        .order_by("window_start", "id")
        .prefetch_related("visit__request__household")
    )
    stops = []
    for booking in bookings:
        household = booking.visit.request.household
        point = (
            (household.lat, household.lon)
            if household.lat is not None and household.lon is not None
            else None
        )
        stops.append(
            Stop(booking.visit.id, point, household.address, booking.window_start, booking.window_end)
        )
    home = (
        (volunteer.home_lat, volunteer.home_lon)
        if volunteer.home_lat is not None and volunteer.home_lon is not None
        else None
    )
    return plan_route(home, stops, day)
