"""Proposed allocation: for a coordinator's region, assign open requests to their matched offerings
within this month's places, serving as many requests as possible and then, among those ways, the
least priority-weighted distance. Each partner accepts or declines its proposed requests.

Why not "each request takes its nearest offering with a place left" (greedy nearest-first)? When
places are tight, an early request takes the one place a later request could use, and the later
one goes far or unserved. A min-cost flow over the candidate edges (OR-Tools) sees them all at once:

    source -(1, cost P·(100 − priority))-> request -(1, cost distance·weight)-> offering -(places)-> sink

`solve_max_flow_with_min_cost` serves the most requests first; among those, the source arcs favour
higher priority (one priority point weighs like a kilometre), and the edge costs favour short trips,
weighted by priority (weight 25 + priority: a priority-100 request's kilometre costs five times a
priority-0 one's). Distances are in units of 100 m; an offering reached only by region (no base
point) counts UNKNOWN_DISTANCE_KM.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tortoise.transactions import in_transaction

from alliance.access import Action, Principal, get_visible, require, visible
from alliance.audit import record
from alliance.codes import PartnerStatus, ProposalStatus, RequestStatus
from alliance.errors import AllianceError, InvalidInput, NotFound
from alliance.i18n import gettext as _
from alliance.matching import month_key
from alliance.models import (
    AllocationProposal,
    Match,
    Offering,
    OfferingMonth,
    ProposalItem,
    Region,
    ServiceRequest,
)
from alliance.timeutil import utc_now

UNKNOWN_DISTANCE_KM = 10.0
_UNITS_PER_KM = 10  # costs in units of 100 m
_PRIORITY_WEIGHT_BASE = 25
# What one priority point is worth on the source arcs: a kilometre at weight 25.
_PRIORITY_POINT_COST = _UNITS_PER_KM * _PRIORITY_WEIGHT_BASE


@dataclass
class AllocationInstance:
    """Requests (id -> priority), candidate edges (request, offering, distance km or None) and the
    places each offering has left this month."""

    priorities: dict[int, int]
    edges: list[tuple[int, int, float | None]]
    places: dict[int, int]


@dataclass
class Allocation:
    assignment: dict[int, int] = field(default_factory=dict)  # request -> offering
    total_distance_km: float = 0.0
    seconds: float = 0.0

    @property
    def served(self) -> int:
        return len(self.assignment)


def _distance(distance_km: float | None) -> float:
    return UNKNOWN_DISTANCE_KM if distance_km is None else distance_km


def _summarise(instance: AllocationInstance, assignment: dict[int, int], started: float) -> Allocation:
    distances = {(request, offering): _distance(km) for request, offering, km in instance.edges}
    total = sum(distances[(request, offering)] for request, offering in assignment.items())
    return Allocation(assignment, round(total, 3), time.perf_counter() - started)


def solve_allocation(instance: AllocationInstance) -> Allocation:
    """The min-cost max-flow assignment (see the module's docstring)."""
    from ortools.graph.python import min_cost_flow

    started = time.perf_counter()
    edges = [
        edge
        for edge in instance.edges
        if edge[0] in instance.priorities and instance.places.get(edge[1], 0) > 0
    ]
    if not edges:
        return Allocation(seconds=time.perf_counter() - started)
    request_ids = sorted({request for request, _offering, _km in edges})
    offering_ids = sorted({offering for _request, offering, _km in edges})
    source, sink = 0, 1
    request_node = {request: 2 + position for position, request in enumerate(request_ids)}
    offering_node = {
        offering: 2 + len(request_ids) + position for position, offering in enumerate(offering_ids)
    }
    starts: list[int] = []
    ends: list[int] = []
    capacities: list[int] = []
    costs: list[int] = []

    def arc(start: int, end: int, capacity: int, cost: int) -> None:
        starts.append(start)
        ends.append(end)
        capacities.append(capacity)
        costs.append(cost)

    for request in request_ids:
        priority = max(0, min(100, instance.priorities[request]))
        arc(source, request_node[request], 1, _PRIORITY_POINT_COST * (100 - priority))
    first_edge = len(starts)
    for request, offering, km in edges:
        weight = _PRIORITY_WEIGHT_BASE + max(0, min(100, instance.priorities[request]))
        arc(request_node[request], offering_node[offering], 1, round(_distance(km) * _UNITS_PER_KM) * weight)
    for offering in offering_ids:
        arc(offering_node[offering], sink, instance.places[offering], 0)
    solver = min_cost_flow.SimpleMinCostFlow()
    solver.add_arcs_with_capacity_and_unit_cost(starts, ends, capacities, costs)
    solver.set_node_supply(source, len(request_ids))
    solver.set_node_supply(sink, -len(request_ids))
    status = solver.solve_max_flow_with_min_cost()
    if status != solver.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed with status {status}")
    assignment: dict[int, int] = {}
    for position, (request, offering, _km) in enumerate(edges):
        if solver.flow(first_edge + position) > 0:
            assignment[request] = offering
    return _summarise(instance, assignment, started)


def greedy_allocation(instance: AllocationInstance) -> Allocation:
    """Nearest-first, the way a dispatcher works down the list: requests by priority (highest first,
    then the oldest), each takes its nearest offering with a place left."""
    started = time.perf_counter()
    places = dict(instance.places)
    by_request: dict[int, list[tuple[float, int]]] = {}
    for request, offering, km in instance.edges:
        by_request.setdefault(request, []).append((_distance(km), offering))
    assignment: dict[int, int] = {}
    for request in sorted(instance.priorities, key=lambda request: (-instance.priorities[request], request)):
        for _km, offering in sorted(by_request.get(request, ())):
            if places.get(offering, 0) > 0:
                places[offering] -= 1
                assignment[request] = offering
                break
    return _summarise(instance, assignment, started)


async def instance_for_region(region_path: str) -> AllocationInstance:
    """The open requests of a region subtree, their stored matches and their offerings' places."""
    rows = await Match.filter(
        request__status=RequestStatus.OPEN,
        request__household__region__path__startswith=region_path,
        offering__active=True,
        partner__status=PartnerStatus.APPROVED,
    ).values_list("request_id", "offering_id", "distance_km", "request__priority")
    priorities = {request: priority or 0 for request, _offering, _km, priority in rows}
    edges = [(request, offering, km) for request, offering, km, _priority in rows]
    offering_ids = sorted({offering for _request, offering, _km in edges})
    capacity = dict(await Offering.filter(id__in=offering_ids).values_list("id", "monthly_capacity"))
    used = dict(
        await OfferingMonth.filter(offering_id__in=offering_ids, month=month_key()).values_list(
            "offering_id", "claimed"
        )
    )
    places = {
        offering: max(0, capacity.get(offering, 0) - used.get(offering, 0)) for offering in offering_ids
    }
    return AllocationInstance(priorities=priorities, edges=edges, places=places)


@dataclass
class ProposalOutcome:
    proposal: AllocationProposal
    flow: Allocation
    greedy: Allocation
    requests_considered: int


async def propose_allocation(principal: Principal, region_code: str | None = None) -> ProposalOutcome:
    """Compute and store a proposal for the coordinator's region (or a region inside it)."""
    require(principal, Action.PROPOSE_ALLOCATION)
    code = region_code or principal.region_code
    if not code:
        raise InvalidInput({"region": _("Choose the region to allocate.")})
    region = await Region.get_or_none(code=code)
    if region is None or (principal.region_path and not region.path.startswith(principal.region_path)):
        raise NotFound(f"region {code}")
    instance = await instance_for_region(region.path)
    flow = solve_allocation(instance)
    greedy = greedy_allocation(instance)
    distances = {(request, offering): km for request, offering, km in instance.edges}
    partners = dict(
        await Offering.filter(id__in=sorted(set(flow.assignment.values()))).values_list("id", "partner_id")
    )
    async with in_transaction():
        proposal = await AllocationProposal.create(
            region_id=region.code,
            created_by_id=principal.user_id,
            requests_served=flow.served,
            total_distance_km=flow.total_distance_km,
            greedy_requests_served=greedy.served,
            greedy_total_distance_km=greedy.total_distance_km,
        )
        await ProposalItem.bulk_create(
            [
                ProposalItem(
                    proposal_id=proposal.id,
                    request_id=request,
                    offering_id=offering,
                    partner_id=partners[offering],
                    distance_km=distances[(request, offering)],
                )
                for request, offering in sorted(flow.assignment.items())
            ],
            batch_size=1000,
        )
        await record(
            principal,
            "allocation.propose",
            "allocation_proposal",
            proposal.id,
            {"served": flow.served, "greedy_served": greedy.served},
        )
    return ProposalOutcome(proposal, flow, greedy, len(instance.priorities))


# --- selectors -------------------------------------------------------------------------------


async def proposals_for(principal: Principal, limit: int = 50) -> list[AllocationProposal]:
    return await (
        visible(principal, Action.PROPOSE_ALLOCATION).order_by("-id").limit(limit).prefetch_related("region")
    )


@dataclass
class ProposalView:
    proposal: AllocationProposal
    items: list[dict[str, Any]]
    counts: dict[str, int]


async def proposal_detail(principal: Principal, proposal_id: int) -> ProposalView:
    proposal = await get_visible(principal, Action.PROPOSE_ALLOCATION, proposal_id)
    await proposal.fetch_related("region")
    items = await (
        ProposalItem.filter(proposal_id=proposal.id)
        .order_by("partner__name", "distance_km")
        .values(
            "id",
            "status",
            "distance_km",
            "request_id",
            "request__need_id",
            "request__priority",
            "request__household__region__name",
            "partner__name",
            "offering__title",
        )
    )
    counts = {str(status): 0 for status in ProposalStatus}
    for item in items:
        counts[str(item["status"])] += 1
    return ProposalView(proposal, items, counts)


async def items_for_partner(principal: Principal) -> list[dict[str, Any]]:
    """The partner's proposed requests: need, community, members, distance; never a name or phone
    (a partner sees those only after claiming)."""
    return await (
        visible(principal, Action.RESPOND_PROPOSALS)
        .order_by("status", "-proposal_id", "distance_km")
        .limit(200)
        .values(
            "id",
            "status",
            "distance_km",
            "proposal_id",
            "request_id",
            "request__status",
            "request__need_id",
            "request__priority",
            "request__household__member_count",
            "request__household__region__name",
            "offering__title",
        )
    )


# --- the partner's answer --------------------------------------------------------------------


@dataclass
class ItemDecision:
    item: ProposalItem
    claimed: bool
    message: str


async def decide_item(principal: Principal, item_id: int, accept: bool) -> ItemDecision:
    """Accept (claims the request for the partner through the claim service, with the proposed
    offering) or decline a proposed request. Deciding twice keeps the first answer."""
    item = await get_visible(principal, Action.RESPOND_PROPOSALS, item_id)
    if item.status != ProposalStatus.PROPOSED:
        return ItemDecision(item, False, _("This proposal was already answered."))
    claimed = False
    message = _("Declined: the request stays in the pool for other partners.")
    if accept:
        message, claimed = await _claim(principal, item)
    updated = await ProposalItem.filter(id=item.id, status=ProposalStatus.PROPOSED).update(
        status=ProposalStatus.ACCEPTED if accept else ProposalStatus.DECLINED, decided_at=utc_now()
    )
    await item.refresh_from_db()
    if updated:
        await record(principal, f"allocation.{item.status}", "proposal_item", item.id, {"claimed": claimed})
    return ItemDecision(item, claimed, message)


async def _claim(principal: Principal, item: ProposalItem) -> tuple[str, bool]:
    try:
        from alliance import claims
    except ImportError:  # the claim service is not there: accepted, the partner claims from its board
        return _("Accepted. Claim the request from your claim board."), False
    claim_request = getattr(claims, "claim_request", None)
    if claim_request is None:
        return _("Accepted. Claim the request from your claim board."), False
    try:
        await claim_request(principal, item.request_id, item.offering_id)
    except AllianceError as refused:  # lost the race, full, no longer open: said, not an error page
        holder = getattr(refused, "by", None)
        if holder:
            return _("Accepted, but the request was already claimed by {partner}.").format(
                partner=holder
            ), False
        if type(refused).__name__ == "CapacityExhausted":
            return _("Accepted, but the offering has no places left this month."), False
        return _("Accepted, but the request can no longer be claimed."), False
    request = await ServiceRequest.get(id=item.request_id)
    return _("Accepted and claimed: the household's contact details are on the request."), (
        request.status == RequestStatus.CLAIMED
    )
