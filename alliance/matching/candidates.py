"""The candidate search: offerings indexed by grid cell and region, each request's candidates scored."""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from alliance.core.codes import DeliveryMode, PartnerStatus, RequestStatus
from alliance.core.privacy import distance_band, public_point
from alliance.core.timeutil import LOCAL_TZ, aware, utc_now
from alliance.matching.distances import _KM_PER_DEGREE, fast_distance_km, within_radius
from alliance.matching.models import StoredReasons

GRID_DEGREES = 0.25
# A request keeps at most this many candidates (best first); partners further down never saw it anyway.
# Stored rows grow with it: at a province's density (1M requests × 20k offerings) nearly every request
# fills it, and writing the rows is most of a full re-match (docs/scale.md, "Matching").
MAX_MATCHES_PER_REQUEST = int(os.environ.get("ALLIANCE_MATCHES_PER_REQUEST", "20"))
_IN_CHUNK = 900  # SQLite's historical limit on bound parameters is 999


def month_key(moment: datetime | None = None) -> str:
    """The capacity month of a moment, "YYYY-MM" in Asia/Shanghai (OfferingMonth.month)."""
    return (moment or utc_now()).astimezone(LOCAL_TZ).strftime("%Y-%m")


def score_for(priority: int, distance_km: float | None, days_waiting: float, partner_load: float) -> float:
    """The documented match score, 0..100 (higher is matched and shown first).

    | part      | points | from                                                                  |
    | --------- | ------ | --------------------------------------------------------------------- |
    | priority  | 40     | the request's priority (0..100, alliance.needs.request_priority) × 0.4 |
    | closeness | 30     | 30 / (1 + km / 5): 30 at the door, 15 at 5 km, 6 at 20 km; 10 unknown |
    | waiting   | 15     | days since the request was raised, 90 days or more gives all 15       |
    | spare     | 15     | 15 × (1 − the partner's places used / its places this month)          |

    For one request, priority and waiting are the same for every offering: distance and the
    partner's load rank its offerings. On a partner's board, priority and waiting rank requests.
    """
    priority_points = 0.4 * max(0, min(100, priority))
    closeness = 10.0 if distance_km is None else 30.0 / (1.0 + distance_km / 5.0)
    waiting = 15.0 * min(max(days_waiting, 0.0), 90.0) / 90.0
    spare = 15.0 * (1.0 - max(0.0, min(1.0, partner_load)))
    return round(priority_points + closeness + waiting + spare, 3)


@dataclass
class OfferingCandidate:
    id: int
    partner_id: int
    need: str
    eligibility: frozenset[str]
    lat: float | None
    lon: float | None
    radius_km: float | None
    capacity: int
    claimed: int
    updated_at: datetime | None
    region_codes: list[str] = field(default_factory=list)
    # Bounding box of the radius, for the cheap check before any distance.
    box: tuple[float, float, float, float] | None = None
    # Filled by the index: the score's "spare" part and the capacity reason, the same for every request.
    spare_points: float = 0.0
    capacity_piece: str = ""

    @property
    def places_left(self) -> int:
        return self.capacity - self.claimed


@dataclass(slots=True)
class RequestCase:
    id: int
    need: str
    priority: int
    created_at: datetime | None
    matched_at: datetime | None
    household_id: int
    lat: float | None
    lon: float | None
    region_codes: list[str]
    flags: frozenset[str] = frozenset()


@dataclass
class Candidate:
    offering: OfferingCandidate
    distance_km: float | None
    score: float
    # Match.reasons as stored (models.StoredReasons), assembled from cached pieces: a full re-match writes millions.
    reasons_text: str
    # The best of its partner's offerings for this request (the board lists that one).
    partner_best: bool = False

    @property
    def reasons(self) -> list[dict[str, Any]]:
        return StoredReasons.decode(self.reasons_text)


def _connection() -> BaseDBAsyncClient:
    return Tortoise.get_connection("default")


