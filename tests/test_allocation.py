"""Allocation proposals: the min-cost flow beats nearest-first on both counts whenever any
allocation can and is never worse on either; coordinators propose for their own region; partners
answer only their own items; pages refuse everyone else."""

from __future__ import annotations

import itertools
import random

import httpx

from alliance.core.access import principal_for
from alliance.core.codes import ProposalStatus
from alliance.core.errors import NotFound
from alliance.matching.allocation import (
    AllocationInstance,
    decide_item,
    greedy_allocation,
    propose_allocation,
    solve_allocation,
)
from alliance.matching.matching import match_all
from alliance.matching.models import AllocationProposal, Match, ProposalItem, ServiceRequest
from alliance.notifications.models import OutboxJob
from tests.factories import build_two_sides, login, session_csrf
from tests.test_matching import LUCHENG, build_city, make_offering, make_partner, make_request, point_at

# Two tight corners of one district, one place per offering, on a line (km from 五马社区, east).
# West: A at 0 and B at 4; R1 (urgent) at 1 reaches both, R2 at -2 reaches only A.
# East: E at 60 and D at 80; R3 (urgent) at 70.5 reaches both, R4 at 81 reaches both (E: 21 km).
TIGHT = AllocationInstance(
    priorities={1: 80, 2: 40, 3: 80, 4: 40},
    edges=[
        (1, 10, 1.0),
        (1, 11, 3.0),
        (2, 10, 2.0),
        (3, 12, 9.5),
        (3, 13, 10.5),
        (4, 12, 1.0),
        (4, 13, 21.0),
    ],
    places={10: 1, 11: 1, 12: 1, 13: 1},
)


def test_the_flow_serves_more_requests_with_less_distance_than_nearest_first():
    greedy = greedy_allocation(TIGHT)
    flow = solve_allocation(TIGHT)
    # Nearest-first: R1 takes A, so R2 gets nothing; R3 takes D, so R4 travels 21 km to E.
    assert greedy.assignment == {1: 10, 3: 12, 4: 13}
    assert (greedy.served, greedy.total_distance_km) == (3, 31.5)
    assert flow.assignment == {1: 11, 2: 10, 3: 13, 4: 12}
    assert (flow.served, flow.total_distance_km) == (4, 16.5)


def test_with_too_few_places_the_urgent_request_is_served():
    instance = AllocationInstance(
        priorities={1: 10, 2: 90}, edges=[(1, 10, 1.0), (2, 10, 5.0)], places={10: 1}
    )
    assert solve_allocation(instance).assignment == {2: 10}


# TIGHT plus a third corner: C at 1.5 km from R5 (urgent), who also reaches H at 30 km; R6 reaches
# only C, at 1 km. Serving all six means R5 travels 30 km: 47.5 km in all, more than nearest-first.
THREE_CORNERS = AllocationInstance(
    priorities={**TIGHT.priorities, 5: 80, 6: 40},
    edges=[*TIGHT.edges, (5, 14, 1.5), (5, 15, 30.0), (6, 14, 1.0)],
    places={**TIGHT.places, 14: 1, 15: 1},
)


def test_when_serving_everyone_travels_further_the_proposal_still_beats_nearest_first_on_both():
    greedy = greedy_allocation(THREE_CORNERS)
    flow = solve_allocation(THREE_CORNERS)
    assert (greedy.served, greedy.total_distance_km) == (4, 33.0)
    # Five served in 18 km; the sixth would cost R5 a 30 km trip, past nearest-first's 33 km.
    assert (flow.served, flow.total_distance_km) == (5, 18.0)
    assert flow.served > greedy.served and flow.total_distance_km < greedy.total_distance_km


def test_within_nearest_firsts_distance_the_urgent_request_keeps_the_place():
    flow = solve_allocation(THREE_CORNERS)
    # R5 (priority 80) takes C although R6 (priority 40) would be 0.5 km closer.
    assert flow.assignment == {1: 11, 2: 10, 3: 13, 4: 12, 5: 14}


def test_when_greedy_is_already_optimal_the_proposal_is_no_worse():
    instance = AllocationInstance(
        priorities={1: 50, 2: 50},
        edges=[(1, 10, 1.0), (1, 11, 4.0), (2, 11, 2.0), (2, 10, 5.0)],
        places={10: 1, 11: 1},
    )
    greedy, flow = greedy_allocation(instance), solve_allocation(instance)
    assert (flow.served, flow.total_distance_km) == (greedy.served, greedy.total_distance_km) == (2, 3.0)


