"""No location before claim: a partner that moves its offering's base point (and radius) as often as
it likes, with a re-match after each move, sees nothing on the board, the request page or the API
that depends on where in its community the household lives; distances show as bands and a rank."""

from __future__ import annotations

import re

from geopy.distance import geodesic

from alliance.core.privacy import distance_band
from alliance.events.invitations import invite_households
from alliance.events.models import EventInvitation
from alliance.households.models import Household
from alliance.matching.board import BoardFilters, board_page
from alliance.matching.matching import match_all, match_offering
from alliance.matching.models import Match
from alliance.partners.offerings import OfferingForm, save_offering
from alliance.partners.tokens import create_token_for
from tests.claims_support import add_household_request, build_claim_world
from tests.conftest import TEST_SECRET
from tests.events_support import MIDDLE, NEAR, add_trainee, build_event_world, published
from tests.factories import login

# The left community's centre (tests.factories.build_two_sides).
CENTRE = (28.015, 120.655)


def _point(origin: tuple[float, float], km: float, bearing: float) -> tuple[float, float]:
    found = geodesic(kilometers=km).destination(origin, bearing)
    return round(found.latitude, 6), round(found.longitude, 6)


# Two homes of one household, 2.8 km apart, in the same community.
HOME_A = _point(CENTRE, 0.4, 45)
HOME_B = _point(CENTRE, 2.4, 225)


def _attack(home: tuple[float, float]) -> list[tuple[tuple[float, float], float]]:
    """What a partner hunting HOME_A would try: tiny circles on it, three circles to trilaterate it
    and rings bisecting the distance from far points."""
    moves = [(home, 0.1), (home, 0.5), (_point(home, 0.05, 0), 0.08)]
    moves += [(_point(home, 1.5, bearing), 1.55) for bearing in (0, 120, 240)]
    moves += [(_point(home, 4.0, 90), radius) for radius in (3.9, 4.0, 4.1, 4.6)]
    moves += [(_point(home, 8.0, 180), radius) for radius in (7.5, 8.0, 8.5, 9.0)]
    return moves


def _without_tokens(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]*"', "", html)


async def _observe(world, client, secret: str, request_id: int) -> list[dict]:
    """Everything the partner is shown after each move of the attack on HOME_A."""
    admin = await world.home.principal("admin")
    dispatcher = await world.home.principal()
    seen = []
    for base, radius in _attack(HOME_A):
        await save_offering(
            admin,
            OfferingForm(
                title=world.home.offering.title,
                need="HOME_CARE",
                base_lat=str(base[0]),
                base_lon=str(base[1]),
                radius_km=str(radius),
                monthly_capacity="10",
            ),
            world.home.offering.id,
        )
        await match_offering(world.home.offering.id, notify=False)
        page = await board_page(dispatcher, BoardFilters(), page_size=50)
        items = [item.as_json() for item in page.items]
        board_html = _without_tokens((await client.get("/board")).text)
        request_html = (await client.get(f"/requests/{request_id}")).text
        api = (
            await client.get(
                "/api/v1/partner/requests?limit=100", headers={"Authorization": f"Bearer {secret}"}
            )
        ).json()
        filtered = {
            limit: [
                item.request_id
                for item in (await board_page(dispatcher, BoardFilters(max_distance_km=limit))).items
            ]
            for limit in (1.0, 3.0, 5.0, 10.0)
        }
        matched = [item for item in items if item["request_id"] == request_id]
        if matched:
            expected = distance_band(geodesic(base, CENTRE).km)
            assert matched[0]["distance_band"] == expected, (base, radius)
        assert not re.search(r"\d+\.\d+\s*(km|公里)", board_html + request_html)
        seen.append(
            {
                "board": items,
                "board_html": board_html,
                "request_html": _without_tokens(request_html),
                "api": api,
                "filtered": filtered,
            }
        )
    return seen


async def test_moving_a_base_point_never_narrows_a_home_below_its_community(client, monkeypatch):
    # Many API calls with one token: the per-token rate (tests/test_rate_limits.py) is not this test's.
    monkeypatch.setenv("ALLIANCE_API_BURST", "1000")
    world = await build_claim_world()
    other = await add_household_request(world.left, "近邻")
    request_id = world.request.id
    household_id = world.left.household.id
    await Household.filter(id__in=[household_id, (await other.household).id]).update(
        lat=HOME_A[0], lon=HOME_A[1]
    )
    await match_all(notify=False)
    secret = (await create_token_for(world.home.partner.name)).secret
    await login(client, "dispatchA")

    when_home_is_a = await _observe(world, client, secret, request_id)
    await Household.filter(id=household_id).update(lat=HOME_B[0], lon=HOME_B[1])
    await match_all(notify=False)
    when_home_is_b = await _observe(world, client, secret, request_id)

    # The request was on the board for some moves and off it for others: the attack did run.
    shown = [any(item["request_id"] == request_id for item in seen["board"]) for seen in when_home_is_a]
    assert any(shown) and not all(shown)
    # And yet a home 2.8 km away, in another band from most of the points tried, looks the same
    # in every answer: the partner learns its community, never more.
    for move, (a, b) in enumerate(zip(when_home_is_a, when_home_is_b, strict=True)):
        for view in a:
            assert a[view] == b[view], (move, view)
    item = next(
        item
        for seen in when_home_is_a
        for item in seen["api"]["requests"]
        if item["request_id"] == request_id
    )
    assert {"distance_band", "rank"} <= set(item) and not {"distance_km", "score"} & set(item)
    assert (item["lat"], item["lon"]) == CENTRE


async def test_the_board_shows_a_band_and_a_rank_never_kilometres_or_a_score(client):
    world = await build_claim_world()
    extra = await add_household_request(world.left, "排名")
    await match_all(notify=False)
    dispatcher = await world.home.principal()
    await Match.filter(partner_id=world.home.partner.id).update(distance_km=2.345)
    page = await board_page(dispatcher, BoardFilters())
    assert [item.rank for item in page.items] == [1, 2]
    assert {item.request_id for item in page.items} == {world.request.id, extra.id}
    assert all(item.distance_band == "1-3" for item in page.items)
    await login(client, "dispatchA")
    html = (await client.get("/board")).text
    assert "1–3 km" in html and "2.3" not in html and "2.35" not in html
    # A free "within x km" filter would let a partner bisect distances: only band limits count.
    bisecting = (await client.get("/board?distance=2.34")).text
    assert f'id="request-{world.request.id}"' in bisecting and f'id="request-{extra.id}"' in bisecting
    assert (await board_page(dispatcher, BoardFilters(max_distance_km=3.0))).total == 2
    assert (await board_page(dispatcher, BoardFilters(max_distance_km=1.0))).total == 0


async def test_event_invitations_measure_from_the_community_not_the_home():
    # The partner places the venue (and can move it): invitations and their reasons must not tell
    # two homes of one community apart.
    world = await build_event_world()
    near = await add_trainee(world.left, "近家", at=NEAR)
    middle = await add_trainee(world.left, "远家", at=MIDDLE)
    event = await published(world)
    await invite_households(event.id, TEST_SECRET)
    invitations = {
        invitation.household_id: invitation for invitation in await EventInvitation.filter(event_id=event.id)
    }
    assert set(invitations) == {near.id, middle.id}
    assert invitations[near.id].reasons == invitations[middle.id].reasons
    assert invitations[near.id].distance_km == invitations[middle.id].distance_km
    assert {"code": "distance", "band": "0-1"} in invitations[near.id].reasons