def _is_postgres(connection: BaseDBAsyncClient) -> bool:
    return connection.capabilities.dialect == "postgres"


def _placeholders(connection: BaseDBAsyncClient, count: int, start: int = 1) -> str:
    if _is_postgres(connection):
        return ", ".join(f"${position}" for position in range(start, start + count))
    return ", ".join("?" * count)


def _parse_json_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = json.loads(value)
    return [str(item) for item in value]


def _region_codes(path: str) -> list[str]:
    return [code for code in path.split("/") if code]


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _select_in(
    connection: BaseDBAsyncClient, sql: str, ids: Sequence[Any], extra: Sequence[Any] = ()
) -> list[Any]:
    """Run `sql` (with `{ids}` where the IN list goes, after the `extra` parameters) over `ids` in chunks."""
    rows: list[Any] = []
    for chunk in _chunks(list(ids), _IN_CHUNK):
        holes = _placeholders(connection, len(chunk), start=len(extra) + 1)
        _count, found = await connection.execute_query(sql.format(ids=holes), [*extra, *chunk])
        rows.extend(found)
    return rows


class OfferingIndex:
    """The candidate offerings of some needs, indexed by grid cell and by region code."""

    def __init__(
        self,
        offerings: list[OfferingCandidate],
        partner_totals: dict[int, tuple[int, int]] | None = None,
    ):
        self.offerings = {offering.id: offering for offering in offerings}
        self.by_cell: dict[tuple[str, int, int], list[OfferingCandidate]] = defaultdict(list)
        self.by_region: dict[tuple[str, str], list[OfferingCandidate]] = defaultdict(list)
        claimed: dict[int, int] = defaultdict(int)
        capacity: dict[int, int] = defaultdict(int)
        for offering in offerings:
            claimed[offering.partner_id] += max(0, offering.claimed)
            capacity[offering.partner_id] += max(0, offering.capacity)
            for code in offering.region_codes:
                self.by_region[(offering.need, code)].append(offering)
            if offering.lat is None or offering.lon is None or not offering.radius_km:
                continue
            radius = offering.radius_km
            lat_span = radius / _KM_PER_DEGREE
            south, north = offering.lat - lat_span, offering.lat + lat_span
            widest = max(abs(south), abs(north))
            lon_span = radius / (_KM_PER_DEGREE * max(math.cos(math.radians(min(widest, 89.0))), 0.01))
            west, east = offering.lon - lon_span, offering.lon + lon_span
            offering.box = (south, north, west, east)
            for row in range(math.floor(south / GRID_DEGREES), math.floor(north / GRID_DEGREES) + 1):
                for column in range(math.floor(west / GRID_DEGREES), math.floor(east / GRID_DEGREES) + 1):
                    self.by_cell[(offering.need, row, column)].append(offering)
        if partner_totals is not None:
            # Only some of the partners' offerings were loaded (those near a few requests): their
            # places were summed by the database over the same offerings a full load would hold.
            claimed, capacity = defaultdict(int), defaultdict(int)
            for partner, (used, places) in partner_totals.items():
                claimed[partner], capacity[partner] = used, places
        self.partner_load = {
            partner: (claimed[partner] / capacity[partner]) if capacity[partner] else 1.0
            for partner in capacity
        }
        self._eligible_pieces: dict[tuple[int, frozenset[str]], str] = {}
        for offering in offerings:
            load = self.partner_load.get(offering.partner_id, 1.0)
            offering.spare_points = 15.0 * (1.0 - max(0.0, min(1.0, load)))
            offering.capacity_piece = StoredReasons.capacity_piece(offering.places_left, offering.capacity)

    @classmethod
    async def load(
        cls,
        needs: Iterable[str] | None = None,
        *,
        now: datetime | None = None,
        near: Sequence[RequestCase] | None = None,
    ) -> OfferingIndex:
        """Every offering that could take a request now (active, approved partner, places left, home visits);
        with `near`, only those whose radius box or regions could reach one of these requests (one new
        request reads the few offerings around it, not all of its need's)."""
        connection = _connection()
        month = month_key(now)
        sql = (
            'SELECT o."id", o."partner_id", o."need_id", o."eligibility_flags", o."base_lat", o."base_lon", '
            'o."radius_km", o."monthly_capacity", o."updated_at", m."claimed" '
            'FROM "offering" o JOIN "partner" p ON p."id" = o."partner_id" '
            'LEFT JOIN "offering_month" m ON m."offering_id" = o."id" AND m."month" = {month} '
            'WHERE o."active" = {true} AND p."status" = {approved} AND o."delivery_mode" = {home}'
        )
        need_list = sorted(set(needs)) if needs is not None else None
        if need_list is not None and not need_list:
            return cls([], {})
        # Courses and job fairs (venue events) reach households by invitation (alliance/events/):
        # they are never matched for a partner's claim board.
        params: list[Any] = [
            month,
            True,
            str(PartnerStatus.APPROVED),
            str(DeliveryMode.HOME_VISIT),
            *(need_list or []),
        ]
        holes = _placeholders(connection, len(params)).split(", ")
        sql = sql.format(month=holes[0], true=holes[1], approved=holes[2], home=holes[3])
        if need_list is not None:
            sql += f' AND o."need_id" IN ({", ".join(holes[4:])})'
        base_sql, base_params = sql, list(params)
        if near is not None:
            reach, reach_params = _reach_of(near, connection, start=len(params) + 1)
            if not reach:
                return cls([], {})
            sql += f" AND ({reach})"
            params += reach_params
        _count, rows = await connection.execute_query(sql, params)
        offerings = [
            OfferingCandidate(
                id=row[0],
                partner_id=row[1],
                need=str(row[2]),
                eligibility=frozenset(_parse_json_list(row[3])),
                lat=row[4],
                lon=row[5],
                radius_km=row[6],
                capacity=row[7] or 0,
                claimed=row[9] or 0,
                updated_at=aware(row[8]),
            )
            for row in rows
        ]
        offerings = [offering for offering in offerings if offering.places_left > 0]
        partner_totals = None
        if near is not None and offerings:
            partners = sorted({offering.partner_id for offering in offerings})
            holes = _placeholders(connection, len(partners), start=len(base_params) + 1)
            # The partner's load (the score's "spare" part) over all its usable offerings of these
            # needs, as a full load computes it.
            _count, totals = await connection.execute_query(
                base_sql.replace(
                    base_sql[: base_sql.index(" FROM ")],
                    'SELECT o."partner_id", '
                    'SUM(CASE WHEN m."claimed" > 0 THEN m."claimed" ELSE 0 END), '
                    'SUM(CASE WHEN o."monthly_capacity" > 0 THEN o."monthly_capacity" ELSE 0 END)',
                    1,
                )
                + ' AND COALESCE(o."monthly_capacity", 0) - COALESCE(m."claimed", 0) > 0'
                + f' AND o."partner_id" IN ({holes}) GROUP BY o."partner_id"',
                [*base_params, *partners],
            )
            partner_totals = {row[0]: (int(row[1] or 0), int(row[2] or 0)) for row in totals}
        by_id = {offering.id: offering for offering in offerings}
        if by_id:
            # The regions the offerings serve, in one query (a page looks up their names).
            links_sql = 'SELECT l."offering_id", l."region_id" FROM "offering_region" l'
            if len(by_id) > _IN_CHUNK:
                _count, links = await connection.execute_query(links_sql)
            else:
                links = await _select_in(
                    connection, links_sql + ' WHERE l."offering_id" IN ({ids})', list(by_id)
                )
            for offering_id, region_code in links:
                if offering_id in by_id:
                    by_id[offering_id].region_codes.append(str(region_code))
        return cls(offerings, partner_totals)

    def _eligible_reason(self, offering: OfferingCandidate, flags: frozenset[str]) -> str:
        key = (offering.id, flags)
        found = self._eligible_pieces.get(key)
        if found is None:
            found = self._eligible_pieces[key] = StoredReasons.eligible_piece(offering.eligibility & flags)
        return found

    def candidates(self, request: RequestCase, now: datetime) -> list[Candidate]:
        """The request's candidate offerings, best first, at most MAX_MATCHES_PER_REQUEST."""
        seen: dict[int, tuple[OfferingCandidate, str | None]] = {}
        for code in request.region_codes:
            for offering in self.by_region.get((request.need, code), ()):
                seen.setdefault(offering.id, (offering, code))
        has_point = request.lat is not None and request.lon is not None
        if has_point:
            lat, lon = request.lat, request.lon
            cell = (request.need, math.floor(lat / GRID_DEGREES), math.floor(lon / GRID_DEGREES))  # type: ignore[operator]
            for offering in self.by_cell.get(cell, ()):
                if offering.id in seen:
                    continue
                south, north, west, east = offering.box  # type: ignore[misc]
                if south <= lat <= north and west <= lon <= east:  # type: ignore[operator]
                    seen[offering.id] = (offering, None)
        if not seen:
            return []
        created = request.created_at or now
        days_waiting = (now - created).total_seconds() / 86400
        # score_for's priority and waiting parts (the same for all of this request's offerings),
        # plus its closeness part for an unknown distance; closeness is swapped in per offering below.
        request_points = score_for(request.priority, None, days_waiting, 1.0) - 10.0
        found: list[Candidate] = []
        for offering, region_code in seen.values():
            if offering.eligibility and not (offering.eligibility & request.flags):
                continue
            distance = None
            if has_point and offering.lat is not None and offering.lon is not None:
                distance = fast_distance_km(offering.lat, offering.lon, request.lat, request.lon)  # type: ignore[arg-type]
            # Reached through the grid only: the radius decides.
            if region_code is None and (
                distance is None
                or not within_radius(
                    distance,
                    offering.radius_km,  # type: ignore[arg-type]
                    (offering.lat, offering.lon, request.lat, request.lon),  # type: ignore[arg-type]
                )
            ):
                continue
            pieces: list[str] = []
            if distance is not None:
                pieces.append(StoredReasons.distance_piece(distance_band(distance)))
            if region_code is not None:
                pieces.append(StoredReasons.region_piece(region_code))
            pieces.append(offering.capacity_piece)
            if offering.eligibility:
                pieces.append(self._eligible_reason(offering, request.flags))
            closeness = 10.0 if distance is None else 30.0 / (1.0 + distance / 5.0)
            score = round(request_points + closeness + offering.spare_points, 3)
            found.append(
                Candidate(
                    offering,
                    None if distance is None else round(distance, 3),
                    score,
                    StoredReasons.join(pieces),
                )
            )
        found.sort(
            key=lambda candidate: (
                -candidate.score,
                math.inf if candidate.distance_km is None else candidate.distance_km,
                candidate.offering.id,
            )
        )
        kept = found[:MAX_MATCHES_PER_REQUEST]
        partners: set[int] = set()
        for candidate in kept:
            if candidate.offering.partner_id not in partners:
                partners.add(candidate.offering.partner_id)
                candidate.partner_best = True
        return kept