def test_when_serving_more_would_travel_further_the_proposal_matches_nearest_first():
    # R1 (urgent) at 1 km from A and 3 km from B; R2 reaches only A, at 2 km. Serving both takes
    # 5 km against nearest-first's 1 km for R1 alone.
    instance = AllocationInstance(
        priorities={1: 80, 2: 40}, edges=[(1, 10, 1.0), (1, 11, 3.0), (2, 10, 2.0)], places={10: 1, 11: 1}
    )
    greedy, flow = greedy_allocation(instance), solve_allocation(instance)
    assert (greedy.served, greedy.total_distance_km) == (1, 1.0)
    assert flow.assignment == {1: 10} and flow.total_distance_km == 1.0


def _every_allocation(instance: AllocationInstance) -> list[tuple[int, float]]:
    """(served, total km) of every assignment within places, by enumeration."""
    choices = {request: [None] for request in instance.priorities}
    for request, offering, km in instance.edges:
        choices[request].append((offering, km))
    outcomes = []
    for picks in itertools.product(*choices.values()):
        taken = [pick for pick in picks if pick is not None]
        used: dict[int, int] = {}
        for offering, _km in taken:
            used[offering] = used.get(offering, 0) + 1
        if all(count <= instance.places[offering] for offering, count in used.items()):
            outcomes.append((len(taken), round(sum(km for _offering, km in taken), 3)))
    return outcomes


def _random_corners(rng: random.Random) -> AllocationInstance:
    """Two corners of three requests and three one-place offerings; trips mostly short, some long,
    so that nearest-first sometimes strands a request and sometimes sends one far."""
    priorities: dict[int, int] = {}
    edges: list[tuple[int, int, float | None]] = []
    for corner in (0, 10):
        for request in range(corner + 1, corner + 4):
            priorities[request] = rng.choice((0, 20, 40, 60, 80, 100))
            for offering in rng.sample(range(100 + corner, 103 + corner), rng.randint(1, 3)):
                km = rng.randint(5, 50) / 10 if rng.random() < 0.6 else rng.randint(100, 300) / 10
                edges.append((request, offering, km))
    return AllocationInstance(priorities, edges, {offering: 1 for _request, offering, _km in edges})


def test_on_random_small_instances_the_proposal_beats_nearest_first_on_both_whenever_anything_can():
    rng = random.Random(20261127)
    beaten = matched = 0
    for _round in range(600):
        instance = _random_corners(rng)
        greedy, flow = greedy_allocation(instance), solve_allocation(instance)
        kilometres = {(request, offering): km for request, offering, km in instance.edges}
        offerings = list(flow.assignment.values())
        assert all(offerings.count(offering) <= places for offering, places in instance.places.items())
        assert flow.total_distance_km == round(sum(kilometres[pair] for pair in flow.assignment.items()), 3)
        within = [served for served, km in _every_allocation(instance) if km < greedy.total_distance_km]
        if within and max(within) > greedy.served:  # some allocation beats nearest-first on both
            beaten += 1
            assert flow.served == max(within), instance
            assert flow.total_distance_km < greedy.total_distance_km, instance
        else:
            matched += 1
            assert flow.served >= greedy.served, instance
            assert flow.total_distance_km <= greedy.total_distance_km, instance
    assert beaten >= 20 and matched >= 20  # both cases were exercised


def test_nothing_to_allocate_is_an_empty_proposal():
    empty = AllocationInstance(priorities={}, edges=[], places={})
    assert solve_allocation(empty).served == 0 == greedy_allocation(empty).served


async def _tight_district():
    """TIGHT, built in the database along an east-west line through 五马社区."""
    await build_city()
    partner_a = await make_partner("甲服务社")
    partner_b = await make_partner("乙服务社")
    a = await make_offering(partner_a, base=point_at(0.0), radius_km=2.5, capacity=1, title="A")
    b = await make_offering(partner_b, base=point_at(4.0), radius_km=3.5, capacity=1, title="B")
    r1 = await make_request(point=point_at(1.0), priority=80)
    r2 = await make_request(point=point_at(2.0, 270), priority=40)
    e = await make_offering(partner_b, base=point_at(60.0), radius_km=25, capacity=1, title="E")
    d = await make_offering(partner_a, base=point_at(80.0), radius_km=10, capacity=1, title="D")
    r3 = await make_request(point=point_at(70.5), priority=80)
    r4 = await make_request(point=point_at(81.0), priority=40)
    await match_all(notify=False)
    return (partner_a, partner_b), (a, b, d, e), (r1, r2, r3, r4)


