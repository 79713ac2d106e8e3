"""The unserved list: flagged households never served, most vulnerable first; escalating them."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, require, visible
from alliance.core.audit import record
from alliance.core.codes import ACTIVE_REQUEST_STATUSES, RequestStatus
from alliance.core.timeutil import aware, utc_now
from alliance.households.models import Household
from alliance.households.needs import request_priority
from alliance.matching.claims import TransitionKind, transition_reason
from alliance.matching.models import RequestTransition, ServiceRequest
from alliance.targets.progress import _rows
from alliance.targets.scopes import Scope, _region_name

DEFAULT_UNSERVED_DAYS = 30


async def escalate_household(principal: Principal, household_id: int, note: str = "") -> int:
    """Escalate the household's active requests that are not escalated yet (from the unserved list).
    The history gets an "escalate" transition per request; returns how many were escalated."""
    require(principal, Action.ASSIGN_REQUESTS)
    await get_visible(principal, Action.VIEW_HOUSEHOLDS, household_id)
    now = utc_now()
    escalated = 0
    async with in_transaction():
        requests = await visible(principal, Action.ASSIGN_REQUESTS).filter(
            household_id=household_id, status__in=list(ACTIVE_REQUEST_STATUSES), escalated=False
        )
        for request in requests:
            changed = await ServiceRequest.filter(id=request.id, escalated=False).update(
                escalated=True, escalated_at=now, updated_at=now
            )
            if not changed:
                continue
            escalated += 1
            await RequestTransition.create(
                request_id=request.id,
                from_status=request.status,
                to_status=request.status,
                actor_id=principal.user_id,
                reason=transition_reason(TransitionKind.ESCALATE, note or "unserved list"),
            )
            await record(principal, "request.escalated", "service_request", request.id, {"from": "cockpit"})
    return escalated


def _json_list(value: Any) -> list[str]:
    # Raw SQL returns JSON columns as text (PostgreSQL jsonb through asyncpg, SQLite).
    if isinstance(value, str):
        value = json.loads(value) if value else []
    return [str(item) for item in value or []]


@dataclass(frozen=True)
class UnservedHousehold:
    id: int
    head_name: str
    external_id: str
    region_name: str
    member_count: int
    flags: list[str]
    accessibility: list[str]
    first_flag_at: datetime
    days_waiting: int
    priority: int
    open_request_id: int | None  # the assign flow's page (alliance.matching.assignment.assign_request)
    active_requests: int
    escalated: bool


@dataclass
class UnservedList:
    days: int
    total: int
    rows: list[UnservedHousehold] = field(default_factory=list)


@dataclass(frozen=True)
class RankedHousehold:
    """One household of the ranking, with what does not change while it waits (the cockpit's snapshot
    keeps these); names, requests and escalation are read when shown."""

    id: int
    first_flag_at: datetime
    priority: int
    flags: list[str]
    member_count: int
    accessibility: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "first_flag_at": self.first_flag_at.isoformat(),
            "priority": self.priority,
            "flags": self.flags,
            "member_count": self.member_count,
            "accessibility": self.accessibility,
        }

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> RankedHousehold:
        return cls(
            id=int(row["id"]),
            first_flag_at=aware(datetime.fromisoformat(row["first_flag_at"])),
            priority=int(row["priority"]),
            flags=[str(code) for code in row["flags"]],
            member_count=int(row["member_count"]),
            accessibility=[str(code) for code in row["accessibility"]],
        )


async def unserved_households(
    scope: Scope, days: int = DEFAULT_UNSERVED_DAYS, now: datetime | None = None, limit: int | None = 50
) -> UnservedList:
    """Households with an active flag detected `days` or more ago and no completed service since:
    the most vulnerable first (alliance.needs.request_priority of flags, accessibility and size),
    then the longest waiting."""
    now = now or utc_now()
    total, ranked = await rank_unserved(scope, days, now, limit)
    return await unserved_list(days, total, ranked, now)


async def rank_unserved(
    scope: Scope, days: int, now: datetime, limit: int | None
) -> tuple[int, list[RankedHousehold]]:
    """How many households wait, and the first `limit` of them in order (all with None). This is the
    slow part: every active flag of the scope's households never served."""
    return rank_waiting(await never_served(scope.region_path), days, now, limit)


@dataclass(frozen=True)
class NeverServed:
    """A flagged household with no completed visit: what the ranking needs, and its region's path
    (the worker ranks every scope of one pass from the same rows)."""

    id: int
    region_path: str
    first_flag_at: datetime
    flags: list[str]
    member_count: int
    accessibility: list[str]