# Radii beyond this are let through the box filter of `_reach_of` whatever their longitude.
_FARTHEST_KM = 500.0


def _reach_of(
    near: Sequence[RequestCase], connection: BaseDBAsyncClient, start: int
) -> tuple[str, list[Any]]:
    """SQL (on offering `o`) for the offerings that could reach one of `near`: a radius box holding
    one of their points (a superset of OfferingIndex's boxes), or one of their regions."""
    conditions: list[str] = []
    params: list[Any] = []

    def hole(value: Any) -> str:
        params.append(value)
        return _placeholders(connection, 1, start=start + len(params) - 1)

    pointed = [request for request in near if request.lat is not None and request.lon is not None]
    if pointed:
        # Numbers computed here (not input): written into the SQL as literals.
        south = float(min(request.lat for request in pointed))  # type: ignore[type-var]
        north = float(max(request.lat for request in pointed))  # type: ignore[type-var]
        west = float(min(request.lon for request in pointed))  # type: ignore[type-var]
        east = float(max(request.lon for request in pointed))  # type: ignore[type-var]
        # An offering's box is r/110 degrees tall and r/(110·cos φ) wide at its widest latitude φ,
        # which is at most this far from the equator for a radius up to _FARTHEST_KM.
        widest = max(abs(south), abs(north)) + 2 * _FARTHEST_KM / _KM_PER_DEGREE
        km_per_degree = _KM_PER_DEGREE * max(math.cos(math.radians(min(widest, 89.0))), 0.01)
        span = f'o."radius_km" / {_KM_PER_DEGREE!r}'
        lon_span = f'o."radius_km" / {km_per_degree!r}'
        conditions.append(
            f'(o."radius_km" > 0 AND o."base_lat" >= {south!r} - {span} AND o."base_lat" <= {north!r} + {span} '
            f'AND (o."radius_km" > {_FARTHEST_KM!r} OR (o."base_lon" >= {west!r} - {lon_span} '
            f'AND o."base_lon" <= {east!r} + {lon_span})))'
        )
    codes = sorted({code for request in near for code in request.region_codes})
    if codes:
        holes = ", ".join(hole(code) for code in codes)
        conditions.append(
            f'o."id" IN (SELECT "offering_id" FROM "offering_region" WHERE "region_id" IN ({holes}))'
        )
    return " OR ".join(conditions), params


