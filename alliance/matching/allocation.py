"""Proposed allocation: for a coordinator's region, assign open requests to their matched offerings
within this month's places. The proposal serves more requests than greedy nearest-first AND travels
less in total whenever some allocation can, and is never worse than it on either count. Each partner
accepts or declines its proposed requests.

Why not "each request takes its nearest offering with a place left" (greedy nearest-first)? When
places are tight, an early request takes the one place a later request could use, and the later
one goes far or unserved. A min-cost flow over the candidate edges (OR-Tools) sees them all at once:

    source -(1, cost P·(100 − priority))-> request -(1, cost metres·weight)-> offering -(places)-> sink

The priority-weighted cost W of an allocation: the source arcs favour higher priority (P: one
priority point weighs like a kilometre at weight 25), and the edge costs favour short trips,
weighted by priority (weight 25 + priority: a priority-100 request's kilometre costs five times a
priority-0 one's). D is the plain total distance, counted to the metre; an offering reached only by
region (no base point) counts UNKNOWN_DISTANCE_KM. With greedy serving G requests in D_greedy:

1. How many: the most requests F that any allocation serves in less than D_greedy. The least D of
   a flow of value F is convex and nondecreasing in F, and greedy's assignment is itself a flow of
   value G, so a binary search over F (fixed-value solves on plain distance) finds F exactly. When no
   allocation serves more than G in less than D_greedy (greedy already optimal, or every extra
   request too far), F = G with D_greedy itself as the budget: the proposal equals greedy at worst.
2. Which and where: among allocations of F requests within that budget, the one with the least
   W + λ·D for the smallest λ (extra weight per metre: 0, else found among powers of two up to
   2^16, then narrowed by four bisections) whose allocation meets the budget; D never grows with
   λ, so the searches are sound. No allocation of F requests that travels no further has a smaller
   W; one that travels further but still within the budget might (least W under a distance budget
   is a min-cost flow with a side constraint, NP-hard in general). If even λ = 2^16 misses the
   budget, the least-distance allocation of F requests is taken.

Serving more people comes first, so an urgent request may be left out if that lets two others be
served; when not everyone can be, W prefers the urgent ones as far as greedy's distance allows.
When the budget binds, the slack goes to serving more and then to priority, so the total ends just
under greedy's. When the most requests served at the least W already travel less than greedy (the
usual case over a whole city) that allocation is the answer after a single solve; otherwise it
takes up to about 25 solves (each about a second for 100,000 requests and a million edges).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, principal_for, require, visible
from alliance.core.audit import record
from alliance.core.codes import PartnerStatus, ProposalState, ProposalStatus, RequestStatus
from alliance.core.errors import AllianceError, InvalidInput, NotFound, PermissionDenied
from alliance.core.i18n import gettext as _
from alliance.core.models import Region
from alliance.core.timeutil import utc_now
from alliance.households.bulk_statements import insert_rows
from alliance.matching.candidates import month_key
from alliance.matching.models import AllocationProposal, OfferingMonth, ProposalItem, ServiceRequest
from alliance.notifications.outbox import add_job
from alliance.partners.models import Offering

UNKNOWN_DISTANCE_KM = 10.0
_METRES_PER_KM = 1000  # costs and budgets in whole metres, so the budget comparison is exact
_PRIORITY_WEIGHT_BASE = 25
# What one priority point is worth on the source arcs: a kilometre at weight 25.
_PRIORITY_POINT_COST = _METRES_PER_KM * _PRIORITY_WEIGHT_BASE
# The largest λ tried is 2^16 per metre, against weights of 25..125: distance all but decides.
_LARGEST_LAMBDA_EXPONENT = 16
_LAMBDA_REFINING_STEPS = 4
_SOURCE, _SINK = 0, 1


@dataclass
class AllocationInstance:
    """Requests (id -> priority), candidate edges (request, offering, distance km or None) and the
    places each offering has left this month."""

    priorities: dict[int, int]
    edges: list[tuple[int, int, float | None]]
    places: dict[int, int]
    _arrays: _EdgeArrays | None = field(default=None, repr=False, compare=False)

    def arrays(self) -> _EdgeArrays:
        """The edges as arrays, made once: a district of a province has about two million edges, so
        the proposal's steps work on them without a Python call per edge."""
        if self._arrays is None:
            edges, count = self.edges, len(self.edges)
            kilometres = np.fromiter(
                (np.nan if edge[2] is None else edge[2] for edge in edges), np.float64, count
            )
            self._arrays = _EdgeArrays(
                requests=np.fromiter((edge[0] for edge in edges), np.int64, count),
                offerings=np.fromiter((edge[1] for edge in edges), np.int64, count),
                kilometres=kilometres,
                # Whole metres; rint rounds halves to even, as Python's round() does.
                metres=np.rint(
                    np.where(np.isnan(kilometres), UNKNOWN_DISTANCE_KM, kilometres) * _METRES_PER_KM
                ).astype(np.int64),
            )
        return self._arrays

    def known_requests(self) -> np.ndarray:
        """Per edge: whether its request is one of the instance's requests."""
        ids = np.fromiter(self.priorities, np.int64, len(self.priorities))
        return np.isin(self.arrays().requests, ids)


