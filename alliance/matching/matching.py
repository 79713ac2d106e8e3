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
region code to offerings, so a request only looks at the few offerings of its own cell and of its
region's ancestors; never all pairs. Distances come from the ellipsoidal tangent-plane formula
(`fast_distance_km`, within 1e-8·d³ km of geopy's geodesic: under 1 cm at 20 km); whenever that
margin could change the answer (a household within it of the radius), geopy's geodesic decides.

Results are stored in Match (a request's matches replaced in one transaction) and
ServiceRequest.matched_at is set, so pages never recompute them. An open request that was matched
and has no Match row is a gap (`gaps_for`).

Score (0..100, higher first; documented in `score_for`): request priority 40, closeness 30, days
waiting 15, partner's spare capacity 15.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from geopy.distance import geodesic
from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, visible
from alliance.core.codes import NotificationChannel, PartnerStatus, RequestStatus, Role
from alliance.core.i18n import DEFAULT_LANGUAGE, current_language, language, ngettext
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.models import Region, User
from alliance.core.timeutil import LOCAL_TZ, aware, utc_now
from alliance.matching.models import Match, ServiceRequest
from alliance.notifications.models import Notification
from alliance.partners.models import Offering

GRID_DEGREES = 0.25
# A request keeps at most this many candidates (best first); partners further down never saw it anyway.
MAX_MATCHES_PER_REQUEST = 20
# A new match at least this good is worth telling the partner about.
GOOD_MATCH_SCORE = 50.0
STORE_CHUNK = 5000
_IN_CHUNK = 900  # SQLite's historical limit on bound parameters is 999

# WGS84, as geopy's geodesic uses.
_AXIS_KM = 6378.137
_FLATTENING = 1 / 298.257223563
_E2 = _FLATTENING * (2 - _FLATTENING)
# Fewer km per degree than anywhere on the ellipsoid (110.57 km per degree of latitude at the equator
# is the least; a degree of longitude is at least 111.32·cos φ): bounding boxes are never too small.
_KM_PER_DEGREE = 110.0


def month_key(moment: datetime | None = None) -> str:
    """The capacity month of a moment, "YYYY-MM" in Asia/Shanghai (OfferingMonth.month)."""
    return (moment or utc_now()).astimezone(LOCAL_TZ).strftime("%Y-%m")


def fast_distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance on the WGS84 ellipsoid by the tangent plane at the mean latitude (meridional and
    prime-vertical radii of curvature). Within `distance_error_bound_km(d)` of the geodesic."""
    phi = math.radians((lat1 + lat2) / 2)
    sin_phi = math.sin(phi)
    w = 1 - _E2 * sin_phi * sin_phi
    prime_vertical = _AXIS_KM / math.sqrt(w)
    meridional = _AXIS_KM * (1 - _E2) / (w * math.sqrt(w))
    north = meridional * math.radians(lat2 - lat1)
    east = prime_vertical * math.cos(phi) * math.radians(lon2 - lon1)
    return math.hypot(north, east)


def distance_error_bound_km(distance_km: float) -> float:
    # Measured against geopy over China's latitudes: 2.2e-5 relative at 100 km, 5.9e-4 at 500 km;
    # the bound keeps a factor of about two above that.
    return 1e-8 * distance_km**3 + 1e-5


def geodesic_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return geodesic((lat1, lon1), (lat2, lon2)).km


def within_radius(distance_km: float, radius_km: float, point: tuple[float, float, float, float]) -> bool:
    """Is the household inside the radius? The fast distance decides unless the answer is within its
    error margin, where geopy's geodesic decides."""
    margin = distance_error_bound_km(distance_km)
    if distance_km <= radius_km - margin:
        return True
    if distance_km > radius_km + margin:
        return False
    return geodesic_km(*point) <= radius_km


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


# --- loading ---------------------------------------------------------------------------------


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
    capacity_json: str = ""

    @property
    def places_left(self) -> int:
        return self.capacity - self.claimed


@dataclass
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
    # Match.reasons as JSON text, assembled from cached pieces: a full re-match writes a million.
    reasons_json: str
    # The best of its partner's offerings for this request (the board lists that one).
    partner_best: bool = False

    @property
    def reasons(self) -> list[dict[str, Any]]:
        return json.loads(self.reasons_json)


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

    def __init__(self, offerings: list[OfferingCandidate], region_names: dict[str, tuple[str, str]]):
        self.offerings = {offering.id: offering for offering in offerings}
        self.region_names = region_names
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
        self.partner_load = {
            partner: (claimed[partner] / capacity[partner]) if capacity[partner] else 1.0
            for partner in capacity
        }
        self._region_json: dict[str, str] = {}
        self._eligible_json: dict[tuple[int, frozenset[str]], str] = {}
        for offering in offerings:
            load = self.partner_load.get(offering.partner_id, 1.0)
            offering.spare_points = 15.0 * (1.0 - max(0.0, min(1.0, load)))
            offering.capacity_json = json.dumps(
                {"code": "capacity", "left": offering.places_left, "capacity": offering.capacity}
            )

    @classmethod
    async def load(cls, needs: Iterable[str] | None = None, *, now: datetime | None = None) -> OfferingIndex:
        """Every offering that could take a request now (active, approved partner, places left)."""
        connection = _connection()
        month = month_key(now)
        sql = (
            'SELECT o."id", o."partner_id", o."need_id", o."eligibility_flags", o."base_lat", o."base_lon", '
            'o."radius_km", o."monthly_capacity", o."updated_at", m."claimed" '
            'FROM "offering" o JOIN "partner" p ON p."id" = o."partner_id" '
            'LEFT JOIN "offering_month" m ON m."offering_id" = o."id" AND m."month" = {month} '
            'WHERE o."active" = {true} AND p."status" = {approved}'
        )
        need_list = sorted(set(needs)) if needs is not None else None
        if need_list is not None and not need_list:
            return cls([], {})
        params: list[Any] = [month, True, str(PartnerStatus.APPROVED), *(need_list or [])]
        holes = _placeholders(connection, len(params)).split(", ")
        sql = sql.format(month=holes[0], true=holes[1], approved=holes[2])
        if need_list is not None:
            sql += f' AND o."need_id" IN ({", ".join(holes[3:])})'
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
        by_id = {offering.id: offering for offering in offerings}
        codes: set[str] = set()
        if by_id:
            if len(by_id) > _IN_CHUNK:
                _count, links = await connection.execute_query(
                    'SELECT "offering_id", "region_id" FROM "offering_region"'
                )
            else:
                links = await _select_in(
                    connection,
                    'SELECT "offering_id", "region_id" FROM "offering_region" WHERE "offering_id" IN ({ids})',
                    list(by_id),
                )
            for offering_id, region_code in links:
                if offering_id in by_id:
                    by_id[offering_id].region_codes.append(str(region_code))
                    codes.add(str(region_code))
        names: dict[str, tuple[str, str]] = {}
        if codes:
            for code, name, name_en in await Region.filter(code__in=sorted(codes)).values_list(
                "code", "name", "name_en"
            ):
                names[code] = (name, name_en)
        return cls(offerings, names)

    def _region_reason(self, code: str) -> str:
        found = self._region_json.get(code)
        if found is None:
            name, name_en = self.region_names.get(code, (code, code))
            found = json.dumps(
                {"code": "region", "region": code, "name": name, "name_en": name_en}, ensure_ascii=False
            )
            self._region_json[code] = found
        return found

    def _eligible_reason(self, offering: OfferingCandidate, flags: frozenset[str]) -> str:
        key = (offering.id, flags)
        found = self._eligible_json.get(key)
        if found is None:
            found = json.dumps({"code": "eligible", "flags": sorted(offering.eligibility & flags)})
            self._eligible_json[key] = found
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
                pieces.append(f'{{"code": "distance", "km": {round(distance, 2)!r}}}')
            if region_code is not None:
                pieces.append(self._region_reason(region_code))
            pieces.append(offering.capacity_json)
            if offering.eligibility:
                pieces.append(self._eligible_reason(offering, request.flags))
            closeness = 10.0 if distance is None else 30.0 / (1.0 + distance / 5.0)
            score = round(request_points + closeness + offering.spare_points, 3)
            found.append(
                Candidate(
                    offering,
                    None if distance is None else round(distance, 3),
                    score,
                    "[" + ", ".join(pieces) + "]",
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


_REQUEST_COLUMNS = (
    'SELECT r."id", r."need_id", r."priority", r."created_at", r."matched_at", h."id", h."lat", h."lon", '
    'g."path" FROM "service_request" r JOIN "household" h ON h."id" = r."household_id" '
    'JOIN "region" g ON g."code" = h."region_id" '
)


def _request_case(row: Any) -> RequestCase:
    return RequestCase(
        id=row[0],
        need=str(row[1]),
        priority=row[2] or 0,
        created_at=aware(row[3]),
        matched_at=aware(row[4]),
        household_id=row[5],
        lat=row[6],
        lon=row[7],
        region_codes=_region_codes(row[8]),
    )


async def _load_requests(request_ids: Sequence[int] | None) -> list[RequestCase]:
    """Open requests (all of them when `request_ids` is None) with their household's point, region
    and active flags."""
    connection = _connection()
    open_hole = _placeholders(connection, 1)
    if request_ids is None:
        _count, rows = await connection.execute_query(
            _REQUEST_COLUMNS + f'WHERE r."status" = {open_hole} ORDER BY r."id"', [str(RequestStatus.OPEN)]
        )
    else:
        rows = await _select_in(
            connection,
            _REQUEST_COLUMNS + f'WHERE r."status" = {open_hole} AND r."id" IN ({{ids}})',
            sorted(set(request_ids)),
            extra=[str(RequestStatus.OPEN)],
        )
    cases = [_request_case(row) for row in rows]
    flags: dict[int, set[str]] = defaultdict(set)
    if request_ids is None:
        _count, flag_rows = await connection.execute_query(
            f'SELECT "household_id", "code" FROM "flag" WHERE "active" = {open_hole}', [True]
        )
    else:
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


# --- storing ---------------------------------------------------------------------------------


@dataclass
class MatchRun:
    """What one matching run did (the CLI prints it; jobs return it as a dict)."""

    requests_matched: int = 0
    requests_without_candidate: int = 0
    matches_stored: int = 0
    seconds: float = 0.0
    notification_ids: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "requests_matched": self.requests_matched,
            "requests_without_candidate": self.requests_without_candidate,
            "matches_stored": self.matches_stored,
            "seconds": round(self.seconds, 3),
        }


_MATCH_COLUMNS = (
    "request_id",
    "offering_id",
    "partner_id",
    "score",
    "distance_km",
    "reasons",
    "partner_best",
    "computed_at",
)


class _Matcher:
    """One run's candidate search: counts what it found and which partners have good new matches."""

    def __init__(self, index: OfferingIndex, now: datetime, run: MatchRun) -> None:
        self.index, self.now, self.run = index, now, run
        self.good_new: dict[int, set[int]] = defaultdict(set)
        # SQLite keeps datetimes as text in str(datetime)'s form; binding the text skips a million
        # adaptations. asyncpg's COPY takes the datetime.
        self.stamp: Any = now if _is_postgres(_connection()) else str(now)

    def rows(self, request: RequestCase) -> list[tuple[Any, ...]]:
        found = self.index.candidates(request, self.now)
        if not found:
            self.run.requests_without_candidate += 1
        for candidate in found:
            # New to the partner: a request never matched before, or an offering changed since.
            updated = candidate.offering.updated_at
            is_new = request.matched_at is None or (updated is not None and updated > request.matched_at)
            if is_new and candidate.score >= GOOD_MATCH_SCORE:
                self.good_new[candidate.offering.partner_id].add(request.id)
        return [
            (
                request.id,
                candidate.offering.id,
                candidate.offering.partner_id,
                candidate.score,
                candidate.distance_km,
                candidate.reasons_json,
                candidate.partner_best,
                self.stamp,
            )
            for candidate in found
        ]


async def _insert_matches(connection: BaseDBAsyncClient, rows: Any) -> None:
    """Rows (a list, or on PostgreSQL also an async iterable) into request_match: COPY on PostgreSQL."""
    if _is_postgres(connection):
        async with connection.acquire_connection() as raw:
            await raw.copy_records_to_table("request_match", records=rows, columns=list(_MATCH_COLUMNS))
        return
    if rows:
        names = ", ".join(f'"{column}"' for column in _MATCH_COLUMNS)
        await connection.execute_many(
            f'INSERT INTO "request_match" ({names}) VALUES ({_placeholders(connection, len(_MATCH_COLUMNS))})',
            rows,
        )


async def _stamp_and_prune(connection: BaseDBAsyncClient, now: datetime, ids: Sequence[int] | None) -> None:
    """Stamp matched_at on the open requests matched (every open one when `ids` is None), and drop the
    matches of requests claimed or closed while we computed: they are no longer open."""
    stamp, status = _placeholders(connection, 2).split(", ")
    hole = _placeholders(connection, 1)
    closed = f'SELECT "id" FROM "service_request" WHERE "status" <> {hole}'
    if ids is None:
        await connection.execute_query(
            f'UPDATE "service_request" SET "matched_at" = {stamp} WHERE "status" = {status}',
            [now, str(RequestStatus.OPEN)],
        )
        await connection.execute_query(
            f'DELETE FROM "request_match" WHERE "request_id" IN ({closed})', [str(RequestStatus.OPEN)]
        )
        return
    for part in _chunks(ids, _IN_CHUNK):
        holes = _placeholders(connection, len(part), start=3)
        await connection.execute_query(
            f'UPDATE "service_request" SET "matched_at" = {stamp} '
            f'WHERE "status" = {status} AND "id" IN ({holes})',
            [now, str(RequestStatus.OPEN), *part],
        )
        holes = _placeholders(connection, len(part), start=2)
        await connection.execute_query(
            f'DELETE FROM "request_match" WHERE "request_id" IN ({closed} AND "id" IN ({holes}))',
            [str(RequestStatus.OPEN), *part],
        )


async def _store_some(requests: list[RequestCase], matcher: _Matcher) -> int:
    """Replace the matches of `requests`, one transaction per chunk."""
    stored = 0
    for chunk in _chunks(requests, STORE_CHUNK):
        rows = [row for request in chunk for row in matcher.rows(request)]
        ids = [request.id for request in chunk]
        async with in_transaction() as connection:
            for part in _chunks(ids, _IN_CHUNK):
                await connection.execute_query(
                    f'DELETE FROM "request_match" WHERE "request_id" IN ({_placeholders(connection, len(part))})',
                    list(part),
                )
            await _insert_matches(connection, rows)
            await _stamp_and_prune(connection, matcher.now, ids)
        stored += len(rows)
    return stored


async def _store_everything(requests: list[RequestCase], matcher: _Matcher) -> int:
    """Replace every match in one transaction (readers see the old set until it commits)."""
    if _is_postgres(_connection()):
        return await _swap_everything(requests, matcher)
    stored = 0
    async with in_transaction() as connection:
        # SQLite: the secondary indexes are dropped and built again after the rows, in one sorted
        # pass each, instead of being updated a million times; readers see the old set until commit.
        _count, indexes = await connection.execute_query(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'request_match' "
            "AND sql IS NOT NULL"
        )
        # (execute_query, not execute_script: sqlite3's executescript commits what is pending first.)
        for name, _sql in indexes:
            await connection.execute_query(f'DROP INDEX "{name}"')
        await connection.execute_query('DELETE FROM "request_match"')
        # One chunk is inserted by the database's thread while the next is computed here.
        writing: asyncio.Future | None = None
        for chunk in _chunks(requests, STORE_CHUNK * 4):
            rows = [row for request in chunk for row in matcher.rows(request)]
            stored += len(rows)
            if writing is not None:
                await writing
            writing = asyncio.ensure_future(_insert_matches(connection, rows))
            await asyncio.sleep(0)  # let it hand the rows to the database thread
        if writing is not None:
            await writing
        for _name, sql in indexes:
            await connection.execute_query(sql)
        await _stamp_and_prune(connection, matcher.now, None)
    return stored


_NEXT_TABLE = "request_match_next"
_INDEX_DEFINITION = re.compile(r"^(CREATE (?:UNIQUE )?INDEX) \S+ ON \S+ (USING .*)$")


async def _swap_everything(requests: list[RequestCase], matcher: _Matcher) -> int:
    """PostgreSQL: build the new match table beside the old one and swap them, in one transaction.

    Rows stream into a COPY as they are computed (the server writes while we compute the next
    requests: both cores work), into a table with no index yet; its indexes are then built in one
    sorted pass each, and it is renamed into place with the old table's index and constraint names.
    Maintaining four indexes row by row over a million rows took several times as long. Readers see
    the old matches until the commit; the rename waits for them, and holds its lock for milliseconds.
    """
    stored = 0

    async def stream() -> Any:
        nonlocal stored
        for request in requests:
            for row in matcher.rows(request):
                stored += 1
                yield row

    async with in_transaction() as connection, connection.acquire_connection() as raw:
        indexes = await raw.fetch(
            "SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition, "
            "k.contype::text AS kind FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid "
            "WHERE i.indrelid = 'request_match'::regclass"
        )
        sequence = await raw.fetchval("SELECT pg_get_serial_sequence('request_match', 'id')")
        await raw.execute(f'CREATE TABLE "{_NEXT_TABLE}" (LIKE "request_match" INCLUDING DEFAULTS)')
        await raw.copy_records_to_table(_NEXT_TABLE, records=stream(), columns=list(_MATCH_COLUMNS))
        built = []
        for index in indexes:
            found = _INDEX_DEFINITION.match(index["definition"])
            if found is None:  # pragma: no cover - pg_get_indexdef's form is stable
                raise RuntimeError(f"unexpected index definition: {index['definition']}")
            temporary = f"{index['name'][:50]}_next"
            await raw.execute(f'{found.group(1)} "{temporary}" ON "{_NEXT_TABLE}" {found.group(2)}')
            built.append((index["name"], temporary, index["kind"]))
        await raw.execute(f'ANALYZE "{_NEXT_TABLE}"')
        await raw.execute("SET LOCAL lock_timeout = '60s'")
        await raw.execute('ALTER TABLE "request_match" RENAME TO "request_match_old"')
        await raw.execute(f'ALTER TABLE "{_NEXT_TABLE}" RENAME TO "request_match"')
        if sequence:
            await raw.execute(f'ALTER SEQUENCE {sequence} OWNED BY "request_match"."id"')
        await raw.execute('DROP TABLE "request_match_old"')
        for name, temporary, kind in built:
            if kind == "p":
                await raw.execute(
                    f'ALTER TABLE "request_match" ADD CONSTRAINT "{name}" PRIMARY KEY USING INDEX "{temporary}"'
                )
            elif kind == "u":
                await raw.execute(
                    f'ALTER TABLE "request_match" ADD CONSTRAINT "{name}" UNIQUE USING INDEX "{temporary}"'
                )
            else:
                await raw.execute(f'ALTER INDEX "{temporary}" RENAME TO "{name}"')
    # Stamped after the swap, in short transactions: a claim waits for one chunk at most. Only the
    # requests this run matched: one raised meanwhile is matched by its own job.
    ids = [request.id for request in requests]
    for part in _chunks(ids, 20_000):
        await _connection().execute_query(
            'UPDATE "service_request" SET "matched_at" = $1 WHERE "status" = $2 AND "id" = ANY($3::int[])',
            [matcher.now, str(RequestStatus.OPEN), list(part)],
        )
    return stored


async def _match(request_ids: Sequence[int] | None, *, notify: bool = True) -> MatchRun:
    started = time.perf_counter()
    now = utc_now()
    requests = await _load_requests(request_ids)
    run = MatchRun()
    if request_ids is not None:
        # Asked for, but claimed or closed since: they keep no matches.
        stale = sorted(set(request_ids) - {request.id for request in requests})
        for part in _chunks(stale, _IN_CHUNK):
            await Match.filter(request_id__in=list(part)).delete()
    index = await OfferingIndex.load(
        None if request_ids is None else {request.need for request in requests}, now=now
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
    ids: set[int] = set(await Match.filter(offering_id=offering_id).values_list("request_id", flat=True))
    if offering.base_lat is not None and offering.base_lon is not None and offering.radius_km:
        lat_span = offering.radius_km / _KM_PER_DEGREE
        widest = abs(offering.base_lat) + lat_span
        lon_span = offering.radius_km / (
            _KM_PER_DEGREE * max(math.cos(math.radians(min(widest, 89.0))), 0.01)
        )
        ids.update(
            await query.filter(
                household__lat__gte=offering.base_lat - lat_span,
                household__lat__lte=offering.base_lat + lat_span,
                household__lon__gte=offering.base_lon - lon_span,
                household__lon__lte=offering.base_lon + lon_span,
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


# --- telling partners ------------------------------------------------------------------------


async def notify_partners_of_new_matches(
    new_by_partner: dict[int, int], *, now: datetime | None = None
) -> list[int]:
    """Tell each partner's staff in-app that good new matches arrived, at most once a day per
    partner (the dedupe key carries the local date). Returns the ids of the notices to deliver."""
    day = (now or utc_now()).astimezone(LOCAL_TZ).date().isoformat()
    staff = await User.filter(
        partner_id__in=list(new_by_partner), role__in=[Role.PARTNER_ADMIN, Role.DISPATCHER], is_active=True
    ).values_list("id", "partner_id", "language")
    keys = {user_id: f"new-matches:{partner_id}:{day}:{user_id}" for user_id, partner_id, _language in staff}
    taken = set(
        await Notification.filter(dedupe_key__in=list(keys.values())).values_list("dedupe_key", flat=True)
    )
    created: list[int] = []
    for user_id, partner_id, user_language in staff:
        if keys[user_id] in taken:
            continue
        chosen = user_language or DEFAULT_LANGUAGE
        with language(chosen):
            count = new_by_partner[partner_id]
            body = ngettext(
                "{count} new request in your service area matches your offerings. Open the claim board to see it.",
                "{count} new requests in your service area match your offerings. Open the claim board to see them.",
                count,
            ).format(count=count)
            subject = _("New matches in your area")
        try:
            notification = await Notification.create(
                user_id=user_id,
                channel=NotificationChannel.IN_APP,
                language=chosen,
                subject=subject,
                body=body,
                dedupe_key=keys[user_id],
            )
        except IntegrityError:
            continue  # a concurrent run told this person today already
        created.append(notification.id)
    return created


# --- display ---------------------------------------------------------------------------------


def _join(items: list[str]) -> str:
    return ("、" if current_language() == "zh_CN" else ", ").join(items)


def reason_texts(match: Match | dict[str, Any] | list[dict[str, Any]]) -> list[str]:
    """The match's reasons in the reader's language, e.g. ["3.2 km", "4 of 10 places left",
    "eligible: 低保"]. Accepts a Match, a dict with "reasons", or the reasons list itself."""
    if isinstance(match, Match):
        reasons = match.reasons
    elif isinstance(match, dict):
        reasons = match.get("reasons", [])
    else:
        reasons = match
    if isinstance(reasons, str):
        reasons = json.loads(reasons)
    texts: list[str] = []
    for reason in reasons or []:
        code = reason.get("code")
        if code == "distance":
            texts.append(_("{km} km").format(km=f"{float(reason['km']):.1f}"))
        elif code == "region":
            name = (
                reason.get("name")
                if current_language() == "zh_CN"
                else reason.get("name_en") or reason.get("name")
            )
            texts.append(_("serves {region}").format(region=name or reason.get("region", "")))
        elif code == "capacity":
            texts.append(
                _("{left} of {capacity} places left").format(left=reason["left"], capacity=reason["capacity"])
            )
        elif code == "eligible":
            texts.append(
                _("eligible: {flags}").format(flags=_join([label(flag) for flag in reason["flags"]]))
            )
    return texts


# --- selectors -------------------------------------------------------------------------------


@dataclass
class GapRow:
    need: str
    region_code: str
    region_name: str
    requests: int


@dataclass
class GapList:
    rows: list[GapRow]
    total: int
    never_matched: int


async def gaps_for(principal: Principal) -> GapList:
    """Open requests in the viewer's region with NO candidate offering, grouped by need and by the
    region one level below the viewer's ("no partner covers HOME_CARE in 文成县"): the list
    coordinators recruit partners for. `never_matched` counts open requests not matched yet."""
    scoped = visible(principal, Action.VIEW_GAPS).filter(status=RequestStatus.OPEN)
    matched_ids = Match.all().values("request_id")
    rows = (
        await scoped.filter(matched_at__isnull=False)
        .exclude(id__in=Subquery(matched_ids))
        .values_list("need_id", "household__region__path")
    )
    never = await scoped.filter(matched_at__isnull=True).count()
    depth = len(_region_codes(principal.region_path or "")) if principal.region_path else 1
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for need, path in rows:
        codes = _region_codes(path)
        code = codes[depth] if len(codes) > depth else codes[-1]
        counts[(str(need), code)] += 1
    names = {
        code: (name, name_en)
        for code, name, name_en in await Region.filter(
            code__in=sorted({code for _need, code in counts})
        ).values_list("code", "name", "name_en")
    }
    chinese = current_language() == "zh_CN"

    def region_name(code: str) -> str:
        name, name_en = names.get(code, (code, ""))
        return name if chinese else name_en or name

    gap_rows = [
        GapRow(need=need, region_code=code, region_name=region_name(code), requests=count)
        for (need, code), count in counts.items()
    ]
    gap_rows.sort(key=lambda row: (-row.requests, row.need, row.region_code))
    return GapList(rows=gap_rows, total=sum(counts.values()), never_matched=never)
