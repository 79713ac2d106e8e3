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
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from alliance.core.privacy import BAND_LIMITS_KM, BANDS
from alliance.matching.candidates import (
    MAX_MATCHES_PER_REQUEST,
    OfferingCandidate,
    OfferingIndex,
    RequestCase,
)
from alliance.matching.distances import _AXIS_KM, _E2, geodesic_km
from alliance.matching.models import StoredReasons

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


@dataclass
class TilePairs:
    """One tile's kept (request, offering) pairs as arrays, request by request, best first."""

    requests: list[RequestCase]
    counts: np.ndarray  # pairs kept per request, in `requests` order
    restamp: np.ndarray  # per request: never matched, or one of its offerings changed since
    request_row: np.ndarray  # per pair: the request's position in `requests`
    request_ids: np.ndarray
    offering_ids: np.ndarray
    offering_position: np.ndarray  # into need.offerings
    partners: np.ndarray
    scores: np.ndarray
    distances: np.ndarray  # km, rounded to the metre; NaN without a point
    partner_best: np.ndarray
    band: np.ndarray  # into BANDS; len(BANDS) without a point
    region: np.ndarray  # the region reason: into AreaSearch.region_codes, -1 none
    eligible_bits: np.ndarray  # the household's flags the offering asks for (AreaSearch.flag_bits)
    good: np.ndarray  # a good new match: its partner is told
    need: _NeedOfferings | None = None

    @classmethod
    def empty(cls, requests: list[RequestCase]) -> TilePairs:
        none = np.zeros(0, dtype=np.int64)
        return cls(
            requests=requests,
            counts=np.zeros(len(requests), dtype=np.int64),
            restamp=np.array([request.matched_at is None for request in requests], dtype=bool),
            request_row=none,
            request_ids=none,
            offering_ids=none,
            offering_position=none,
            partners=none,
            scores=np.zeros(0),
            distances=np.zeros(0),
            partner_best=np.zeros(0, dtype=bool),
            band=none,
            region=none,
            eligible_bits=none,
            good=np.zeros(0, dtype=bool),
        )