_REQUEST_COLUMNS = (
    'SELECT r."id", r."need_id", r."priority", r."created_at", r."matched_at", h."id", h."lat", h."lon", '
    'g."path", g."lat", g."lon" FROM "service_request" r JOIN "household" h ON h."id" = r."household_id" '
    'JOIN "region" g ON g."code" = h."region_id" '
)


# Only households consented to sharing (and verified where the region requires it) are offered to
# partners: alliance/households/consent.py keeps `matchable` true. A request asked for but left out
# here loses its stored matches (matching.py, "stale").
_OFFERED = 'h."matchable" = TRUE'


def _as_read(value: Any) -> Any:
    return value


async def _load_every_open_request(connection: BaseDBAsyncClient) -> list[RequestCase]:
    """Every open request, for a full re-match: a million in a province. The households' active
    flags come as one text per household (aggregated by the database), and the few different sets
    of flags become one shared frozenset each: no set per household built up flag by flag here."""
    postgres = connection.capabilities.dialect == "postgres"
    hole = _placeholders(connection, 1)
    aggregate = "string_agg" if postgres else "group_concat"

    async def read(sql: str, params: list[Any] | None = None) -> list[Any]:
        async with in_transaction(connection.connection_name) as transaction:
            if postgres:
                # Plain scans and joins: compiling them just in time costs more than it saves.
                await transaction.execute_script("SET LOCAL jit = off")
            return (await transaction.execute_query(sql, params))[1]

    # The region's path and point from a table of the regions (a thousand or so), not on every row.
    region_rows = await read('SELECT "code", "path", "lat", "lon" FROM "region"')
    reads = (
        read(
            'SELECT r."id", r."need_id", r."priority", r."created_at", r."matched_at", h."id", h."lat", '
            'h."lon", h."region_id" FROM "service_request" r JOIN "household" h ON h."id" = r."household_id" '
            f'WHERE r."status" = {hole} AND {_OFFERED} ORDER BY r."id"',
            [str(RequestStatus.OPEN)],
        ),
        read(
            f'SELECT "household_id", {aggregate}("code", \',\') FROM "flag" WHERE "active" = {hole} '
            'GROUP BY "household_id"',
            [True],
        ),
    )
    if postgres:
        # On two connections: the server reads the flags while it reads the requests.
        rows, flag_rows = await asyncio.gather(*reads)
    else:
        rows, flag_rows = [await read_one for read_one in reads]
    flag_sets: dict[str, frozenset[str]] = {}
    flags_of: dict[int, frozenset[str]] = {}
    for household_id, codes in flag_rows:
        flags = flag_sets.get(codes)
        if flags is None:
            flags = flag_sets[codes] = frozenset(codes.split(","))
        flags_of[household_id] = flags
    del flag_rows
    regions = {code: (_region_codes(path), lat, lon) for code, path, lat, lon in region_rows}
    no_flags: frozenset[str] = frozenset()
    # asyncpg hands back timezone-aware datetimes; SQLite text or naive ones (aware() reads them).
    moment = aware if not postgres else _as_read
    cases = []
    append = cases.append
    for request_id, need, priority, created_at, matched_at, household_id, home_lat, home_lon, code in rows:
        region_codes, lat, lon = regions[code]
        if lat is None or lon is None:
            # As _request_case: the community's centre, else the home rounded (alliance/core/privacy.py).
            lat, lon = public_point(lat, lon, home_lat, home_lon)
        append(
            RequestCase(
                request_id,
                need,
                priority or 0,
                moment(created_at),
                moment(matched_at),
                household_id,
                lat,
                lon,
                region_codes,
                flags_of.get(household_id, no_flags),
            )
        )
    return cases


