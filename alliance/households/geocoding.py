"""Geocoding of imported households, with geopy.

Where a household sits, best first:
1. coordinates sent in the feed (precision "exact"), set at import;
2. its address geocoded by the geopy geocoder named in the GEOCODER setting (precision "address");
   the default, "offline", needs no internet: a geopy Geocoder over the addresses already placed and
   the region gazetteer;
3. its region's centre (precision "region"), set at import so the household is usable at once.

Step 2 runs in an arq job (`geocode_intake_batch`), never inside an HTTP request: the import marks
the records waiting (IntakeRecord.geocode_pending) and the job works through them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from geopy.distance import geodesic
from geopy.exc import GeopyError
from geopy.extra.rate_limiter import RateLimiter
from geopy.geocoders import get_geocoder_for_service
from geopy.geocoders.base import Geocoder
from geopy.location import Location
from geopy.point import Point
from tortoise.transactions import in_transaction

from alliance.core.codes import LocationPrecision
from alliance.core.models import Region
from alliance.households.intake_format import LAT_RANGE, LON_RANGE
from alliance.households.models import Household, IntakeRecord

logger = logging.getLogger(__name__)

OFFLINE = "offline"
DISABLED = "none"
CHUNK_SIZE = 500
# A result farther than this from the household's region centre is a namesake street elsewhere.
MAX_DISTANCE_KM = 30.0


def normalise_address(text: str) -> str:
    """Full-width to half-width, no spaces, lower case: 五马街 １号 == 五马街1号."""
    return "".join(unicodedata.normalize("NFKC", text).split()).lower()


@dataclass(frozen=True)
class GazetteerEntry:
    code: str
    name: str
    depth: int
    lat: float
    lon: float


class OfflineGeocoder(Geocoder):
    """A geopy geocoder that needs no network: an address already placed (by the feed or an earlier
    geocode) gives its point; else the most specific region whose name the query mentions gives its
    centre. `raw` says which: {"source": "known_address"} or {"source": "gazetteer", "code", "depth"}."""

    def __init__(
        self,
        known_addresses: Mapping[str, tuple[float, float]] | None = None,
        gazetteer: Iterable[GazetteerEntry] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.known = {normalise_address(address): point for address, point in (known_addresses or {}).items()}
        # Deepest first, then longest name: "五马社区" wins over "五马街道" when both appear.
        self.gazetteer = sorted(gazetteer, key=lambda entry: (-entry.depth, -len(entry.name)))

    def geocode(
        self, query: str, *, exactly_one: bool = True, timeout: Any = None
    ) -> Location | list[Location] | None:
        key = normalise_address(query)
        found: list[Location] = []
        if key in self.known:
            lat, lon = self.known[key]
            found.append(Location(query, Point(lat, lon), {"source": "known_address"}))
        for entry in self.gazetteer:
            if normalise_address(entry.name) in key:
                found.append(
                    Location(
                        entry.name,
                        Point(entry.lat, entry.lon),
                        {"source": "gazetteer", "code": entry.code, "depth": entry.depth},
                    )
                )
                if exactly_one:
                    break
        if not found:
            return None
        return found[0] if exactly_one else found


def configured_service() -> str:
    return os.environ.get("GEOCODER", OFFLINE).strip().lower() or OFFLINE


def external_geocoder(service: str) -> Geocoder:
    """A networked geopy geocoder by its geopy name ("nominatim", "baiduv3", ...), with keyword
    arguments from GEOCODER_OPTIONS (JSON, e.g. {"user_agent": "alliance-wenzhou", "api_key": "..."})."""
    options = json.loads(os.environ.get("GEOCODER_OPTIONS") or "{}")
    return get_geocoder_for_service(service)(**options)


@dataclass
class _Pending:
    record_id: int
    household_id: int
    address: str
    region_code: str
    region_path: str
    region_depth: int
    centre: tuple[float, float] | None
    query: str


async def _pending(batch_id: int | None, limit: int) -> list[_Pending]:
    query = IntakeRecord.filter(geocode_pending=True)
    if batch_id is not None:
        query = query.filter(last_batch_id=batch_id)
    records = await query.order_by("id").limit(limit).values("id", "household_id")
    households = {
        item["id"]: item
        for item in await Household.filter(id__in=[record["household_id"] for record in records]).values(
            "id", "address", "region_id", "region__path", "region__depth"
        )
    }
    codes = {code for item in households.values() for code in item["region__path"].strip("/").split("/")}
    regions = {
        item["code"]: item
        for item in await Region.filter(code__in=codes).values("code", "name", "lat", "lon")
    }
    pending = []
    for record in records:
        household = households.get(record["household_id"])
        if household is None:
            continue
        trail = [code for code in household["region__path"].strip("/").split("/") if code]
        points = [
            (regions[code]["lat"], regions[code]["lon"])
            for code in trail
            if regions.get(code, {}).get("lat") is not None
        ]
        names = [regions[code]["name"] for code in trail if code in regions]
        pending.append(
            _Pending(
                record_id=record["id"],
                household_id=household["id"],
                address=household["address"],
                region_code=household["region_id"],
                region_path=household["region__path"],
                region_depth=household["region__depth"],
                centre=points[-1] if points else None,
                query=" ".join([*names, household["address"]]),
            )
        )
    return pending


async def _offline_geocoder_for(items: list[_Pending]) -> OfflineGeocoder:
    """Only what this chunk can use: households already placed in the chunk's regions (addresses are
    compared normalised, so not in SQL), and the regions under the chunk's regions."""
    placed = await Household.filter(
        region_id__in={item.region_code for item in items},
        location_precision__in=[LocationPrecision.EXACT, LocationPrecision.ADDRESS],
    ).values("address", "region__path", "lat", "lon")
    paths = {item["region__path"] for item in placed} | {item.region_path for item in items}
    codes = {code for path in paths for code in path.strip("/").split("/") if code}
    names = dict(await Region.filter(code__in=codes).values_list("code", "name"))
    known = {}
    for item in placed:
        trail = [names.get(code, "") for code in item["region__path"].strip("/").split("/") if code]
        known[" ".join([*trail, item["address"]])] = (item["lat"], item["lon"])
    gazetteer = []
    for prefix in {item.region_path for item in items}:
        for region in await Region.filter(path__startswith=prefix, lat__isnull=False).values(
            "code", "name", "depth", "lat", "lon"
        ):
            gazetteer.append(
                GazetteerEntry(region["code"], region["name"], region["depth"], region["lat"], region["lon"])
            )
    return OfflineGeocoder(known, gazetteer)