class AreaSearch:
    """Candidates of many requests, tile by tile, from one OfferingIndex."""

    def __init__(self, index: OfferingIndex) -> None:
        self.index = index
        flags = sorted({flag for offering in index.offerings.values() for flag in offering.eligibility})
        # One bit per flag an offering asks for (a household's other flags never matter).
        self.flag_bits = {flag: 1 << position for position, flag in enumerate(flags)}
        # A set of flags as bits, per set (households share a few sets).
        self._bits_of: dict[frozenset[str], int] = {}
        grouped: dict[str, list[OfferingCandidate]] = defaultdict(list)
        for offering in index.offerings.values():
            grouped[offering.need].append(offering)
        self.needs = {need: self._arrays(offerings) for need, offerings in grouped.items()}
        self._band_pieces = [StoredReasons.distance_piece(band) + StoredReasons.SEPARATOR for band in BANDS]
        # The region reasons' codes, numbered as tiles meet them (TilePairs.region).
        self.region_codes: list[str] = []
        self.region_numbers: dict[str, int] = {}

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
        bits = self._bits_of.get(flags)
        if bits is None:
            bits = 0
            for flag in flags:
                bits |= self.flag_bits.get(flag, 0)
            self._bits_of[flags] = bits
        return bits

    def rows_of(
        self, requests: Sequence[RequestCase], now: datetime
    ) -> Iterator[tuple[RequestCase, list[tuple[Any, ...]] | None, set[int], bool]]:
        """Each request with its request_match rows (best first, at most MAX_MATCHES_PER_REQUEST; the
        columns of match_storage._MATCH_COLUMNS but computed_at), the partners for whom one of them
        is a good new match, and whether any is new (or the request was never matched); in tile
        order. Rows None: search this one alone (`OfferingIndex.candidates`) — it has no point to
        place in a tile."""
        for found in self.tiles_of(requests, now):
            if isinstance(found, RequestCase):
                yield found, None, set(), False
            else:
                yield from self._rows_of_tile(found)

    def tiles_of(self, requests: Sequence[RequestCase], now: datetime) -> Iterator[TilePairs | RequestCase]:
        """The requests' kept candidates as arrays, a tile (need and area) at a time; a RequestCase is
        one to search alone (`OfferingIndex.candidates`): it has no point to place in a tile."""
        groups: dict[tuple[str, int, int], list[RequestCase]] = defaultdict(list)
        without_offerings: list[RequestCase] = []
        for request in requests:
            if request.need not in self.needs:
                without_offerings.append(request)
            elif request.lat is None or request.lon is None:
                yield request
            else:
                tile = (math.floor(request.lat / TILE_DEGREES), math.floor(request.lon / TILE_DEGREES))
                groups[(request.need, *tile)].append(request)
        if without_offerings:
            yield TilePairs.empty(without_offerings)
        for (need, row, column), members in groups.items():
            yield self._tile(self.needs[need], row, column, members, now)

    def _tile(
        self,
        need: _NeedOfferings,
        row: int,
        column: int,
        requests: list[RequestCase],
        now: datetime,
    ) -> TilePairs:
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
            return TilePairs.empty(requests)
        first_code = np.full((len(paths), len(pool)), -1, dtype=np.int64)
        for path, number in paths.items():
            for depth in range(len(path) - 1, -1, -1):  # the top-most code wins: written last
                found = need.by_region.get(path[depth])
                if found is not None:
                    first_code[number, np.searchsorted(pool, found)] = depth
        region_depth = first_code[path_of]

        # Requests are placed at their community's centre: the distances and radius checks are made
        # once per point of the tile, then handed to each request there.
        points: dict[tuple[float, float], int] = {}
        point_of = np.fromiter(
            (points.setdefault((request.lat, request.lon), len(points)) for request in requests),  # type: ignore[arg-type]
            dtype=np.int64,
            count=len(requests),
        )
        point_lat = np.array([point[0] for point in points], dtype=np.float64)[:, None]
        point_lon = np.array([point[1] for point in points], dtype=np.float64)[:, None]
        has_point, has_radius, radius = need.has_point[pool], need.has_radius[pool], need.radius[pool]
        with np.errstate(invalid="ignore"):
            at_point = fast_distances_km(
                point_lat, point_lon, need.lat[pool][None, :], need.lon[pool][None, :]
            )
            margin = 1e-8 * at_point**3 + 1e-5
            inside_point = has_radius & (at_point <= radius - margin)
            unsure = has_radius & ~inside_point & (at_point <= radius + margin)
        point_list = list(points)
        for number, position in zip(*np.nonzero(unsure), strict=True):
            # Within the fast formula's error of the radius: geopy's geodesic decides.
            offering, (lat, lon) = need.offerings[pool[position]], point_list[number]
            inside_point[number, position] = geodesic_km(offering.lat, offering.lon, lat, lon) <= (
                offering.radius_km
            )
        inside = inside_point[point_of]
        household_bits = np.fromiter(
            (self._bits(request.flags) for request in requests), dtype=np.int64, count=len(requests)
        )
        asks = need.eligibility[pool]
        usable = ((region_depth >= 0) | inside) & ((asks == 0) | ((household_bits[:, None] & asks) != 0))

        # score_for's priority and waiting parts; closeness and spare per offering, as in candidates().
        request_points = _request_points(requests, now)
        # Scores and distances as the per-request search rounds them (to the thousandth), kept as
        # whole thousandths: the sort key's parts. Closeness and distance per point of the tile.
        with np.errstate(invalid="ignore"):
            closeness = np.where(has_point, 30.0 / (1.0 + at_point / 5.0), 10.0)
            score = _thousandths(request_points[:, None] + closeness[point_of] + need.spare[pool])
            nearest = _thousandths(np.where(has_point, at_point, 0.0))
        ids = need.ids[pool]
        width = min(MAX_MATCHES_PER_REQUEST, len(pool))
        order = _best_first(score, nearest, has_point, point_of, ids, usable, width)
        counts = np.minimum(usable.sum(axis=1), width)
        kept = np.arange(width)[None, :] < counts[:, None]
        # Everything below is over the kept pairs only, flattened request by request.
        request_row, place = np.nonzero(kept)
        position = order[request_row, place]
        offering_position = pool[position]
        partners = need.partners[offering_position]
        # The best of its partner's offerings for this request: the partner's first among the kept.
        # (The pairs run request by request, best first: the first of each (request, partner).)
        _pairs, first = np.unique(
            request_row * (int(partners.max(initial=0)) + 1) + partners, return_index=True
        )
        partner_best = np.zeros(len(partners), dtype=bool)
        partner_best[first] = True
        pair_point = point_of[request_row]
        pair_distance = at_point[pair_point, position]
        pair_has_point = has_point[position]
        scores = score[request_row, position] / 1000
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
        restamp = matched_at == math.inf
        restamp[request_row[new]] = True
        # The region reason's code: the request's code at that depth, as a number of this search.
        region_of_path = np.full((len(paths), max(1, *map(len, paths))), -1, dtype=np.int64)
        for path, number in paths.items():
            for depth, code in enumerate(path):
                region_of_path[number, depth] = self._region_number(code)
        depth = region_depth[request_row, position]
        region = np.where(depth >= 0, region_of_path[path_of[request_row], np.maximum(depth, 0)], -1)
        asks_of_pair = need.eligibility[offering_position]
        return TilePairs(
            requests=requests,
            counts=counts,
            restamp=restamp,
            request_row=request_row,
            request_ids=np.array([request.id for request in requests], dtype=np.int64)[request_row],
            offering_ids=ids[position],
            offering_position=offering_position,
            partners=partners,
            scores=scores,
            distances=np.where(pair_has_point, nearest[pair_point, position] / 1000, math.nan),
            partner_best=partner_best,
            band=np.where(
                pair_has_point, np.searchsorted(_BAND_LIMITS, pair_distance, side="right"), len(BANDS)
            ),
            region=region,
            eligible_bits=asks_of_pair & household_bits[request_row],
            good=(scores >= GOOD_MATCH_SCORE) & new,
            need=need,
        )

    def _region_number(self, code: str) -> int:
        found = self.region_numbers.get(code)
        if found is None:
            found = self.region_numbers[code] = len(self.region_codes)
            self.region_codes.append(code)
        return found

    def reasons_text(self, offering_id: int, band: int, region: int, bits: int) -> str:
        """Match.reasons as stored (models.StoredReasons), as `OfferingIndex.candidates` writes it: the distance band
        (len(BANDS): none), the region reason (-1: none) and the household's flags the offering
        asks for (bits of `flag_bits`)."""
        offering = self.index.offerings[offering_id]
        return (
            (self._band_pieces[band] if band < len(BANDS) else "")
            + (self._region_piece(self.region_codes[region]) if region >= 0 else "")
            + self._tail(offering, bits)
        )

    def _tail(self, offering: OfferingCandidate, bits: int) -> str:
        if not offering.eligibility:
            return offering.capacity_piece
        flags = frozenset(flag for flag, bit in self.flag_bits.items() if bits & bit)
        return (
            offering.capacity_piece + StoredReasons.SEPARATOR + self.index._eligible_reason(offering, flags)
        )

    def _rows_of_tile(
        self, pairs: TilePairs
    ) -> Iterator[tuple[RequestCase, list[tuple[Any, ...]], set[int], bool]]:
        """A tile's pairs as request_match rows (the columns of match_storage._MATCH_COLUMNS but
        computed_at), request by request."""
        need = pairs.need
        band_pieces = [self._band_pieces[band] if band < len(BANDS) else "" for band in pairs.band.tolist()]
        region_pieces = [
            self._region_piece(self.region_codes[region]) if region >= 0 else ""
            for region in pairs.region.tolist()
        ]
        tail_pieces = []
        for found, bits in zip(pairs.offering_position.tolist(), pairs.eligible_bits.tolist(), strict=True):
            offering = need.offerings[found]
            if offering.eligibility:
                flags = frozenset(flag for flag, bit in self.flag_bits.items() if bits & bit)
                tail_pieces.append(
                    offering.capacity_piece
                    + StoredReasons.SEPARATOR
                    + self.index._eligible_reason(offering, flags)
                )
            else:
                tail_pieces.append(offering.capacity_piece)
        reasons = [
            band + region + tail
            for band, region, tail in zip(band_pieces, region_pieces, tail_pieces, strict=True)
        ]
        distances: list[float | None] = pairs.distances.tolist()
        for pair in np.nonzero(np.isnan(pairs.distances))[0].tolist():
            distances[pair] = None  # no point, no distance: NULL, as the per-request search stores it
        rows = list(
            zip(
                pairs.request_ids.tolist(),
                pairs.offering_ids.tolist(),
                pairs.partners.tolist(),
                pairs.scores.tolist(),
                distances,
                reasons,
                pairs.partner_best.tolist(),
                strict=True,
            )
        )
        good_partners: list[set[int]] = [set() for _request in pairs.requests]
        for number, partner in zip(
            pairs.request_row[pairs.good].tolist(), pairs.partners[pairs.good].tolist(), strict=True
        ):
            good_partners[number].add(partner)
        start = 0
        for number, (request, count) in enumerate(zip(pairs.requests, pairs.counts.tolist(), strict=True)):
            found = rows[start : start + count]
            start += count
            yield request, found, good_partners[number], bool(pairs.restamp[number])

    def _region_piece(self, code: str) -> str:
        return StoredReasons.region_piece(code) + StoredReasons.SEPARATOR


