"""The day plan (alliance/visits/dayplan.py): nearest neighbour then 2-opt from the volunteer's home, with
each leg's geodesic distance; and the volunteer's own day from the database."""

from __future__ import annotations

import itertools
import random

import pytest
from geopy.distance import geodesic

from alliance.core.access import principal_for
from alliance.core.models import User
from alliance.households.models import Household
from alliance.visits.dayplan import (
    Stop,
    km,
    nearest_neighbour,
    path_length,
    plan_route,
    two_opt,
    volunteer_day_plan,
)
from alliance.visits.scheduling import schedule_visit
from tests.visits_support import add_volunteer, build_visit_world, local_day, more_claimed_requests, window

HOME = (28.000, 120.650)


def _stops(points):
    return [Stop(index + 1, point) for index, point in enumerate(points)]


def test_leg_distances_are_geodesic_and_add_up():
    points = [(28.010, 120.650), (28.010, 120.670), (28.030, 120.670)]
    plan = plan_route(HOME, _stops(points))
    here = HOME
    for leg in plan.legs:
        assert leg.distance_km == pytest.approx(geodesic(here, leg.stop.point).km, rel=1e-9)
        here = leg.stop.point
    # A thousandth of a degree of latitude here is about 111 m.
    assert plan.legs[0].distance_km == pytest.approx(1.109, abs=0.005)
    assert plan.total_km == pytest.approx(sum(leg.distance_km for leg in plan.legs))
    assert plan.total_km == pytest.approx(path_length(HOME, [leg.stop.point for leg in plan.legs]))


def test_two_opt_untangles_what_nearest_neighbour_crosses():
    # Greedy runs east along the near row, then must cross back for the far row: 2-opt fixes it.
    points = [(28.0, 120.651), (28.0, 120.660), (28.0, 120.700), (28.02, 120.700), (28.02, 120.649)]
    greedy = nearest_neighbour(HOME, points)
    improved = two_opt(HOME, points, greedy)
    greedy_km = path_length(HOME, [points[index] for index in greedy])
    improved_km = path_length(HOME, [points[index] for index in improved])
    assert sorted(improved) == list(range(len(points)))
    assert improved_km <= greedy_km + 1e-9
    best = min(
        path_length(HOME, [points[i] for i in order]) for order in itertools.permutations(range(len(points)))
    )
    assert improved_km == pytest.approx(best)


@pytest.mark.parametrize("seed", range(25))
def test_two_opt_never_does_worse_than_nearest_neighbour(seed):
    generator = random.Random(seed)
    points = [
        (28.0 + generator.random() * 0.1, 120.6 + generator.random() * 0.1)
        for _ in range(generator.randint(2, 9))
    ]
    greedy = nearest_neighbour(HOME, points)
    improved = two_opt(HOME, points, greedy)
    assert sorted(improved) == list(range(len(points)))
    assert (
        path_length(HOME, [points[i] for i in improved])
        <= path_length(HOME, [points[i] for i in greedy]) + 1e-9
    )
    # And it is a local optimum: no single reversal shortens it further.
    route = [points[i] for i in improved]
    length = path_length(HOME, route)
    for i, k in itertools.combinations(range(len(route)), 2):
        flipped = route[:i] + route[i : k + 1][::-1] + route[k + 1 :]
        assert path_length(HOME, flipped) >= length - 1e-9


def test_stops_without_a_location_come_last_and_no_home_starts_at_the_earliest():
    stops = [Stop(1, (28.01, 120.65)), Stop(2, None), Stop(3, (28.02, 120.65))]
    plan = plan_route(None, stops)
    assert plan.order[-1] == 2 and plan.legs[-1].distance_km is None
    assert plan.legs[0].distance_km == 0.0
    assert plan_route(HOME, []).legs == []
    assert km(HOME, HOME) == 0.0


async def test_the_volunteers_own_day_in_travel_order():
    world = await build_visit_world()
    ann = await add_volunteer(world.partner, "安志愿", home=HOME, max_travel_km=30)
    await User.filter(id=world.claims.left.users["volunteer"].id).update(volunteer_id=ann.id)
    user = await User.get(id=world.claims.left.users["volunteer"].id)
    requests = [world.request, *await more_claimed_requests(world, 2)]
    # Far, near, middle from home (north along the meridian), scheduled in that time order.
    spots = [(28.060, 120.650), (28.010, 120.650), (28.030, 120.650)]
    for hour, (request, spot) in zip((9, 11, 14), zip(requests, spots, strict=True), strict=True):
        await Household.filter(id=request.household_id).update(lat=spot[0], lon=spot[1])
        await schedule_visit(world.dispatcher, request.id, *window(1, hour), [ann.id])
    other_day = (await more_claimed_requests(world, 1))[0]
    await schedule_visit(world.dispatcher, other_day.id, *window(2, 9), [ann.id])
    plan = await volunteer_day_plan(await principal_for(user), local_day(1))
    assert [leg.stop.point for leg in plan.legs] == [spots[1], spots[2], spots[0]]
    assert plan.total_km == pytest.approx(geodesic(HOME, spots[0]).km, rel=1e-6)
    # Someone else's principal sees only their own (empty) day.
    other = await principal_for(world.claims.right.users["volunteer"])
    assert (await volunteer_day_plan(other, local_day(1))).legs == []
