"""The claim board's reads: a partner's open matched requests (best first), the requests it holds,
one request's page, and a coordinator's requests. Selectors take the viewer's scope and return plain
data; they never recompute matching (Match rows are stored by alliance.matching).

Privacy: before a claim a partner sees only community, need, flags, member count, accessibility
needs, a distance band and a rank (BoardItem), all measured from the community's centre (matching
uses alliance.core.privacy.public_point); a map marker sits at that centre, never at the home. No
score and no kilometres: docs/security.md, "Personal data before claim and consent".
Contact details (ContactDetails) are for the holder only, and every view of them is audited.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.functions import Max, Min

from alliance.core import db
from alliance.core.access import Action, Principal, allows, get_visible, require, visible
from alliance.core.audit import viewed
from alliance.core.codes import ACTIVE_REQUEST_STATUSES, DeliveryMode, RequestStatus, TransferStatus
from alliance.core.errors import InvalidInput, NotFound, PermissionDenied
from alliance.core.i18n import current_language
from alliance.core.i18n import gettext as _
from alliance.core.models import Region
from alliance.core.privacy import distance_band, public_point
from alliance.core.timeutil import aware, utc_now
from alliance.households.models import Flag, Household
from alliance.matching import board_changes
from alliance.matching.assignment import assignable_offerings
from alliance.matching.claims import TransitionView, describe_transition, transition_label
from alliance.matching.models import Match, RequestTransition, ServiceRequest, TransferRequest
from alliance.matching.selectors import reason_texts, region_codes_of, region_names_of
from alliance.partners.models import Offering, Partner

PAGE_SIZE = 20
MAX_CURSOR_ID = 2**31 - 1
MAX_API_LIMIT = 100


@dataclass(frozen=True)
class BoardFilters:
    need: str = ""
    region_code: str = ""
    # One of alliance.core.privacy.BAND_LIMITS_KM ("within 3 km": the bands below 3 km).
    max_distance_km: float | None = None
    min_priority: int | None = None
    page: int = 1


@dataclass
class BoardItem:
    """What a partner may know of a request before claiming it: no name, phone, address or ID."""

    request_id: int
    need: str
    status: str
    community: str
    community_code: str
    flags: list[str]
    member_count: int
    accessibility: list[str]
    priority: int
    waiting_days: int
    # "0-1", "1-3", "3-5", "5-10" or "10+" km from the community's centre (None: no point known).
    distance_band: str | None = None
    # Position in the partner's list as listed (1 = first); None outside a list.
    rank: int | None = None
    offering_id: int | None = None
    offering_title: str = ""
    reasons: list[str] = field(default_factory=list)
    # The community's centre (or the home rounded to ~1 km when the community has no centre).
    lat: float | None = None
    lon: float | None = None

    def as_json(self) -> dict:
        return asdict(self)


@dataclass
class BoardPage:
    items: list[BoardItem]
    total: int
    page: int
    pages: int
    filters: BoardFilters


def _partner_scope(principal: Principal) -> int | None:
    """The partner whose board this is; None for an administrator (every partner's matches)."""
    require(principal, Action.VIEW_BOARD)
    if principal.partner_id is None and not allows(principal, Action.ASSIGN_REQUESTS):
        raise PermissionDenied(Action.VIEW_BOARD)
    return principal.partner_id


async def _open_matches(principal: Principal, need: str = "", filters: BoardFilters | None = None):
    partner_id = _partner_scope(principal)
    # Venue events (courses, job fairs) are reached by invitation, never claimed (matches of them
    # stored before they were left out of matching go at the next run).
    # Only households consented to sharing (and verified where required): an indexed column of the
    # household, joined by primary key (alliance/households/consent.py).
    query = Match.filter(
        request__status=RequestStatus.OPEN,
        request__household__matchable=True,
        offering__active=True,
        offering__delivery_mode=DeliveryMode.HOME_VISIT,
    )
    if partner_id is not None:
        # One row per request: the partner's best offering for it (the index's order).
        query = query.filter(partner_id=partner_id, partner_best=True)
    filters = filters or BoardFilters()
    need = need or filters.need
    if need:
        query = query.filter(offering__need_id=need)
    if filters.region_code:
        region = await _region_path(filters.region_code)
        query = query.filter(request__household__region__path__startswith=region or "/none/")
    if filters.max_distance_km is not None:
        query = query.filter(distance_km__lt=filters.max_distance_km)
    if filters.min_priority is not None:
        query = query.filter(request__priority__gte=filters.min_priority)
    return query, partner_id


def _grouped(query):
    # An administrator's board spans partners: one row per request, ranked by its best match.
    return query.annotate(best=Max("score"), nearest=Min("distance_km")).group_by("request_id")


# --- what the board keeps per process --------------------------------------------------------------
#
# A page reads 20 rows down the index (partner, partner_best, score), but counting the partner's open
# matched requests reads all of them (thousands) with their requests. Each process keeps, per partner,
# filters and language, the count and the page it built, and drops them as soon as anything that
# could change *that partner's* board happens: a request matched to it opened or left the pool (claim,
# release, close, assign...), its matches were replaced, an offering was edited — checked on every view
# with index lookups (alliance/matching/board_changes.py) — and after KEEP_SECONDS in any case (waiting
# days, a household's flags). A claim elsewhere in the city drops only the boards that listed the
# request. Twenty dispatchers of a partner looking at their board cost one page build, not twenty:
# views that arrive while the page is being built wait for that build. ALLIANCE_BOARD_KEEP_SECONDS=0
# turns keeping off.

KEEP_SECONDS = float(os.environ.get("ALLIANCE_BOARD_KEEP_SECONDS", "60"))
# Regions change with a release of the gazetteer, not by the minute.
REGION_SECONDS = 300.0
_KEEP_LIMIT = 2000
_kept: dict[tuple, tuple[tuple, Any, float]] = {}
_building: dict[tuple, asyncio.Future] = {}


def forget_kept_figures() -> None:
    """Drop the pages, counts and regions kept per process (tests, whose ids start again from 1)."""
    _kept.clear()


def _kept_value(key: tuple, generation: tuple = ()) -> Any:
    found = _kept.get(key)
    if found is not None and found[0] == generation and time.monotonic() < found[2]:
        return found[1]
    return None


def _keep(key: tuple, value: Any, generation: tuple = (), seconds: float = KEEP_SECONDS) -> None:
    if seconds <= 0:
        return
    if len(_kept) >= _KEEP_LIMIT:
        _kept.clear()
    _kept[key] = (generation, value, time.monotonic() + seconds)


async def _changes(partner_id: int) -> tuple:
    """Something that changes whenever the partner's board could: its board changes, the newest
    offering edit and the newest consent record (a withdrawal takes a household off every board)."""
    connection = db.read_connection()
    _count, rows = await connection.execute_query(
        'SELECT (SELECT MAX("updated_at") FROM "offering"), (SELECT MAX("id") FROM "consent_record")'
    )
    return (*await board_changes.generation(partner_id), *rows[0])


@db.reads_replica
async def board_page(principal: Principal, filters: BoardFilters, page_size: int = PAGE_SIZE) -> BoardPage:
    """The partner's open matched requests, best score first, filtered and paged."""
    query, partner_id = await _open_matches(principal, filters=filters)
    if partner_id is None:
        return await _admin_page(query, filters, page_size)
    generation = await _changes(partner_id)
    page_key = ("page", partner_id, filters, page_size, current_language())
    kept = _kept_value(page_key, generation)
    if kept is not None:
        return kept
    if KEEP_SECONDS <= 0:
        return await _build_page(query, partner_id, filters, page_size, generation)
    # One build per page and generation in this process; the views that arrive meanwhile share it.
    flight = (page_key, generation)
    building = _building.get(flight)
    if building is not None:
        try:
            return await asyncio.shield(building)
        except asyncio.CancelledError:
            if not building.cancelled():
                raise  # this view itself was cancelled
        # The build it waited for was abandoned (its client went away): build the page here.
        return await _build_page(query, partner_id, filters, page_size, generation)
    building = asyncio.get_running_loop().create_future()
    _building[flight] = building
    try:
        built = await _build_page(query, partner_id, filters, page_size, generation)
    except asyncio.CancelledError:
        building.cancel()
        raise
    except Exception as error:
        building.set_exception(error)
        building.exception()  # retrieved: nobody else may be waiting
        raise
    else:
        building.set_result(built)
        _keep(page_key, built, generation)
        return built
    finally:
        _building.pop(flight, None)


async def _build_page(
    query, partner_id: int, filters: BoardFilters, page_size: int, generation: tuple
) -> BoardPage:
    count_key = (
        "count",
        partner_id,
        filters.need,
        filters.region_code,
        filters.max_distance_km,
        filters.min_priority,
    )
    total = _kept_value(count_key, generation)
    if total is None:
        total = await query.count()
        _keep(count_key, total, generation)
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, filters.page), pages)
    # The page's matches with their requests, households and communities in one query.
    rows = (
        await query.order_by("-score", "request_id")
        .offset((page - 1) * page_size)
        .limit(page_size)
        .values(*_MATCH_VALUES, *(f"request__{name}" for name in _REQUEST_VALUES))
    )
    items = await _build_items(
        [{name: row[f"request__{name}"] for name in _REQUEST_VALUES} for row in rows],
        {row["request_id"]: row for row in rows},
        first_rank=(page - 1) * page_size + 1,
    )
    return BoardPage(items=items, total=total, page=page, pages=pages, filters=filters)