# _best_first's sort key: the score in thousandths (descending), the distance in metres, the id's rank.
_SCORE_SHIFT, _METRE_SHIFT = 37, 16
_FARTHEST_METRES = (1 << (_SCORE_SHIFT - _METRE_SHIFT)) - 2
_LAST = np.iinfo(np.int64).max


def _best_first(
    score: np.ndarray,
    nearest: np.ndarray,
    has_point: np.ndarray,
    point_of: np.ndarray,
    ids: np.ndarray,
    usable: np.ndarray,
    width: int,
) -> np.ndarray:
    """Per request (row), the positions of its `width` best usable offerings in order: score
    descending, then nearest, then id — the per-request search's sort. Scores and distances come in
    whole thousandths; the three keys are packed into one integer, so the best are picked with a
    partition instead of sorting every offering of the area three times over. `nearest` is per
    point of the tile (requests share their community's centre): request r is at point_of[r]; an
    offering without a point (`has_point` false) comes after those with one."""
    metres = np.where(has_point, nearest, _FARTHEST_METRES + 1)
    # The key's range, checked over every pair first (cheap) and over the usable ones only if needed.
    out_of_range = len(ids) >= 1 << _METRE_SHIFT or (
        bool((metres > _FARTHEST_METRES + 1).any() or score.min() < 0 or score.max() >= 1 << 17)
        and bool(
            (metres[point_of][usable] > _FARTHEST_METRES + 1).any()
            or (score[usable] < 0).any()
            or (score[usable] >= 1 << 17).any()
        )
    )
    if out_of_range:
        # Out of the packed key's range (not on a province's map): sort on the three keys.
        return np.lexsort(
            (
                np.broadcast_to(ids, score.shape),
                np.where(has_point, nearest, _LAST)[point_of],
                np.where(usable, -score, _LAST),
            ),
            axis=-1,
        )[:, :width]
    rank = np.empty(len(ids), dtype=np.int64)
    rank[np.argsort(ids)] = np.arange(len(ids))
    key = (((1 << 17) - 1 - score) << _SCORE_SHIFT) | ((metres << _METRE_SHIFT) | rank[None, :])[point_of]
    key = np.where(usable, key, _LAST)
    if width < key.shape[1]:
        candidates = np.argpartition(key, width - 1, axis=1)[:, :width]
    else:
        candidates = np.broadcast_to(np.arange(key.shape[1]), key.shape)
    picked = np.take_along_axis(key, candidates, axis=1)
    return np.take_along_axis(candidates, np.argsort(picked, axis=1, kind="stable"), axis=1)


