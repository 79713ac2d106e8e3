"""Which households an event is for: eligibility, area and venue access, best first.

Invitations go to the households whose OPEN request for the offering's need (VOCATIONAL_TRAINING
or JOB_PLACEMENT) matches: eligibility (any of the event's flags, else the offering's), the
household inside the offering's area (distance from the venue within its radius, or its regions),
and the venue's accessibility covering the household's needs (`FEATURE_FOR`). Best first, up to
seats + waitlist margin (alliance/events/invitations.py).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.expressions import Q

from alliance.core.codes import Accessibility, RequestStatus
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.models import Region
from alliance.core.privacy import distance_band, public_point
from alliance.core.timeutil import utc_now
from alliance.events.codes import VenueFeature
from alliance.events.models import Event
from alliance.households.models import Flag, Household
from alliance.matching.distances import fast_distance_km, within_radius
from alliance.matching.models import ServiceRequest
from alliance.partners.models import Offering

# The candidates read for one event at most (best-first ranking happens after the filters).
_CHUNK = 900


# What the venue must offer for a household member with this need to take part.
FEATURE_FOR: dict[Accessibility, VenueFeature] = {
    Accessibility.WHEELCHAIR: VenueFeature.STEP_FREE,
    Accessibility.DEAF: VenueFeature.SIGN_INTERPRETER,
    Accessibility.BLIND: VenueFeature.LARGE_PRINT,
    Accessibility.LOW_VISION: VenueFeature.LARGE_PRINT,
}
# A bedridden member cannot come to a venue at all: such households are served at home instead.
CANNOT_TRAVEL = frozenset({Accessibility.BEDRIDDEN})


@dataclass
class Fit:
    household_id: int
    request_id: int
    score: float
    distance_km: float | None
    reasons: list[dict[str, Any]]


@dataclass
class _Case:
    request_id: int
    household_id: int
    priority: int
    created_at: datetime | None
    lat: float | None
    lon: float | None
    region_code: str
    region_path: str
    accessibility: list[str]


def _json_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = json.loads(value)
    return [str(item) for item in value]


async def _event_offering(event: Event) -> Offering:
    return await Offering.get(id=event.offering_id).prefetch_related("regions")  # type: ignore[attr-defined]


def required_flags(event: Event, offering: Offering) -> set[str]:
    return set(event.eligibility_flags or offering.eligibility_flags or [])


def _assess(
    case: _Case,
    event: Event,
    offering: Offering,
    flags: set[str],
    region_paths: dict[str, str],
    now: datetime,
) -> tuple[Fit | None, str]:
    """Does the household fit the event? (Fit, "") or (None, why): eligibility, travel, access, area."""
    required = required_flags(event, offering)
    if required and not (required & flags):
        return None, "eligibility"
    needs = {Accessibility(code) for code in case.accessibility if code in Accessibility.__members__}
    if needs & CANNOT_TRAVEL:
        return None, "travel"
    wanted = sorted({FEATURE_FOR[need] for need in needs if need in FEATURE_FOR})
    if set(wanted) - set(event.venue_accessibility or []):
        return None, "access"
    distance = None
    if (
        case.lat is not None
        and case.lon is not None
        and event.venue_lat is not None
        and event.venue_lon is not None
    ):
        distance = fast_distance_km(event.venue_lat, event.venue_lon, case.lat, case.lon)
    within = (
        distance is not None
        and bool(offering.radius_km)
        and within_radius(
            distance,
            offering.radius_km,  # type: ignore[arg-type]
            (event.venue_lat, event.venue_lon, case.lat, case.lon),  # type: ignore[arg-type]
        )
    )
    region = next((code for code, path in region_paths.items() if case.region_path.startswith(path)), None)
    if not within and region is None:
        return None, "area"
    reasons: list[dict[str, Any]] = [{"code": "need", "need": str(offering.need_id)}]  # type: ignore[attr-defined]
    if distance is not None:
        reasons.append({"code": "distance", "band": distance_band(distance)})
    if region is not None and not within:
        reasons.append({"code": "region", "region": region})
    if required:
        reasons.append({"code": "eligible", "flags": sorted(required & flags)})
    if wanted:
        reasons.append({"code": "venue_accessible", "features": [str(feature) for feature in wanted]})
    days_waiting = (now - case.created_at).total_seconds() / 86400 if case.created_at else 0.0
    closeness = 10.0 if distance is None else 30.0 / (1.0 + distance / 5.0)
    score = (
        0.4 * max(0, min(100, case.priority)) + closeness + 15.0 * min(max(days_waiting, 0.0), 90.0) / 90.0
    )
    return Fit(case.household_id, case.request_id, round(score, 3), distance, reasons), ""


async def _cases(event: Event, offering: Offering, household_ids: list[int] | None) -> list[_Case]:
    """Open requests for the offering's need inside the offering's area (a bounding box around the
    venue for the radius, and the offering's region subtrees), filtered in the database."""
    query = ServiceRequest.filter(status=RequestStatus.OPEN, need_id=offering.need_id)  # type: ignore[attr-defined]
    if household_ids is not None:
        query = query.filter(household_id__in=household_ids)
    area: list[Q] = []
    if offering.radius_km and event.venue_lat is not None and event.venue_lon is not None:
        lat_span = offering.radius_km / 110.0
        lon_span = offering.radius_km / (
            110.0 * max(math.cos(math.radians(min(abs(event.venue_lat) + lat_span, 89.0))), 0.01)
        )
        # Distances are measured from the household's public point (its community's centre, else the
        # home rounded to 0.01°), so the box is tried on both; _assess decides exactly.
        area.append(
            Q(
                household__region__lat__gte=event.venue_lat - lat_span,
                household__region__lat__lte=event.venue_lat + lat_span,
                household__region__lon__gte=event.venue_lon - lon_span,
                household__region__lon__lte=event.venue_lon + lon_span,
            )
        )
        area.append(
            Q(
                household__region__lat__isnull=True,
                household__lat__gte=event.venue_lat - lat_span - 0.01,
                household__lat__lte=event.venue_lat + lat_span + 0.01,
                household__lon__gte=event.venue_lon - lon_span - 0.01,
                household__lon__lte=event.venue_lon + lon_span + 0.01,
            )
        )
    for region in offering.regions:
        area.append(Q(household__region__path__startswith=region.path))
    if not area:
        return []
    rows = await query.filter(Q(*area, join_type="OR")).values_list(
        "id",
        "household_id",
        "priority",
        "created_at",
        "household__lat",
        "household__lon",
        "household__region_id",
        "household__region__path",
        "household__accessibility",
        "household__region__lat",
        "household__region__lon",
    )
    cases = []
    for row in rows:
        # Partners see who is invited (and the band from the venue they place): never the home.
        lat, lon = public_point(row[9], row[10], row[4], row[5])
        cases.append(
            _Case(
                request_id=row[0],
                household_id=row[1],
                priority=row[2] or 0,
                created_at=row[3],
                lat=lat,
                lon=lon,
                region_code=str(row[6]),
                region_path=str(row[7] or ""),
                accessibility=_json_list(row[8]),
            )
        )
    return cases


async def _active_flags(household_ids: list[int]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = defaultdict(set)
    for start in range(0, len(household_ids), _CHUNK):
        for household_id, code in await Flag.filter(
            household_id__in=household_ids[start : start + _CHUNK], active=True
        ).values_list("household_id", "code"):
            found[household_id].add(str(code))
    return found


async def matching_households(
    event: Event, *, household_ids: list[int] | None = None, now: datetime | None = None
) -> list[Fit]:
    """The households whose open request fits the event, best first (score, then nearer, then older
    request), each with its reasons."""
    now = now or utc_now()
    offering = await _event_offering(event)
    region_paths = {region.code: region.path for region in offering.regions}
    cases = await _cases(event, offering, household_ids)
    flags = await _active_flags([case.household_id for case in cases])
    fits = []
    for case in cases:
        fit, _why = _assess(case, event, offering, flags.get(case.household_id, set()), region_paths, now)
        if fit is not None:
            fits.append(fit)
    fits.sort(
        key=lambda fit: (-fit.score, fit.distance_km if fit.distance_km is not None else 1e9, fit.request_id)
    )
    return fits


async def why_not(event: Event, household: Household) -> str:
    """Why a household does not fit the event, in words (for a community worker's refusal)."""
    offering = await _event_offering(event)
    request = await ServiceRequest.get_or_none(
        household_id=household.id,
        need_id=offering.need_id,
        status=RequestStatus.OPEN,  # type: ignore[attr-defined]
    )
    if request is None:
        return _("The household has no open request for {need}.").format(need=label(offering.need_id))  # type: ignore[attr-defined]
    path, region_lat, region_lon = await Region.get(code=household.region_id).values_list(  # type: ignore[attr-defined]
        "path", "lat", "lon"
    )
    case = _Case(
        request.id,
        household.id,
        request.priority,
        request.created_at,
        *public_point(region_lat, region_lon, household.lat, household.lon),
        str(household.region_id),  # type: ignore[attr-defined]
        str(path),
        _json_list(household.accessibility),
    )
    flags = (await _active_flags([household.id])).get(household.id, set())
    region_paths = {region.code: region.path for region in offering.regions}
    fit, why = _assess(case, event, offering, flags, region_paths, utc_now())
    if fit is not None:
        return ""
    return {
        "eligibility": _("The household has none of the flags this event is for."),
        "travel": _("A bedridden member cannot come to a venue."),
        "access": _(
            "The venue lacks what the household needs (step-free access, a sign-language interpreter or large print)."
        ),
        "area": _("The household lives outside the area of this event."),
    }[why]