async def test_a_coordinator_proposal_stores_both_figures_and_items_for_each_partner():
    from alliance.core.accounts import create_user
    from alliance.core.codes import Role
    from tests.factories import PASSWORD

    partners, (a, b, d, e), (r1, r2, r3, r4) = await _tight_district()
    coordinator = await create_user("luchengcoord", PASSWORD, Role.COORDINATOR, region_code=LUCHENG)
    outcome = await propose_allocation(await principal_for(coordinator))
    proposal = await AllocationProposal.get(id=outcome.proposal.id)
    assert proposal.requests_served == 4 and proposal.greedy_requests_served == 3
    assert proposal.total_distance_km < proposal.greedy_total_distance_km
    assert abs(proposal.total_distance_km - 16.5) < 0.01
    assert abs(proposal.greedy_total_distance_km - 31.5) < 0.01
    items = dict(await ProposalItem.filter(proposal_id=proposal.id).values_list("request_id", "offering_id"))
    assert items == {r1.id: b.id, r2.id: a.id, r3.id: e.id, r4.id: d.id}
    # Each item carries its partner and the distance of the match it follows.
    stored = await ProposalItem.filter(proposal_id=proposal.id).values_list(
        "request_id", "offering_id", "partner_id", "distance_km"
    )
    matches = {
        (request, offering): (partner, km)
        for request, offering, partner, km in await Match.all().values_list(
            "request_id", "offering_id", "partner_id", "distance_km"
        )
    }
    assert {(request, offering): (partner, km) for request, offering, partner, km in stored} == {
        pair: matches[pair] for pair in items.items()
    }
    assert abs(sum(km for *_ids, km in stored) - 16.5) < 0.01


async def test_partners_answer_only_their_own_items():
    from alliance.core.accounts import create_user
    from alliance.core.codes import Role
    from tests.factories import PASSWORD

    (partner_a, partner_b), _offerings, (r1, r2, _r3, _r4) = await _tight_district()
    coordinator = await create_user("luchengcoord", PASSWORD, Role.COORDINATOR, region_code=LUCHENG)
    outcome = await propose_allocation(await principal_for(coordinator))
    dispatcher_a = await principal_for(
        await create_user("da", PASSWORD, Role.DISPATCHER, partner_id=partner_a.id)
    )
    dispatcher_b = await principal_for(
        await create_user("db", PASSWORD, Role.DISPATCHER, partner_id=partner_b.id)
    )
    item_of_a = await ProposalItem.get(proposal_id=outcome.proposal.id, request_id=r2.id)
    item_of_b = await ProposalItem.get(proposal_id=outcome.proposal.id, request_id=r1.id)
    try:
        await decide_item(dispatcher_b, item_of_a.id, accept=True)
        raise AssertionError("partner B answered partner A's item")
    except NotFound:
        pass
    declined = await decide_item(dispatcher_b, item_of_b.id, accept=False)
    assert declined.item.status == ProposalStatus.DECLINED and not declined.claimed
    assert (await ServiceRequest.get(id=r1.id)).status == "open"
    accepted = await decide_item(dispatcher_a, item_of_a.id, accept=True)
    assert accepted.item.status == ProposalStatus.ACCEPTED
    request = await ServiceRequest.get(id=r2.id)
    if accepted.claimed:  # through alliance.claims.claim_request
        assert request.status == "claimed" and request.claimed_by_id == partner_a.id  # type: ignore[attr-defined]
    # A second answer keeps the first.
    again = await decide_item(dispatcher_a, item_of_a.id, accept=False)
    assert again.item.status == ProposalStatus.ACCEPTED


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_pages_serve_coordinators_and_partners_and_refuse_everyone_else(app, arq_worker):
    left, right, _admin = await build_two_sides()
    await make_offering(left.partner, regions=(left.district,), title="鹿城上门照护")
    await match_all(notify=False)

    async with _client(app) as client:
        await login(client, left.users["coordinator"].username)
        gaps = await client.get("/matching/gaps")
        assert gaps.status_code == 200 and "文成县" not in gaps.text
        created = await client.post(
            "/matching/proposals", data={}, headers={"X-CSRF-Token": session_csrf(client)}
        )
        assert created.status_code == 303
        # The worker computes it: until then the page shows its progress and polls.
        waiting = await client.get(created.headers["location"])
        assert waiting.status_code == 200 and "<progress" in waiting.text
        assert "鹿城上门照护" not in waiting.text
        polled = await client.get(created.headers["location"] + "/progress", headers={"HX-Request": "true"})
        assert polled.status_code == 200 and "<progress" in polled.text and "HX-Refresh" not in polled.headers
        await arq_worker.main()
        done = await client.get(created.headers["location"] + "/progress", headers={"HX-Request": "true"})
        assert done.headers.get("HX-Refresh") == "true"
        page = await client.get(created.headers["location"])
        assert page.status_code == 200 and left.partner.name in page.text and "鹿城上门照护" in page.text
        assert "<progress" not in page.text
        listing = await client.get("/matching/proposals")
        assert listing.status_code == 200 and created.headers["location"] in listing.text

    item = await ProposalItem.get(partner_id=left.partner.id)
    async with _client(app) as client:
        await login(client, right.users["coordinator"].username)
        gaps = await client.get("/matching/gaps")
        assert gaps.status_code == 200 and "文成县" in gaps.text  # no partner covers HOME_CARE there
        other = await client.get(f"/matching/proposals/{item.proposal_id}")  # type: ignore[attr-defined]
        assert other.status_code == 404
        progress = await client.get(f"/matching/proposals/{item.proposal_id}/progress")  # type: ignore[attr-defined]
        assert progress.status_code == 404

    for role in ("community_worker", "partner_admin", "dispatcher", "volunteer", "household"):
        async with _client(app) as client:
            await login(client, left.users[role].username)
            assert (await client.get("/matching/gaps")).status_code == 403, role
            assert (await client.get("/matching/proposals")).status_code == 403, role
    for role in ("coordinator", "community_worker", "volunteer", "household"):
        async with _client(app) as client:
            await login(client, left.users[role].username)
            assert (await client.get("/partner/proposals")).status_code == 403, role
            answer = await client.post(
                f"/partner/proposals/{item.id}/accept", headers={"X-CSRF-Token": session_csrf(client)}
            )
            assert answer.status_code in (403, 404), role

    async with _client(app) as client:
        await login(client, left.users["dispatcher"].username)
        mine = await client.get("/partner/proposals")
        assert mine.status_code == 200 and "鹿城上门照护" in mine.text
        assert left.household.head_name not in mine.text  # no name before the claim
        answer = await client.post(
            f"/partner/proposals/{item.id}/decline",
            headers={"X-CSRF-Token": session_csrf(client), "HX-Request": "true"},
        )
        assert answer.status_code == 200 and f'id="proposal-item-{item.id}"' in answer.text
        assert "<html" not in answer.text
    assert (await ProposalItem.get(id=item.id)).status == ProposalStatus.DECLINED