async def never_served(region_path: str) -> list[NeverServed]:
    """Every household of the subtree at `region_path` ("" for all) with an active flag and no
    completed visit, in one pass; names and requests are read for the rows shown only."""
    first_flag: dict[int, datetime] = {}
    flags: dict[int, list[str]] = defaultdict(list)
    facts: dict[int, tuple[int, list[str], str]] = {}
    for row in await _rows(
        'SELECT h.id AS "id", h.member_count AS "members", h.accessibility AS "accessibility", '
        'r.path AS "path", f.code AS "code", f.detected_at AS "detected_at" FROM household h '
        "JOIN region r ON r.code = h.region_id JOIN flag f ON f.household_id = h.id "
        "WHERE f.active AND r.path LIKE {p1} "
        "AND NOT EXISTS (SELECT 1 FROM service_request sr JOIN visit v ON v.request_id = sr.id "
        "WHERE sr.household_id = h.id AND v.status = 'completed')",
        [region_path + "%"],
    ):
        household_id = row["id"]
        detected = aware(row["detected_at"])
        if household_id not in first_flag or detected < first_flag[household_id]:
            first_flag[household_id] = detected
        flags[household_id].append(str(row["code"]))
        if household_id not in facts:
            facts[household_id] = (row["members"], _json_list(row["accessibility"]), str(row["path"]))
    return [
        NeverServed(
            id=household_id,
            region_path=facts[household_id][2],
            first_flag_at=first,
            flags=sorted(flags[household_id]),
            member_count=facts[household_id][0],
            accessibility=facts[household_id][1],
        )
        for household_id, first in first_flag.items()
    ]


def rank_waiting(
    households: list[NeverServed], days: int, now: datetime, limit: int | None
) -> tuple[int, list[RankedHousehold]]:
    """Those whose first flag is `days` or more old, the most vulnerable first (request_priority of
    flags, accessibility and size), then the longest waiting: (how many, the first `limit`)."""
    cutoff = now - timedelta(days=days)
    waiting = [household for household in households if household.first_flag_at <= cutoff]
    priority = {
        household.id: request_priority(household.flags, household.accessibility, household.member_count)
        for household in waiting
    }
    waiting.sort(key=lambda household: (-priority[household.id], household.first_flag_at, household.id))
    shown = waiting if limit is None else waiting[:limit]
    return len(waiting), [
        RankedHousehold(
            id=household.id,
            first_flag_at=household.first_flag_at,
            priority=priority[household.id],
            flags=household.flags,
            member_count=household.member_count,
            accessibility=household.accessibility,
        )
        for household in shown
    ]


async def unserved_list(days: int, total: int, ranked: list[RankedHousehold], now: datetime) -> UnservedList:
    """The rows shown, in the ranking's order: names, region and the active requests read now (a few
    rows by id), so an escalation shows at once even when the ranking comes from a snapshot."""
    result = UnservedList(days=days, total=total)
    if not ranked:
        return result
    shown = [household.id for household in ranked]
    details = {
        row["id"]: row
        for row in await Household.filter(id__in=shown).values(
            "id", "head_name", "external_id", "region__name", "region__name_en"
        )
    }
    requests: dict[int, list[tuple[int, str, bool]]] = defaultdict(list)
    for request_id, household_id, status, escalated in (
        await ServiceRequest.filter(household_id__in=shown, status__in=list(ACTIVE_REQUEST_STATUSES))
        .order_by("id")
        .values_list("id", "household_id", "status", "escalated")
    ):
        requests[household_id].append((request_id, str(status), escalated))
    for household in ranked:
        row = details.get(household.id)
        if row is None:  # removed since the snapshot was taken (retention)
            continue
        active = requests.get(household.id, [])
        open_ids = [request_id for request_id, status, _e in active if status == RequestStatus.OPEN]
        result.rows.append(
            UnservedHousehold(
                id=household.id,
                head_name=row["head_name"],
                external_id=row["external_id"],
                region_name=_region_name(row["region__name"], row["region__name_en"]),
                member_count=household.member_count,
                flags=household.flags,
                accessibility=household.accessibility,
                first_flag_at=household.first_flag_at,
                days_waiting=(now - household.first_flag_at).days,
                priority=household.priority,
                open_request_id=open_ids[0] if open_ids else (active[0][0] if active else None),
                active_requests=len(active),
                escalated=bool(active) and all(escalated for _i, _s, escalated in active),
            )
        )
    return result