def _accept(item: _Pending, location: Location | None) -> tuple[float, float] | None:
    """A result we trust for this household: in China, near its region, and for a gazetteer hit a
    region finer than the one the feed gave (the region centre is already there)."""
    if location is None:
        return None
    lat, lon = location.latitude, location.longitude
    if not (LAT_RANGE[0] <= lat <= LAT_RANGE[1] and LON_RANGE[0] <= lon <= LON_RANGE[1]):
        return None
    raw = location.raw if isinstance(location.raw, dict) else {}
    if raw.get("source") == "gazetteer" and raw.get("depth", 0) <= item.region_depth:
        return None
    if item.centre is not None and geodesic(item.centre, (lat, lon)).km > MAX_DISTANCE_KM:
        return None
    return lat, lon


async def geocode_pending(
    batch_id: int | None = None, geocoder: Geocoder | None = None, *, seconds: float | None = None
) -> int:
    """Geocode the addresses still waiting (of one batch, or all). Returns how many got a point.

    Safe to run twice: a record leaves the waiting list once tried; a failure of a networked
    geocoder leaves the rest waiting for the next run. With `seconds`, it saves what it found and
    stops after about that long (a job's slice: the sweep queues the batch again for the rest)."""
    stop_at = None if seconds is None else time.monotonic() + seconds
    service = configured_service() if geocoder is None else "given"
    if service == DISABLED:
        query = IntakeRecord.filter(geocode_pending=True)
        if batch_id is not None:
            query = query.filter(last_batch_id=batch_id)
        await query.update(geocode_pending=False)
        return 0
    networked = None
    if geocoder is None and service != OFFLINE:
        networked = external_geocoder(service)
        lookup = RateLimiter(
            networked.geocode, min_delay_seconds=float(os.environ.get("GEOCODER_MIN_DELAY", "1"))
        )
    placed = 0
    while True:
        items = await _pending(batch_id, CHUNK_SIZE)
        if not items:
            return placed
        offline = geocoder or (None if networked else await _offline_geocoder_for(items))
        points: dict[int, tuple[float, float]] = {}
        tried: list[int] = []
        for item in items:
            if stop_at is not None and time.monotonic() > stop_at:
                await _save(points, tried)
                return placed + len(points)
            try:
                if offline is not None:
                    location = offline.geocode(item.query, exactly_one=True)
                else:
                    location = await asyncio.to_thread(lookup, item.query, exactly_one=True, timeout=10)
            except GeopyError:
                logger.warning(
                    "geocoder %s failed; %d addresses stay waiting", service, len(items) - len(tried)
                )
                await _save(points, tried)
                return placed + len(points)
            tried.append(item.record_id)
            point = _accept(item, location)  # type: ignore[arg-type]
            if point is not None:
                points[item.household_id] = point
        await _save(points, tried)
        placed += len(points)


async def _save(points: dict[int, tuple[float, float]], tried: list[int]) -> None:
    async with in_transaction():
        for household_id, (lat, lon) in points.items():
            # The feed may have sent exact coordinates meanwhile: those win.
            await (
                Household.filter(id=household_id)
                .exclude(location_precision=LocationPrecision.EXACT)
                .update(lat=lat, lon=lon, location_precision=LocationPrecision.ADDRESS)
            )
        if tried:
            await IntakeRecord.filter(id__in=tried).update(geocode_pending=False)


async def batches_waiting_for_geocoding() -> list[int]:
    """Batches with addresses still waiting: the worker's sweep enqueues a job for each."""
    ids = (
        await IntakeRecord.filter(geocode_pending=True, last_batch_id__isnull=False)
        .distinct()
        .values_list("last_batch_id", flat=True)
    )
    return sorted(int(batch_id) for batch_id in ids)  # type: ignore[arg-type]


def geocode_job_id(batch_id: int) -> str:
    return f"geocode-intake-batch:{batch_id}"