async def test_the_worker_computes_a_proposal_once_and_again_after_a_death_mid_computation():
    from alliance.core.accounts import create_user
    from alliance.core.codes import ProposalState, Role
    from alliance.matching.allocation import compute_allocation, request_allocation
    from tests.factories import PASSWORD

    await _tight_district()
    coordinator = await principal_for(
        await create_user("luchengcoord", PASSWORD, Role.COORDINATOR, region_code=LUCHENG)
    )
    proposal = await request_allocation(coordinator)
    assert proposal.state == ProposalState.QUEUED
    assert await OutboxJob.filter(
        job_id=f"allocation:{proposal.id}", job_name="compute_allocation_job"
    ).exists()
    # A worker that died while computing leaves the proposal "computing": the retried job starts over.
    await AllocationProposal.filter(id=proposal.id).update(
        state=ProposalState.COMPUTING, stage="flow", progress=50
    )
    first = await compute_allocation(proposal.id)
    assert first is not None and first.flow.served == 4
    again = await compute_allocation(proposal.id)
    assert again is None, "a proposal already computed is left alone"
    assert await ProposalItem.filter(proposal_id=proposal.id).count() == 4
    stored = await AllocationProposal.get(id=proposal.id)
    assert (stored.state, stored.progress, stored.requests_served) == (ProposalState.READY, 100, 4)


async def test_a_proposal_of_a_coordinator_deactivated_meanwhile_is_not_computed():
    from alliance.core.accounts import create_user
    from alliance.core.codes import ProposalState, Role
    from alliance.core.models import User
    from alliance.matching.allocation import compute_allocation, request_allocation
    from tests.factories import PASSWORD

    await _tight_district()
    user = await create_user("luchengcoord", PASSWORD, Role.COORDINATOR, region_code=LUCHENG)
    proposal = await request_allocation(await principal_for(user))
    await User.filter(id=user.id).update(is_active=False)
    assert await compute_allocation(proposal.id) is None
    stored = await AllocationProposal.get(id=proposal.id)
    assert (stored.state, stored.error) == (ProposalState.FAILED, "no_longer_allowed")
    assert not await ProposalItem.filter(proposal_id=proposal.id).exists()