@dataclass
class _EdgeArrays:
    """AllocationInstance.edges column by column, in the same order."""

    requests: np.ndarray
    offerings: np.ndarray
    kilometres: np.ndarray  # nan where the distance is unknown (an offering reached by region)
    metres: np.ndarray  # what an edge counts: UNKNOWN_DISTANCE_KM where unknown, whole metres


@dataclass
class Allocation:
    assignment: dict[int, int] = field(default_factory=dict)  # request -> offering
    total_distance_km: float = 0.0
    seconds: float = 0.0

    @property
    def served(self) -> int:
        return len(self.assignment)


def _priority(instance: AllocationInstance, request: int) -> int:
    return max(0, min(100, instance.priorities[request]))


@dataclass
class _Network:
    """The flow network as OR-Tools arrays: the request arcs first (one per request), then the
    candidate edges (one per usable edge, in `edges` order), then the offering arcs."""

    # Per usable edge (the candidate edges of known requests to offerings with places, in order):
    # its request and offering ids.
    edge_requests: np.ndarray
    edge_offerings: np.ndarray
    tails: np.ndarray
    heads: np.ndarray
    capacities: np.ndarray
    source_costs: np.ndarray  # per request: P·(100 − priority)
    metres: np.ndarray  # per edge
    weights: np.ndarray  # per edge: 25 + priority
    edge_arcs: np.ndarray
    offerings: int

    def distance(self, flows: np.ndarray) -> int:
        return int(flows @ self.metres)

    def solve(self, edge_costs: np.ndarray, source_costs: np.ndarray, value: int | None) -> np.ndarray:
        """The flow of each edge in a least-cost flow of the given value (None: the largest)."""
        from ortools.graph.python import min_cost_flow

        solver = min_cost_flow.SimpleMinCostFlow()
        costs = np.concatenate([source_costs, edge_costs, np.zeros(self.offerings, dtype=np.int64)])
        solver.add_arcs_with_capacity_and_unit_cost(self.tails, self.heads, self.capacities, costs)
        supply = len(self.source_costs) if value is None else value
        solver.set_node_supply(_SOURCE, supply)
        solver.set_node_supply(_SINK, -supply)
        status = solver.solve_max_flow_with_min_cost() if value is None else solver.solve()
        if status != solver.OPTIMAL:
            raise RuntimeError(f"min-cost flow failed with status {status}")
        return solver.flows(self.edge_arcs)

    def least_weighted(self, value: int | None, extra_weight: int = 0) -> np.ndarray:
        """Least W + extra_weight·D."""
        return self.solve(self.metres * (self.weights + extra_weight), self.source_costs, value)

    def least_distance(self, value: int) -> np.ndarray:
        return self.solve(self.metres, np.zeros_like(self.source_costs), value)


