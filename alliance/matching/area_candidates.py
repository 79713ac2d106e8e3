"""The candidate search for many requests at once: area by area, as arrays.

The same rule, score and order as `OfferingIndex.candidates` (tests/test_matching.py checks that both
give the same candidates), for runs that match thousands of requests: requests are grouped by need
and by a tile of TILE_DEGREES; a group's offerings (radius boxes touching the tile, and those of the
group's regions) are scored against all its requests at once with numpy, and only each request's
best MAX_MATCHES_PER_REQUEST become Python objects. Scoring every pair one by one in Python cost
most of a full re-match, and the pairs grow with requests × offerings per area.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from alliance.core.privacy import BAND_LIMITS_KM, BANDS
from alliance.matching.candidates import (
    MAX_MATCHES_PER_REQUEST,
    OfferingCandidate,
    OfferingIndex,
    RequestCase,
    score_for,
)
from alliance.matching.distances import _AXIS_KM, _E2, geodesic_km

# A new match at least this good is worth telling the partner about (match_storage re-exports it).
GOOD_MATCH_SCORE = 50.0
_BAND_LIMITS = np.array(BAND_LIMITS_KM)

# About 11 km: a tile's requests share most of their offerings, and a group is large enough that
# numpy's per-call cost stays small beside the pairs it scores.
TILE_DEGREES = 0.1


def fast_distances_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """`distances.fast_distance_km` over arrays (broadcast); NaN where a point is missing."""
    phi = np.radians((lat1 + lat2) / 2)
    sin_phi = np.sin(phi)
    w = 1 - _E2 * sin_phi * sin_phi
    prime_vertical = _AXIS_KM / np.sqrt(w)
    meridional = _AXIS_KM * (1 - _E2) / (w * np.sqrt(w))
    north = meridional * np.radians(lat2 - lat1)
    east = prime_vertical * np.cos(phi) * np.radians(lon2 - lon1)
    return np.hypot(north, east)


@dataclass
class _NeedOfferings:
    """One need's offerings as arrays (positions index `offerings`)."""

    offerings: list[OfferingCandidate]
    lat: np.ndarray
    lon: np.ndarray
    radius: np.ndarray
    has_point: np.ndarray
    has_radius: np.ndarray
    south: np.ndarray
    north: np.ndarray
    west: np.ndarray
    east: np.ndarray
    spare: np.ndarray
    eligibility: np.ndarray
    ids: np.ndarray
    partners: np.ndarray
    updated: np.ndarray  # offering.updated_at as a timestamp (-inf unknown)
    by_region: dict[str, np.ndarray] = field(default_factory=dict)


