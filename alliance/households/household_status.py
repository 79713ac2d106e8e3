"""The read-back for the assistance system: what became of a flagged household it sent."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from alliance.core.codes import VisitStatus
from alliance.core.errors import NotFound
from alliance.households.models import Flag, Household, HouseholdMerge
from alliance.matching.models import ServiceRequest
from alliance.visits.models import ServiceRecord, Visit


async def household_status(external_id: str) -> dict[str, Any]:
    """What became of a flagged household: needs, each request's status and partner, visits done and
    person-times delivered. A merged-away id answers with the household it was merged into."""
    household = await Household.get_or_none(external_id=external_id)
    merged_into = None
    if household is None:
        merge = await HouseholdMerge.get_or_none(external_id=external_id).prefetch_related("kept")
        if merge is None:
            raise NotFound(external_id)
        household, merged_into = merge.kept, merge.kept.external_id
    flags = await Flag.filter(household_id=household.id).order_by("code")
    requests = (
        await ServiceRequest.filter(household_id=household.id).order_by("id").prefetch_related("claimed_by")
    )
    request_ids = [request.id for request in requests]
    visits_done: Counter[int] = Counter()
    person_times: Counter[int] = Counter()
    last_service: datetime | None = None
    if request_ids:
        for request_id in await Visit.filter(
            request_id__in=request_ids, status=VisitStatus.COMPLETED
        ).values_list("request_id", flat=True):
            visits_done[request_id] += 1  # type: ignore[index]
        for request_id, served, completed_at in await ServiceRecord.filter(
            visit__request_id__in=request_ids, visit__status=VisitStatus.COMPLETED
        ).values_list("visit__request_id", "persons_served", "completed_at"):
            person_times[request_id] += served  # type: ignore[index]
            last_service = max(filter(None, (last_service, completed_at)), default=None)  # type: ignore[type-var]
    return {
        "external_id": external_id,
        "merged_into": merged_into,
        "region_code": household.region_id,  # type: ignore[attr-defined]
        "location_precision": str(household.location_precision),
        "possible_duplicate": household.possible_duplicate_of_id is not None,  # type: ignore[attr-defined]
        "flags": [
            {
                "code": str(flag.code),
                "active": flag.active,
                "detected_at": _iso(flag.detected_at),
                "deactivated_at": _iso(flag.deactivated_at),
            }
            for flag in flags
        ],
        "needs": sorted({str(request.need_id) for request in requests if request.active_key}),  # type: ignore[attr-defined]
        "requests": [
            {
                "need": str(request.need_id),  # type: ignore[attr-defined]
                "status": str(request.status),
                "priority": request.priority,
                "partner": request.claimed_by.name if request.claimed_by else None,
                "created_at": _iso(request.created_at),
                "claimed_at": _iso(request.claimed_at),
                "close_reason": str(request.close_reason) if request.close_reason else None,
                "visits_done": visits_done[request.id],
                "person_times": person_times[request.id],
            }
            for request in requests
        ],
        "visits_done": sum(visits_done.values()),
        "person_times": sum(person_times.values()),
        "last_service_at": _iso(last_service),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