_MICROSECOND = timedelta(microseconds=1)


def _request_points(requests: list[RequestCase], now: datetime) -> np.ndarray:
    """score_for(priority, None, days waiting, 1.0) − 10 for each request, to the last digit: the
    score's priority and waiting parts (closeness 10, spare 0). The same operations in the same
    order over arrays; the days waiting from whole microseconds, as timedelta.total_seconds()."""
    count = len(requests)
    priorities = np.fromiter((request.priority for request in requests), dtype=np.int64, count=count)
    waited = np.fromiter(
        ((now - (request.created_at or now)) // _MICROSECOND for request in requests),
        dtype=np.int64,
        count=count,
    )
    days = waited / 1_000_000 / 86400
    priority_points = 0.4 * np.clip(priorities, 0, 100).astype(np.float64)
    waiting = 15.0 * np.minimum(np.maximum(days, 0.0), 90.0) / 90.0
    total = priority_points + 10.0 + waiting + 0.0
    return _thousandths(total) / 1000 - 10.0


def _thousandths(values: np.ndarray) -> np.ndarray:
    """round(value, 3) × 1000 as whole numbers, as Python rounds: numpy's rounding of value × 1000
    differs from Python's round(value, 3) when that product lands on a half (a partner's load of
    1/16 gives such scores), so those few are rounded by Python. A score or distance stored is this
    / 1000: the per-request search's to the last digit."""
    scaled = values * 1000
    rounded = np.rint(scaled)
    with np.errstate(invalid="ignore"):
        # |scaled − rint(scaled)| is at most a half: the products within 1e-6 of one.
        halves = np.nonzero(np.abs(scaled - rounded) > 0.5 - 1e-6)
    for index in zip(*halves, strict=True):
        rounded[index] = np.rint(round(float(values[index]), 3) * 1000)
    return rounded.astype(np.int64)