def _network(instance: AllocationInstance) -> _Network | None:
    arrays = instance.arrays()
    with_places = np.fromiter(
        (offering for offering, places in instance.places.items() if places > 0), np.int64
    )
    usable = instance.known_requests() & np.isin(arrays.offerings, with_places)
    if not usable.any():
        return None
    # Per edge, as arrays: a million edges over a whole city, so no Python call per edge.
    edge_request_ids, edge_offering_ids = arrays.requests[usable], arrays.offerings[usable]
    request_ids, edge_requests = np.unique(edge_request_ids, return_inverse=True)
    offering_ids, edge_offerings = np.unique(edge_offering_ids, return_inverse=True)
    priorities = np.fromiter(
        (_priority(instance, request) for request in request_ids.tolist()), np.int64, len(request_ids)
    )
    places = np.fromiter(
        (instance.places[offering] for offering in offering_ids.tolist()), np.int64, len(offering_ids)
    )
    request_nodes = 2 + np.arange(len(request_ids))
    offering_nodes = 2 + len(request_ids) + np.arange(len(offering_ids))
    edge_count = len(edge_request_ids)
    return _Network(
        edge_requests=edge_request_ids,
        edge_offerings=edge_offering_ids,
        tails=np.concatenate(
            [np.full(len(request_ids), _SOURCE), request_nodes[edge_requests], offering_nodes]
        ).astype(np.int32),
        heads=np.concatenate(
            [request_nodes, offering_nodes[edge_offerings], np.full(len(offering_ids), _SINK)]
        ).astype(np.int32),
        capacities=np.concatenate([np.ones(len(request_ids) + edge_count, dtype=np.int64), places]),
        source_costs=_PRIORITY_POINT_COST * (100 - priorities),
        metres=arrays.metres[usable],
        weights=_PRIORITY_WEIGHT_BASE + priorities[edge_requests],
        edge_arcs=np.arange(len(request_ids), len(request_ids) + edge_count),
        offerings=len(offering_ids),
    )


def _most_served_within(network: _Network, greedy_served: int, greedy_metres: int, most: int) -> int:
    """Step 1 of the module's docstring: F, the most requests served in less than greedy's distance,
    or greedy's count when no more can be."""
    if most > greedy_served and network.distance(network.least_distance(most)) < greedy_metres:
        return most
    # Greedy's own count is within the budget (its assignment is a flow), `most` is not.
    low, high = greedy_served, most
    while high - low > 1:
        middle = (low + high) // 2
        if network.distance(network.least_distance(middle)) < greedy_metres:
            low = middle
        else:
            high = middle
    return low


def _least_weighted_within(
    network: _Network, value: int, budget: int, at_zero: np.ndarray | None
) -> np.ndarray:
    """Step 2 of the module's docstring. `at_zero` is the λ = 0 allocation if already known."""
    if at_zero is None:
        at_zero = network.least_weighted(value)
    if network.distance(at_zero) <= budget:
        return at_zero
    best = network.least_weighted(value, 2**_LARGEST_LAMBDA_EXPONENT)
    if network.distance(best) > budget:
        return network.least_distance(value)
    # The smallest power of two within budget, then the smallest λ below it, bisected a few times.
    failing, passing = -1, _LARGEST_LAMBDA_EXPONENT
    while passing - failing > 1:
        middle = (failing + passing) // 2
        flows = network.least_weighted(value, 2**middle)
        if network.distance(flows) <= budget:
            passing, best = middle, flows
        else:
            failing = middle
    low, high = (0, 1) if passing == 0 else (2 ** (passing - 1), 2**passing)
    for _step in range(_LAMBDA_REFINING_STEPS):
        if high - low <= 1:
            break
        middle = (low + high) // 2
        flows = network.least_weighted(value, middle)
        if network.distance(flows) <= budget:
            high, best = middle, flows
        else:
            low = middle
    return best