async def _admin_page(query, filters: BoardFilters, page_size: int) -> BoardPage:
    total = await ServiceRequest.filter(id__in=Subquery(query.values("request_id"))).count()
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, filters.page), pages)
    rows = (
        await _grouped(query)
        .order_by("-best", "request_id")
        .offset((page - 1) * page_size)
        .limit(page_size)
        .values("request_id")
    )
    items = await _items([row["request_id"] for row in rows], None, first_rank=(page - 1) * page_size + 1)
    return BoardPage(items=items, total=total, page=page, pages=pages, filters=filters)


def encode_cursor(score: float, request_id: int) -> str:
    raw = json.dumps([score, request_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, int]:
    try:
        score, request_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        score, request_id = float(score), int(request_id)
    except (ValueError, TypeError) as error:
        raise InvalidInput({"cursor": _("This cursor is not one we gave out.")}) from error
    # A forged cursor must not carry a number the database cannot compare (a 500, not a 422).
    if not math.isfinite(score) or not 0 <= request_id <= MAX_CURSOR_ID or abs(score) > 1e15:
        raise InvalidInput({"cursor": _("This cursor is not one we gave out.")})
    return score, request_id


@db.reads_replica
async def board_after(
    principal: Principal, need: str = "", limit: int = PAGE_SIZE, cursor: str = ""
) -> tuple[list[BoardItem], str | None]:
    """The API's view of the board: keyset pages (best score, then request id), so requests claimed
    between two calls never make a client skip one. Returns the items and the next cursor."""
    limit = max(1, min(limit, MAX_API_LIMIT))
    query, partner_id = await _open_matches(principal, need=need)
    if partner_id is None:
        ranked = _grouped(query)
        score_field = "best"
    else:
        ranked = query
        score_field = "score"
    if cursor:
        score, request_id = decode_cursor(cursor)
        ranked = ranked.filter(
            Q(**{f"{score_field}__lt": score}) | Q(**{score_field: score, "request_id__gt": request_id})
        )
    rows = (
        await ranked.order_by(f"-{score_field}", "request_id")
        .limit(limit + 1)
        .values("request_id", score_field)
    )
    more = len(rows) > limit
    rows = rows[:limit]
    first_rank = None
    if rows:
        top, top_id = rows[0][score_field], rows[0]["request_id"]
        whole = _grouped(query) if partner_id is None else query
        first_rank = 1 + await _count_ahead(whole, score_field, top, top_id, grouped=partner_id is None)
    items = await _items([row["request_id"] for row in rows], partner_id, first_rank=first_rank)
    next_cursor = encode_cursor(rows[-1][score_field], rows[-1]["request_id"]) if more else None
    return items, next_cursor


async def _count_ahead(ranked, score_field: str, score: float, request_id: int, *, grouped: bool) -> int:
    """How many requests come before (score, request_id) in the list: the rank of the next page."""
    ahead = ranked.filter(
        Q(**{f"{score_field}__gt": score}) | Q(**{score_field: score, "request_id__lt": request_id})
    )
    if grouped:
        return len(await ahead.values("request_id"))
    return await ahead.count()


def _approximate(row: dict) -> tuple[float | None, float | None]:
    # The map marker stands where matching measures from: the household's public point.
    return public_point(
        row["household__region__lat"],
        row["household__region__lon"],
        row["household__lat"],
        row["household__lon"],
    )


_REQUEST_VALUES = (
    "id",
    "need_id",
    "status",
    "priority",
    "created_at",
    "household_id",
    "household__member_count",
    "household__accessibility",
    "household__lat",
    "household__lon",
    "household__region__code",
    "household__region__name",
    "household__region__lat",
    "household__region__lon",
)
_MATCH_VALUES = ("request_id", "score", "distance_km", "reasons", "offering_id", "offering__title")


async def _items(
    request_ids: list[int], partner_id: int | None, first_rank: int | None = None
) -> list[BoardItem]:
    """BoardItems in the order of `request_ids`, with the partner's best match of each."""
    if not request_ids:
        return []
    requests = {
        row["id"]: row for row in await ServiceRequest.filter(id__in=request_ids).values(*_REQUEST_VALUES)
    }
    best: dict[int, dict] = {}
    matches = Match.filter(request_id__in=request_ids)
    if partner_id is not None:
        matches = matches.filter(partner_id=partner_id)
    for match in await matches.order_by("-score", "id").values(*_MATCH_VALUES):
        best.setdefault(match["request_id"], match)
    return await _build_items(
        [requests[id] for id in request_ids if id in requests], best, first_rank=first_rank
    )


async def _build_items(
    requests: list[dict], best: dict[int, dict], first_rank: int | None = None
) -> list[BoardItem]:
    """BoardItems from request rows (_REQUEST_VALUES), in their order, with the household's active
    flags and the given match of each."""
    flags: dict[int, list[str]] = {}
    household_ids = [row["household_id"] for row in requests]
    if household_ids:
        for household_id, code in await Flag.filter(household_id__in=household_ids, active=True).values_list(
            "household_id", "code"
        ):
            flags.setdefault(household_id, []).append(str(code))
    region_names = await region_names_of(region_codes_of(match["reasons"] for match in best.values()))
    now = utc_now()
    items = []
    for position, row in enumerate(requests):
        request_id = row["id"]
        lat, lon = _approximate(row)
        match = best.get(request_id)
        accessibility = row["household__accessibility"] or []
        if isinstance(accessibility, str):
            accessibility = json.loads(accessibility)
        items.append(
            BoardItem(
                request_id=request_id,
                need=str(row["need_id"]),
                status=str(row["status"]),
                community=row["household__region__name"],
                community_code=row["household__region__code"],
                flags=sorted(flags.get(row["household_id"], [])),
                member_count=row["household__member_count"],
                accessibility=list(accessibility),
                priority=row["priority"],
                waiting_days=max(0, (now - aware(row["created_at"])).days),
                distance_band=distance_band(match["distance_km"]) if match else None,
                rank=None if first_rank is None else first_rank + position,
                offering_id=match["offering_id"] if match else None,
                offering_title=match["offering__title"] if match else "",
                reasons=reason_texts(match, region_names) if match else [],
                lat=lat,
                lon=lon,
            )
        )
    return items


async def _region_path(code: str) -> str | None:
    """A region's path (kept per process for REGION_SECONDS)."""
    key = ("region-path", code)
    path = _kept_value(key)
    if path is None:
        path = await Region.filter(code=code).first().values_list("path", flat=True)
        _keep(key, path, seconds=REGION_SECONDS)
    return path  # type: ignore[return-value]


async def board_regions(principal: Principal) -> list[Region]:
    """Regions a board filter can narrow to: districts and towns of the partner's city (kept per
    process for REGION_SECONDS)."""
    key = ("regions", principal.partner_id)
    regions = _kept_value(key)
    if regions is not None:
        return regions
    if principal.partner_id is None:
        regions = await Region.filter(level__in=["city", "district", "town"]).order_by("path").limit(500)
    else:
        partner = await Partner.get(id=principal.partner_id).prefetch_related("region")
        root = partner.region.path.strip("/").split("/")[0]
        regions = await Region.filter(
            path__startswith=f"/{root}/", level__in=["city", "district", "town"]
        ).order_by("path")
    _keep(key, regions, seconds=REGION_SECONDS)
    return regions


# --- one request ------------------------------------------------------------------------------------


@dataclass
class ContactDetails:
    head_name: str
    phone: str
    address: str
    contact_preference: str
    lat: float | None
    lon: float | None

    def as_json(self) -> dict:
        return asdict(self)


async def contact_details(principal: Principal, request_id: int, address: str = "") -> ContactDetails:
    """The household's contact details, for the partner holding the request (or an administrator).
    Every call is an audit entry: who saw whose contact details, when, from where."""
    request = await get_visible(principal, Action.HOLD_REQUESTS, request_id)
    household = await Household.get(id=request.household_id)  # type: ignore[attr-defined]
    await viewed(
        principal,
        "household.contact_view",
        households=[household.id],
        details={"request": request.id, "partner": principal.partner_id},
        address=address,
    )
    return ContactDetails(
        head_name=household.head_name,
        phone=household.phone or "",
        address=household.address,
        contact_preference=str(household.contact_preference),
        lat=household.lat,
        lon=household.lon,
    )


async def history(request_id: int) -> list[TransitionView]:
    transitions = (
        await RequestTransition.filter(request_id=request_id)
        .order_by("at", "id")
        .prefetch_related("actor", "partner")
    )
    views = []
    for transition in transitions:
        kind, note = describe_transition(transition)
        views.append(
            TransitionView(
                at=transition.at,
                kind=kind,
                kind_label=transition_label(kind),
                note=note,
                from_status=str(transition.from_status) if transition.from_status else None,
                to_status=str(transition.to_status),
                actor_name=transition.actor.display_name if transition.actor else "",
                partner_name=transition.partner.name if transition.partner else "",
            )
        )
    return views


@dataclass
class RequestPage:
    summary: BoardItem
    request: ServiceRequest
    holder_name: str
    offering_title: str
    held_by_viewer: bool
    contact: ContactDetails | None
    history: list[TransitionView] | None
    can_claim: bool
    can_release: bool
    can_close: bool
    can_assign: bool
    can_ask_transfer: bool
    transfers: list[TransferRequest]
    assignable: list[Offering]


async def _in_scope(principal: Principal, action: Action, request_id: int) -> bool:
    return allows(principal, action) and await visible(principal, action).filter(id=request_id).exists()


async def request_page(principal: Principal, request_id: int, address: str = "") -> RequestPage:
    """One request as the viewer may see it: a matched partner sees the board's facts; the holder
    also sees contact details (audited) and the history; a coordinator sees everything in region."""
    coordinating = await _in_scope(principal, Action.ASSIGN_REQUESTS, request_id)
    matched = principal.partner_id is not None and await _in_scope(
        principal, Action.CLAIM_REQUESTS, request_id
    )
    if not (coordinating or matched):
        raise NotFound(f"request {request_id}")
    request = await ServiceRequest.get(id=request_id).prefetch_related("claimed_by", "offering")
    held = principal.partner_id is not None and request.claimed_by_id == principal.partner_id  # type: ignore[attr-defined]
    items = await _items([request.id], principal.partner_id if matched else request.claimed_by_id)  # type: ignore[attr-defined]
    summary = items[0]
    contact = await contact_details(principal, request.id, address) if held else None
    transfers: list[TransferRequest] = []
    if held or coordinating:
        transfers = (
            await TransferRequest.filter(request_id=request.id)
            .order_by("-created_at")
            .prefetch_related("to_partner", "from_partner")
        )
    elif matched:
        transfers = (
            await TransferRequest.filter(request_id=request.id, to_partner_id=principal.partner_id)
            .order_by("-created_at")
            .prefetch_related("to_partner", "from_partner")
        )
    active = request.status in ACTIVE_REQUEST_STATUSES
    return RequestPage(
        summary=summary,
        request=request,
        holder_name=request.claimed_by.name if request.claimed_by else "",
        offering_title=request.offering.title if request.offering else "",
        held_by_viewer=held,
        contact=contact,
        history=await history(request.id) if (held or coordinating) else None,
        can_claim=matched
        and request.status == RequestStatus.OPEN
        and allows(principal, Action.CLAIM_REQUESTS),
        can_release=held
        and request.status == RequestStatus.CLAIMED
        and allows(principal, Action.HOLD_REQUESTS),
        can_close=active and (held or coordinating) and allows(principal, Action.CLOSE_REQUESTS),
        can_assign=coordinating and request.status in (RequestStatus.OPEN, RequestStatus.CLAIMED),
        can_ask_transfer=(
            matched
            and not held
            and request.status == RequestStatus.CLAIMED
            and not any(
                t.status == TransferStatus.PENDING and t.to_partner_id == principal.partner_id
                for t in transfers
            )  # type: ignore[attr-defined]
        ),
        transfers=transfers,
        assignable=await assignable_offerings(request) if coordinating else [],
    )


# --- lists besides the board ----------------------------------------------------------------------


@dataclass
class HeldRow:
    request_id: int
    need: str
    status: str
    community: str
    offering_title: str
    claimed_at: datetime | None
    warned: bool


async def held_requests(principal: Principal, limit: int = 200) -> list[HeldRow]:
    """The requests the partner holds, oldest claim first (those closest to their deadline)."""
    requests = (
        await visible(principal, Action.HOLD_REQUESTS)
        .filter(status__in=[RequestStatus.CLAIMED, RequestStatus.SCHEDULED, RequestStatus.IN_SERVICE])
        .order_by("claimed_at", "id")
        .limit(limit)
        .prefetch_related("household__region", "offering")
    )
    return [
        HeldRow(
            request_id=request.id,
            need=str(request.need_id),  # type: ignore[attr-defined]
            status=str(request.status),
            community=request.household.region.name,
            offering_title=request.offering.title if request.offering else "",
            claimed_at=request.claimed_at,
            warned=request.claim_warned_at is not None,
        )
        for request in requests
    ]


async def incoming_transfers(principal: Principal) -> list[TransferRequest]:
    """Transfers other partners asked of us that wait for our answer."""
    return (
        await visible(principal, Action.DECIDE_TRANSFERS)
        .filter(status=TransferStatus.PENDING)
        .order_by("due_at")
        .prefetch_related("to_partner", "request")
    )


async def outgoing_transfers(principal: Principal, limit: int = 50) -> list[TransferRequest]:
    if principal.partner_id is None:
        return []
    return (
        await TransferRequest.filter(to_partner_id=principal.partner_id)
        .order_by("-created_at")
        .limit(limit)
        .prefetch_related("from_partner", "request")
    )


async def held_by_others(principal: Principal, limit: int = 50) -> list[tuple[BoardItem, str]]:
    """Requests matched to us that another partner holds (not yet scheduled): candidates to ask for."""
    if principal.partner_id is None:
        return []
    query = (
        ServiceRequest.filter(
            id__in=Subquery(Match.filter(partner_id=principal.partner_id).values("request_id")),
            status=RequestStatus.CLAIMED,
        )
        .exclude(claimed_by_id=principal.partner_id)
        .order_by("claimed_at")
        .limit(limit)
    )
    rows = await query.values("id", "claimed_by__name")
    items = await _items([row["id"] for row in rows], principal.partner_id)
    holders = {row["id"]: row["claimed_by__name"] for row in rows}
    return [(item, holders.get(item.request_id, "")) for item in items]


@dataclass(frozen=True)
class RegionRequestFilters:
    status: str = ""
    need: str = ""
    page: int = 1


@dataclass
class RegionRequestRow:
    request_id: int
    need: str
    status: str
    community: str
    household_id: int
    partner_name: str
    priority: int
    claimed_at: datetime | None
    close_reason: str


@dataclass
class RegionRequestPage:
    rows: list[RegionRequestRow]
    total: int
    page: int
    pages: int
    filters: RegionRequestFilters


@db.reads_replica
async def region_requests(
    principal: Principal, filters: RegionRequestFilters, page_size: int = 25
) -> RegionRequestPage:
    """A coordinator's requests (their region's subtree), newest first."""
    query = visible(principal, Action.ASSIGN_REQUESTS)
    if filters.status:
        query = query.filter(status=filters.status)
    if filters.need:
        query = query.filter(need_id=filters.need)
    total = await query.count()
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, filters.page), pages)
    requests = (
        await query.order_by("-priority", "id")
        .offset((page - 1) * page_size)
        .limit(page_size)
        .prefetch_related("household__region", "claimed_by")
    )
    rows = [
        RegionRequestRow(
            request_id=request.id,
            need=str(request.need_id),  # type: ignore[attr-defined]
            status=str(request.status),
            community=request.household.region.name,
            household_id=request.household_id,  # type: ignore[attr-defined]
            partner_name=request.claimed_by.name if request.claimed_by else "",
            priority=request.priority,
            claimed_at=request.claimed_at,
            close_reason=str(request.close_reason) if request.close_reason else "",
        )
        for request in requests
    ]
    return RegionRequestPage(rows=rows, total=total, page=page, pages=pages, filters=filters)
