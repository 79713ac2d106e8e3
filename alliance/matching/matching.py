"""Matching: which partner offerings can serve each open service request, ranked, with reasons.

A candidate offering for a request
- serves the request's need,
- is active, its partner approved, and it has places left this month (monthly_capacity minus the
  places OfferingMonth says are used, month in Asia/Shanghai),
- accepts the household: when it lists eligibility flags, the household has ANY of them active,
- covers the household: the geodesic distance from its base point is at most its radius, or the
  household's region lies inside one of its regions (a region covers its subtree).

Speed (a province: 1,000,000 households, 10,000 organisations): offerings are put in a grid of
GRID_DEGREES cells (a radius offering in every cell its bounding box touches) and in a map from
region code to offerings (candidates.py), so a request only looks at the few offerings of its own
cell and of its region's ancestors; never all pairs. Distances come from the ellipsoidal
tangent-plane formula (`distances.fast_distance_km`, within 1e-8·d³ km of geopy's geodesic: under
1 cm at 20 km); whenever that margin could change the answer (a household within it of the radius),
geopy's geodesic decides. From 200 requests up (a full re-match, an offering's area) the same search
runs area by area as arrays (area_candidates.py: one tile's requests against its offerings at once);
one new request reads only the offerings that could reach it (`OfferingIndex.load(near=...)`).

Results are stored in Match (match_storage.py: a request's matches replaced in one transaction) and
ServiceRequest.matched_at is set (a full re-match sets it on the requests never matched and on those
matched to an offering changed since: it tells which matches are new to a partner), so pages never
recompute them. An open request that was matched
and has no Match row is a gap (`selectors.gaps_for`).

Score (0..100, higher first; documented in `candidates.score_for`): request priority 40, closeness
30, days waiting 15, partner's spare capacity 15.

This module holds the entry points (`match_requests`, `match_all`, `match_offering`) that the jobs
call; partners hear of good new matches through notices.py.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence

from alliance.core.codes import RequestStatus
from alliance.core.models import Region
from alliance.core.timeutil import utc_now
from alliance.matching.candidates import _IN_CHUNK, OfferingIndex, _chunks, _load_requests
from alliance.matching.distances import _KM_PER_DEGREE
from alliance.matching.match_storage import MatchRun, _Matcher, _store_everything, _store_some
from alliance.matching.models import Match, ServiceRequest
from alliance.matching.notices import notify_partners_of_new_matches
from alliance.partners.models import Offering

# A run for this few requests reads only the offerings that could reach them.
NEAR_ONLY_UP_TO = 50


async def _match(request_ids: Sequence[int] | None, *, notify: bool = True) -> MatchRun:
    started = time.perf_counter()
    now = utc_now()
    requests = await _load_requests(request_ids)
    run = MatchRun()
    run.stages["load requests"] = time.perf_counter() - started
    if request_ids is not None:
        # Asked for, but claimed or closed since: they keep no matches.
        stale = sorted(set(request_ids) - {request.id for request in requests})
        for part in _chunks(stale, _IN_CHUNK):
            await Match.filter(request_id__in=list(part)).delete()
    index = await OfferingIndex.load(
        None if request_ids is None else {request.need for request in requests},
        now=now,
        near=requests if request_ids is not None and len(requests) <= NEAR_ONLY_UP_TO else None,
    )
    matcher = _Matcher(index, now, run)
    if request_ids is None:
        run.matches_stored = await _store_everything(requests, matcher)
        # A request matched by another run while this one computed (stamped after our start) had its
        # matches written into the set just replaced: match it again.
        missed = await ServiceRequest.filter(status=RequestStatus.OPEN, matched_at__gt=now).values_list(
            "id", flat=True
        )
        if missed:
            again = await match_requests(missed, notify=False)
            run.matches_stored += again.matches_stored
    else:
        run.matches_stored = await _store_some(requests, matcher)
    run.requests_matched = len(requests)
    if notify and matcher.good_new:
        run.notification_ids = await notify_partners_of_new_matches(
            {partner: len(ids) for partner, ids in matcher.good_new.items()}, now=now
        )
    run.seconds = time.perf_counter() - started
    return run


async def match_requests(request_ids: Iterable[int], *, notify: bool = True) -> MatchRun:
    """Match these requests (those still open) and store their matches, replacing the old ones."""
    ids = sorted(set(request_ids))
    if not ids:
        return MatchRun()
    return await _match(ids, notify=notify)


async def match_all(*, notify: bool = True) -> MatchRun:
    """The full re-match: every open request against every offering."""
    return await _match(None, notify=notify)


async def requests_in_area_of(offering_id: int) -> list[int]:
    """Open requests an offering could concern: of its need, inside its radius's box or its regions,
    plus those matched to it now (its area may have shrunk, or it was switched off)."""
    offering = await Offering.get_or_none(id=offering_id)
    if offering is None:
        return []
    query = ServiceRequest.filter(status=RequestStatus.OPEN, need_id=offering.need_id)
    # Through the partner's board index: request_match has no index on offering_id alone.
    ids: set[int] = set(
        await Match.filter(partner_id=offering.partner_id, offering_id=offering_id).values_list(
            "request_id", flat=True
        )
    )
    if offering.base_lat is not None and offering.base_lon is not None and offering.radius_km:
        lat_span = offering.radius_km / _KM_PER_DEGREE
        widest = abs(offering.base_lat) + lat_span
        lon_span = offering.radius_km / (
            _KM_PER_DEGREE * max(math.cos(math.radians(min(widest, 89.0))), 0.01)
        )
        # Matching measures from the community's centre (the home rounded to 0.01° when the
        # community has none): the box is tried on both.
        ids.update(
            await query.filter(
                household__region__lat__gte=offering.base_lat - lat_span,
                household__region__lat__lte=offering.base_lat + lat_span,
                household__region__lon__gte=offering.base_lon - lon_span,
                household__region__lon__lte=offering.base_lon + lon_span,
            ).values_list("id", flat=True)
        )
        ids.update(
            await query.filter(
                household__region__lat__isnull=True,
                household__lat__gte=offering.base_lat - lat_span - 0.01,
                household__lat__lte=offering.base_lat + lat_span + 0.01,
                household__lon__gte=offering.base_lon - lon_span - 0.01,
                household__lon__lte=offering.base_lon + lon_span + 0.01,
            ).values_list("id", flat=True)
        )
    for path in await Region.filter(offerings__id=offering_id).values_list("path", flat=True):
        ids.update(await query.filter(household__region__path__startswith=path).values_list("id", flat=True))
    return sorted(ids)


async def match_offering(offering_id: int, *, notify: bool = True) -> MatchRun:
    """Re-match the requests an offering (new, edited, switched off) could concern."""
    started = time.perf_counter()
    ids = await requests_in_area_of(offering_id)
    run = await match_requests(ids, notify=notify) if ids else MatchRun()
    run.seconds = time.perf_counter() - started
    return run


def match_job_id(kind: str, key: object) -> str:
    """One queued job per batch / offering / night: a route and a retry never queue it twice."""
    return f"match:{kind}:{key}"


async def open_request_ids_of_batch(batch_id: int) -> list[int]:
    """The open requests of the households an intake batch brought or changed."""
    return await ServiceRequest.filter(
        status=RequestStatus.OPEN, household__intake_record__last_batch_id=batch_id
    ).values_list("id", flat=True)