def solve_allocation(instance: AllocationInstance, greedy: Allocation | None = None) -> Allocation:
    """The proposal (see the module's docstring). `greedy` is greedy_allocation(instance), computed
    here when not given."""
    started = time.perf_counter()
    network = _network(instance)
    if network is None:
        return Allocation(seconds=time.perf_counter() - started)
    if greedy is None:
        greedy = greedy_allocation(instance)
    greedy_metres = round(greedy.total_distance_km * _METRES_PER_KM)
    flows = network.least_weighted(None)  # the most requests served, at the least W
    most = int(flows.sum())
    if network.distance(flows) > _budget(greedy, greedy_metres, most):
        value = _most_served_within(network, greedy.served, greedy_metres, most)
        budget = _budget(greedy, greedy_metres, value)
        flows = _least_weighted_within(network, value, budget, flows if value == most else None)
    chosen = np.flatnonzero(flows)
    assignment = dict(
        zip(network.edge_requests[chosen].tolist(), network.edge_offerings[chosen].tolist(), strict=True)
    )
    return Allocation(assignment, network.distance(flows) / _METRES_PER_KM, time.perf_counter() - started)


def _budget(greedy: Allocation, greedy_metres: int, served: int) -> int:
    """Serving more than greedy must travel strictly less; serving as many, no more."""
    return greedy_metres - 1 if served > greedy.served else greedy_metres


def greedy_allocation(instance: AllocationInstance) -> Allocation:
    """Nearest-first, the way a dispatcher works down the list: requests by priority (highest first,
    then the oldest), each takes its nearest offering with a place left."""
    started = time.perf_counter()
    arrays = instance.arrays()
    known = instance.known_requests()
    requests, offerings = arrays.requests[known], arrays.offerings[known]
    metres = arrays.metres[known]
    kilometres = np.where(np.isnan(arrays.kilometres[known]), UNKNOWN_DISTANCE_KM, arrays.kilometres[known])
    request_ids, positions = np.unique(requests, return_inverse=True)
    priorities = np.fromiter(
        (instance.priorities[request] for request in request_ids.tolist()), np.int64, len(request_ids)
    )[positions]
    # Requests by priority then id; each request's edges nearest first (then by offering id).
    order = np.lexsort((offerings, kilometres, requests, -priorities))
    places = dict(instance.places)
    assignment: dict[int, int] = {}
    total = 0
    served = None
    for request, offering, edge_metres in zip(
        requests[order].tolist(), offerings[order].tolist(), metres[order].tolist(), strict=True
    ):
        # A request's edges are together in `order`: the rest of a served request's are skipped.
        if request == served or places.get(offering, 0) <= 0:
            continue
        places[offering] -= 1
        assignment[request] = offering
        total += edge_metres
        served = request
    return Allocation(assignment, total / _METRES_PER_KM, time.perf_counter() - started)


# A region's candidate edges, in plain SQL: the ORM's rows for a district of a province (1.8 million
# edges) cost seconds more than the query. Matches of an open request in the subtree, to an active
# offering of an approved partner.
_EDGES = (
    'SELECT m."request_id", m."offering_id", m."distance_km", r."priority" FROM "request_match" m '
    'JOIN "service_request" r ON r."id" = m."request_id" '
    'JOIN "household" h ON h."id" = r."household_id" '
    'JOIN "region" g ON g."code" = h."region_id" '
    'JOIN "offering" o ON o."id" = m."offering_id" '
    'JOIN "partner" p ON p."id" = m."partner_id" '
    'WHERE r."status" = {0} AND g."path" LIKE {1} ESCAPE \'\\\' AND o."active" AND p."status" = {2}'
)