def _request_case(row: Any, paths: dict[str, list[str]] | None = None) -> RequestCase:
    """A request's row as matching reads it; `paths` shares one list of codes among the requests of a
    region path (read-only: a full re-match reads a million requests from a few thousand communities)."""
    # Matching measures from the household's public point (its community's centre), never the home:
    # what partners see before a claim (being matched, the band, the rank) must not move with the
    # home. See alliance/core/privacy.py and docs/security.md.
    lat, lon = public_point(row[9], row[10], row[6], row[7])
    return RequestCase(
        id=row[0],
        need=str(row[1]),
        priority=row[2] or 0,
        created_at=aware(row[3]),
        matched_at=aware(row[4]),
        household_id=row[5],
        lat=lat,
        lon=lon,
        region_codes=_region_codes(row[8]) if paths is None else _shared_codes(paths, row[8]),
    )


def _shared_codes(paths: dict[str, list[str]], path: str) -> list[str]:
    found = paths.get(path)
    if found is None:
        found = paths[path] = _region_codes(path)
    return found


async def _load_requests(request_ids: Sequence[int] | None) -> list[RequestCase]:
    """Open requests (all of them when `request_ids` is None) with their household's point, region
    and active flags."""
    connection = _connection()
    open_hole = _placeholders(connection, 1)
    if request_ids is None:
        return await _load_every_open_request(connection)
    else:
        rows = await _select_in(
            connection,
            _REQUEST_COLUMNS + f'WHERE r."status" = {open_hole} AND {_OFFERED} AND r."id" IN ({{ids}})',
            sorted(set(request_ids)),
            extra=[str(RequestStatus.OPEN)],
        )
    paths: dict[str, list[str]] = {}
    cases = [_request_case(row, paths) for row in rows]
    flags: dict[int, set[str]] = defaultdict(set)
    flag_rows = await _select_in(
        connection,
        f'SELECT "household_id", "code" FROM "flag" WHERE "active" = {open_hole} AND "household_id" IN ({{ids}})',
        sorted({case.household_id for case in cases}),
        extra=[True],
    )
    for household_id, code in flag_rows:
        flags[household_id].add(str(code))
    for case in cases:
        case.flags = frozenset(flags.get(case.household_id, ()))
    return cases