class AreaSearch:
    """Candidates of many requests, tile by tile, from one OfferingIndex."""

    def __init__(self, index: OfferingIndex) -> None:
        self.index = index
        flags = sorted({flag for offering in index.offerings.values() for flag in offering.eligibility})
        # One bit per flag an offering asks for (a household's other flags never matter).
        self.flag_bits = {flag: 1 << position for position, flag in enumerate(flags)}
        grouped: dict[str, list[OfferingCandidate]] = defaultdict(list)
        for offering in index.offerings.values():
            grouped[offering.need].append(offering)
        self.needs = {need: self._arrays(offerings) for need, offerings in grouped.items()}
        self._band_pieces = [f'{{"code": "distance", "band": "{band}"}}, ' for band in BANDS]

    def _arrays(self, offerings: list[OfferingCandidate]) -> _NeedOfferings:
        def column(values: list[float | None]) -> np.ndarray:
            return np.array([math.nan if value is None else value for value in values], dtype=np.float64)

        lat = column([offering.lat for offering in offerings])
        lon = column([offering.lon for offering in offerings])
        has_point = ~np.isnan(lat) & ~np.isnan(lon)
        boxes = [offering.box for offering in offerings]
        # No box (no point or no radius): a box that touches no tile.
        south = column([box[0] if box else math.inf for box in boxes])
        north = column([box[1] if box else -math.inf for box in boxes])
        west = column([box[2] if box else math.inf for box in boxes])
        east = column([box[3] if box else -math.inf for box in boxes])
        positions: dict[str, list[int]] = defaultdict(list)
        for position, offering in enumerate(offerings):
            for code in offering.region_codes:
                positions[code].append(position)
        return _NeedOfferings(
            offerings=offerings,
            lat=lat,
            lon=lon,
            radius=column([offering.radius_km or 0.0 for offering in offerings]),
            has_point=has_point,
            has_radius=np.array([box is not None for box in boxes], dtype=bool),
            south=south,
            north=north,
            west=west,
            east=east,
            spare=column([offering.spare_points for offering in offerings]),
            eligibility=np.array(
                [self._bits(offering.eligibility) for offering in offerings], dtype=np.int64
            ),
            ids=np.array([offering.id for offering in offerings], dtype=np.int64),
            partners=np.array([offering.partner_id for offering in offerings], dtype=np.int64),
            updated=column(
                [
                    -math.inf if offering.updated_at is None else offering.updated_at.timestamp()
                    for offering in offerings
                ]
            ),
            by_region={code: np.array(found, dtype=np.int64) for code, found in positions.items()},
        )

    def _bits(self, flags: frozenset[str]) -> int:
        bits = 0
        for flag in flags:
            bits |= self.flag_bits.get(flag, 0)
        return bits

    def rows_of(
        self, requests: Sequence[RequestCase], now: datetime
    ) -> Iterator[tuple[RequestCase, list[tuple[Any, ...]] | None, set[int], bool]]:
        """Each request with its request_match rows (best first, at most MAX_MATCHES_PER_REQUEST; the
        columns of match_storage._MATCH_COLUMNS but computed_at), the partners for whom one of them
        is a good new match, and whether any is new (or the request was never matched); in tile
        order. Rows None: search this one alone (`OfferingIndex.candidates`) — it has no point to
        place in a tile."""
        groups: dict[tuple[str, int, int], list[RequestCase]] = defaultdict(list)
        for request in requests:
            if request.need not in self.needs:
                yield request, [], set(), request.matched_at is None
            elif request.lat is None or request.lon is None:
                yield request, None, set(), False
            else:
                tile = (math.floor(request.lat / TILE_DEGREES), math.floor(request.lon / TILE_DEGREES))
                groups[(request.need, *tile)].append(request)
        for (need, row, column), members in groups.items():
            yield from self._tile(self.needs[need], row, column, members, now)

    def _tile(
        self,
        need: _NeedOfferings,
        row: int,
        column: int,
        requests: list[RequestCase],
        now: datetime,
    ) -> Iterator[tuple[RequestCase, list[tuple[Any, ...]], set[int], bool]]:
        south, west = row * TILE_DEGREES, column * TILE_DEGREES
        north, east = south + TILE_DEGREES, west + TILE_DEGREES
        near = np.nonzero(
            (need.south <= north) & (need.north >= south) & (need.west <= east) & (need.east >= west)
        )[0]
        # The regions of the tile's requests: the first code on a request's path (from the top) that
        # brings an offering is its reason, as in OfferingIndex.candidates.
        paths: dict[tuple[str, ...], int] = {}
        path_of = np.empty(len(requests), dtype=np.int64)
        for number, request in enumerate(requests):
            path_of[number] = paths.setdefault(tuple(request.region_codes), len(paths))
        regional = [need.by_region[code] for path in paths for code in path if code in need.by_region]
        pool = np.union1d(near, np.concatenate(regional)) if regional else near
        if not len(pool):
            for request in requests:
                yield request, [], set(), request.matched_at is None
            return
        first_code = np.full((len(paths), len(pool)), -1, dtype=np.int64)
        for path, number in paths.items():
            for depth in range(len(path) - 1, -1, -1):  # the top-most code wins: written last
                found = need.by_region.get(path[depth])
                if found is not None:
                    first_code[number, np.searchsorted(pool, found)] = depth
        region_depth = first_code[path_of]

        request_lat = np.array([request.lat for request in requests], dtype=np.float64)[:, None]
        request_lon = np.array([request.lon for request in requests], dtype=np.float64)[:, None]
        has_point, has_radius, radius = need.has_point[pool], need.has_radius[pool], need.radius[pool]
        with np.errstate(invalid="ignore"):
            distance = fast_distances_km(
                request_lat, request_lon, need.lat[pool][None, :], need.lon[pool][None, :]
            )
            margin = 1e-8 * distance**3 + 1e-5
            inside = has_radius & (distance <= radius - margin)
            unsure = has_radius & ~inside & (distance <= radius + margin)
        for number, position in zip(*np.nonzero(unsure), strict=True):
            # Within the fast formula's error of the radius: geopy's geodesic decides.
            offering, request = need.offerings[pool[position]], requests[number]
            inside[number, position] = geodesic_km(offering.lat, offering.lon, request.lat, request.lon) <= (
                offering.radius_km
            )
        household_bits = np.array([self._bits(request.flags) for request in requests], dtype=np.int64)
        asks = need.eligibility[pool]
        usable = ((region_depth >= 0) | inside) & ((asks == 0) | ((household_bits[:, None] & asks) != 0))

        # score_for's priority and waiting parts; closeness and spare per offering, as in candidates().
        request_points = np.array(
            [
                score_for(
                    request.priority, None, (now - (request.created_at or now)).total_seconds() / 86400, 1.0
                )
                - 10.0
                for request in requests
            ],
            dtype=np.float64,
        )
        with np.errstate(invalid="ignore"):
            closeness = np.where(has_point, 30.0 / (1.0 + distance / 5.0), 10.0)
            score = _round3(request_points[:, None] + closeness + need.spare[pool])
            nearest = np.where(has_point, _round3(distance), math.inf)
        ids = need.ids[pool]
        width = min(MAX_MATCHES_PER_REQUEST, len(pool))
        order = np.lexsort(
            (np.broadcast_to(ids, score.shape), nearest, np.where(usable, -score, math.inf)), axis=-1
        )[:, :width]
        counts = np.minimum(usable.sum(axis=1), width)
        kept = np.arange(width)[None, :] < counts[:, None]
        # Everything below is over the kept pairs only, flattened request by request.
        request_row, place = np.nonzero(kept)
        position = order[request_row, place]
        offering_position = pool[position]
        partners = need.partners[offering_position]
        # The best of its partner's offerings for this request: the partner's first among the kept.
        chosen = partners[:, None]
        ranked = np.full((len(requests), width), -1, dtype=np.int64)
        ranked[request_row, place] = partners
        earlier = (ranked[request_row] == chosen) & (np.arange(width)[None, :] < place[:, None])
        partner_best = ~earlier.any(axis=1)
        pair_distance = distance[request_row, position]
        pair_has_point = has_point[position]
        bands = np.searchsorted(_BAND_LIMITS, pair_distance, side="right")
        depth = region_depth[request_row, position]
        band_pieces = [
            self._band_pieces[band] if point else ""
            for band, point in zip(bands.tolist(), pair_has_point.tolist(), strict=True)
        ]
        region_pieces = [
            self._region_piece(requests[number].region_codes[code]) if code >= 0 else ""
            for number, code in zip(request_row.tolist(), depth.tolist(), strict=True)
        ]
        offerings = [need.offerings[found] for found in offering_position.tolist()]
        tail_pieces = [
            offering.capacity_json
            + (
                ", " + self.index._eligible_reason(offering, requests[number].flags)
                if offering.eligibility
                else ""
            )
            for offering, number in zip(offerings, request_row.tolist(), strict=True)
        ]
        reasons = [
            "[" + band + region + tail + "]"
            for band, region, tail in zip(band_pieces, region_pieces, tail_pieces, strict=True)
        ]
        scores = score[request_row, position]
        distances: list[float | None] = nearest[request_row, position].tolist()
        for pair in np.nonzero(~pair_has_point)[0].tolist():
            distances[pair] = None  # no point, no distance: NULL, as the per-request search stores it
        request_ids = np.array([request.id for request in requests], dtype=np.int64)
        rows = list(
            zip(
                request_ids[request_row].tolist(),
                ids[position].tolist(),
                partners.tolist(),
                scores.tolist(),
                distances,
                reasons,
                partner_best.tolist(),
                strict=True,
            )
        )
        # Partners told of good new matches: a request never matched, or an offering changed since.
        matched_at = np.array(
            [
                math.inf if request.matched_at is None else request.matched_at.timestamp()
                for request in requests
            ]
        )
        new = (matched_at[request_row] == math.inf) | (
            need.updated[offering_position] > matched_at[request_row]
        )
        good = (scores >= GOOD_MATCH_SCORE) & new
        restamp = matched_at == math.inf
        restamp[request_row[new]] = True
        good_partners: list[set[int]] = [set() for _request in requests]
        for number, partner in zip(request_row[good].tolist(), partners[good].tolist(), strict=True):
            good_partners[number].add(partner)
        start = 0
        for number, (request, count) in enumerate(zip(requests, counts.tolist(), strict=True)):
            found = rows[start : start + count]
            start += count
            yield request, found, good_partners[number], bool(restamp[number])

    def _region_piece(self, code: str) -> str:
        return self.index._region_reason(code) + ", "


def _round3(values: np.ndarray) -> np.ndarray:
    """Python's round(value, 3) over an array: numpy's rounding of value × 1000 differs from it when
    that product lands on a half (a partner's load of 1/16 gives such scores), so those few are
    rounded by Python; the stored scores are the per-request search's to the last digit."""
    scaled = values * 1000
    rounded = np.rint(scaled) / 1000
    with np.errstate(invalid="ignore"):
        halves = np.nonzero(np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) < 1e-6)
    for index in zip(*halves, strict=True):
        rounded[index] = round(float(values[index]), 3)
    return rounded