def _like_prefix(text: str) -> str:
    """A LIKE pattern for the values starting with `text` (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def instance_for_region(region_path: str) -> AllocationInstance:
    """The open requests of a region subtree, their stored matches and their offerings' places."""
    async with in_transaction() as connection:
        postgres = connection.capabilities.dialect == "postgres"
        if postgres:
            # PostgreSQL compiles a query this size just in time by default: 1.3 of its 3 s for a
            # district of a province, to save less than it costs.
            await connection.execute_script("SET LOCAL jit = off")
        holes = ("$1", "$2", "$3") if postgres else ("?", "?", "?")
        _count, rows = await connection.execute_query(
            _EDGES.format(*holes),
            [str(RequestStatus.OPEN), _like_prefix(region_path), str(PartnerStatus.APPROVED)],
        )
    priorities = {row[0]: row[3] or 0 for row in rows}
    edges = [(row[0], row[1], row[2]) for row in rows]
    del rows
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


def allocation_job_id(proposal_id: int) -> str:
    return f"allocation:{proposal_id}"


async def _region_to_allocate(principal: Principal, region_code: str | None) -> Region:
    require(principal, Action.PROPOSE_ALLOCATION)
    code = region_code or principal.region_code
    if not code:
        raise InvalidInput({"region": _("Choose the region to allocate.")})
    region = await Region.get_or_none(code=code)
    if region is None or (principal.region_path and not region.path.startswith(principal.region_path)):
        raise NotFound(f"region {code}")
    return region


async def request_allocation(principal: Principal, region_code: str | None = None) -> AllocationProposal:
    """Ask for a proposal for the coordinator's region (or a region inside it): the row and its
    worker job are written in one transaction (the outbox); the page follows its progress."""
    region = await _region_to_allocate(principal, region_code)
    async with in_transaction():
        proposal = await AllocationProposal.create(
            region_id=region.code, created_by_id=principal.user_id, state=ProposalState.QUEUED, progress=0
        )
        await add_job("compute_allocation_job", proposal.id, job_id=allocation_job_id(proposal.id))
        await record(
            principal, "allocation.request", "allocation_proposal", proposal.id, {"region": region.code}
        )
    return proposal


async def _set_progress(proposal_id: int, stage: str, progress: int) -> None:
    await AllocationProposal.filter(id=proposal_id).update(
        state=ProposalState.COMPUTING, stage=stage, progress=progress
    )


def _assigned_distances(instance: AllocationInstance, assignment: dict[int, int]) -> dict[int, float | None]:
    """Request -> the distance of the edge it is assigned along (None where unknown)."""
    arrays = instance.arrays()
    count = len(assignment)
    pairs = np.fromiter(assignment.items(), np.dtype((np.int64, 2)), count).reshape(count, 2)
    chosen = np.isin(arrays.requests * (1 << 32) + arrays.offerings, pairs[:, 0] * (1 << 32) + pairs[:, 1])
    return {
        request: None if km != km else km
        for request, km in zip(
            arrays.requests[chosen].tolist(), arrays.kilometres[chosen].tolist(), strict=True
        )
    }


