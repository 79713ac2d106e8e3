"""Household selectors: the coordinator's list and the detail page, always inside the viewer's scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tortoise.expressions import Q

from alliance.core.access import Action, Principal, get_visible, visible
from alliance.core.audit import viewed
from alliance.core.models import Region
from alliance.core.privacy import mask_id_number
from alliance.households.models import Flag, Household
from alliance.matching.models import RequestTransition, ServiceRequest

PAGE_SIZE = 25


@dataclass(frozen=True)
class HouseholdFilters:
    region_code: str = ""
    flag: str = ""
    need: str = ""
    search: str = ""
    page: int = 1


@dataclass
class HouseholdRow:
    id: int
    external_id: str
    head_name: str
    region_name: str
    member_count: int
    flags: list[str]
    open_needs: list[str]
    accessibility: list[str]


@dataclass
class HouseholdPage:
    rows: list[HouseholdRow]
    total: int
    page: int
    pages: int
    filters: HouseholdFilters


async def list_households(principal: Principal, filters: HouseholdFilters) -> HouseholdPage:
    query = visible(principal, Action.VIEW_HOUSEHOLDS)
    if filters.region_code:
        region = await Region.get_or_none(code=filters.region_code)
        # A region outside the viewer's scope simply narrows to nothing: the scope filter stays.
        query = query.filter(region__path__startswith=region.path if region else "/none/")
    if filters.flag:
        query = query.filter(flags__code=filters.flag, flags__active=True)
    if filters.need:
        query = query.filter(requests__need_id=filters.need, requests__active_key__isnull=False)
    if filters.search:
        term = filters.search.strip()
        query = query.filter(Q(head_name__icontains=term) | Q(external_id__icontains=term))
    query = query.distinct()
    total = await query.count()
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    page = min(max(1, filters.page), pages)
    households = (
        await query.order_by("-id").offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE).prefetch_related("region")
    )
    ids = [household.id for household in households]
    flags: dict[int, list[str]] = {}
    for household_id, code in await Flag.filter(household_id__in=ids, active=True).values_list(
        "household_id", "code"
    ):
        flags.setdefault(household_id, []).append(str(code))
    needs: dict[int, list[str]] = {}
    for household_id, need in await ServiceRequest.filter(
        household_id__in=ids, active_key__isnull=False
    ).values_list("household_id", "need_id"):
        needs.setdefault(household_id, []).append(str(need))
    rows = [
        HouseholdRow(
            id=household.id,
            external_id=household.external_id,
            head_name=household.head_name,
            region_name=household.region.name,
            member_count=household.member_count,
            flags=sorted(flags.get(household.id, [])),
            open_needs=sorted(needs.get(household.id, [])),
            accessibility=list(household.accessibility or []),
        )
        for household in households
    ]
    return HouseholdPage(rows=rows, total=total, page=page, pages=pages, filters=filters)


@dataclass
class RequestView:
    id: int
    need: str
    status: str
    priority: int
    escalated: bool
    partner_name: str | None
    created_at: datetime
    history: list[RequestTransition] = field(default_factory=list)


@dataclass
class HouseholdDetail:
    household: Household
    region_trail: list[Region]
    id_number_masked: str
    flags: list[Flag]
    requests: list[RequestView]


async def household_detail(principal: Principal, household_id: int, address: str = "") -> HouseholdDetail:
    household = await get_visible(principal, Action.VIEW_HOUSEHOLDS, household_id)
    await household.fetch_related("region")
    codes = [code for code in household.region.path.strip("/").split("/") if code]
    by_code = {region.code: region for region in await Region.filter(code__in=codes)}
    flags = await Flag.filter(household_id=household.id).order_by("-active", "-detected_at")
    requests = (
        await ServiceRequest.filter(household_id=household.id)
        .order_by("-created_at")
        .prefetch_related("claimed_by", "transitions")
    )
    await viewed(principal, "household.view", households=[household.id], address=address)
    return HouseholdDetail(
        household=household,
        region_trail=[by_code[code] for code in codes if code in by_code],
        id_number_masked=mask_id_number(household.id_number),
        flags=list(flags),
        requests=[
            RequestView(
                id=request.id,
                need=str(request.need_id),  # type: ignore[attr-defined]
                status=str(request.status),
                priority=request.priority,
                escalated=request.escalated,
                partner_name=request.claimed_by.name if request.claimed_by else None,
                created_at=request.created_at,
                history=sorted(request.transitions, key=lambda transition: transition.at),
            )
            for request in requests
        ],
    )


async def regions_for_filter(principal: Principal) -> list[Region]:
    """The viewer's own region and the levels under it that a filter can narrow to (down to towns)."""
    query = Region.filter(path__startswith=principal.region_path) if principal.region_path else Region.all()
    return await query.filter(level__in=["city", "district", "town"]).order_by("path")


# The two exact-match lookups by identity. Kept here, and small, so that the day ID numbers and
# phones move to encrypted columns only these two change (a blind-index lookup).


async def find_by_id_number(id_number: str) -> list[Household]:
    """Households with exactly this (normalised) ID number, oldest first."""
    if not id_number:
        return []
    return await Household.filter(id_number=id_number).order_by("id")


async def find_by_phone(phone: str) -> list[Household]:
    """Households with exactly this (normalised, intake_format.normalise_phone) phone, oldest first."""
    if not phone:
        return []
    return await Household.filter(phone=phone).order_by("id")