async def compute_allocation(proposal_id: int) -> ProposalOutcome | None:
    """The worker's part: compute the proposal and store it with its items in one transaction.
    Safe to run twice: a proposal already ready or failed is left alone, and one whose worker died
    while computing (state still "computing") is computed again from the start."""
    proposal = await AllocationProposal.get_or_none(id=proposal_id).prefetch_related("region", "created_by")
    if proposal is None or proposal.state in (ProposalState.READY, ProposalState.FAILED):
        return None
    creator = proposal.created_by
    try:
        # The coordinator's powers are checked again at run time: one deactivated or moved meanwhile
        # gets no proposal.
        if creator is None or not creator.is_active:
            raise PermissionDenied(Action.PROPOSE_ALLOCATION)
        principal = await principal_for(creator)
        region = await _region_to_allocate(principal, proposal.region.code)
    except (PermissionDenied, NotFound, InvalidInput):
        await AllocationProposal.filter(id=proposal.id).update(
            state=ProposalState.FAILED, error="no_longer_allowed", finished_at=utc_now()
        )
        return None
    await _set_progress(proposal.id, "loading", 5)
    instance = await instance_for_region(region.path)
    await _set_progress(proposal.id, "nearest_first", 30)
    # Seconds of CPU for a city: off the event loop, so the worker's other jobs and crons go on.
    greedy = await asyncio.to_thread(greedy_allocation, instance)
    await _set_progress(proposal.id, "flow", 50)
    flow = await asyncio.to_thread(solve_allocation, instance, greedy)
    await _set_progress(proposal.id, "storing", 90)
    assignment = flow.assignment
    distances = _assigned_distances(instance, assignment)
    partners = dict(
        await Offering.filter(id__in=sorted(set(flow.assignment.values()))).values_list("id", "partner_id")
    )
    async with in_transaction() as connection:
        locked = await AllocationProposal.filter(id=proposal.id, state=ProposalState.COMPUTING).update(
            requests_served=flow.served,
            total_distance_km=flow.total_distance_km,
            greedy_requests_served=greedy.served,
            greedy_total_distance_km=greedy.total_distance_km,
            requests_considered=len(instance.priorities),
            state=ProposalState.READY,
            stage="",
            progress=100,
            finished_at=utc_now(),
        )
        if not locked:  # another run of the same job finished first
            return None
        # Tens of thousands of items for a district: one COPY on PostgreSQL, no model instances.
        await insert_rows(
            connection,
            ProposalItem,
            ("proposal_id", "request_id", "offering_id", "partner_id", "distance_km"),
            [
                (proposal.id, request, offering, partners[offering], distances[request])
                for request, offering in sorted(assignment.items())
            ],
        )
        await record(
            principal,
            "allocation.propose",
            "allocation_proposal",
            proposal.id,
            {"served": flow.served, "greedy_served": greedy.served},
        )
    await proposal.refresh_from_db()
    return ProposalOutcome(proposal, flow, greedy, len(instance.priorities))


async def fail_allocation(proposal_id: int, reason: str = "error") -> None:
    """A proposal the worker gave up on: the page says so and the coordinator may ask again."""
    await (
        AllocationProposal.filter(id=proposal_id)
        .exclude(state=ProposalState.READY)
        .update(state=ProposalState.FAILED, error=reason[:255], finished_at=utc_now())
    )


async def propose_allocation(principal: Principal, region_code: str | None = None) -> ProposalOutcome:
    """Ask for a proposal and compute it in this process (the CLI and the bench; pages ask the worker)."""
    proposal = await request_allocation(principal, region_code)
    outcome = await compute_allocation(proposal.id)
    if outcome is None:
        raise NotFound(f"allocation proposal {proposal.id}")
    return outcome


@dataclass(frozen=True)
class ProposalProgress:
    proposal_id: int
    state: str
    stage: str
    progress: int
    error: str

    @property
    def done(self) -> bool:
        return self.state in (ProposalState.READY, ProposalState.FAILED)


async def proposal_progress(principal: Principal, proposal_id: int) -> ProposalProgress:
    proposal = await get_visible(principal, Action.PROPOSE_ALLOCATION, proposal_id)
    return ProposalProgress(proposal.id, proposal.state, proposal.stage, proposal.progress, proposal.error)


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
    progress: ProposalProgress


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
    progress = ProposalProgress(
        proposal.id, proposal.state, proposal.stage, proposal.progress, proposal.error
    )
    return ProposalView(proposal, items, counts, progress)


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
        from alliance.matching import claims
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
        if type(refused).__name__ == "ClaimsPaused":
            return str(refused), False  # says until when claiming is paused, and why
        return _("Accepted, but the request can no longer be claimed."), False
    request = await ServiceRequest.get(id=item.request_id)
    return _("Accepted and claimed: the household's contact details are on the request."), (
        request.status == RequestStatus.CLAIMED
    )
