"""Geocoding with geopy: the offline geocoder, the waiting list, and the job on a real arq worker."""

from __future__ import annotations

import json
import time

import pytest
from arq import create_pool
from arq.connections import RedisSettings
from geopy.exc import GeocoderUnavailable
from geopy.geocoders.base import Geocoder

from alliance.core.codes import RegionLevel
from alliance.core.regions import add_region
from alliance.households.geocoding import GazetteerEntry, OfflineGeocoder, geocode_pending
from alliance.households.models import Household, IntakeRecord
from alliance.households.sources import add_source, sign
from alliance.matching.models import ServiceRequest
from tests.intake_support import LUCHENG_COMMUNITY, LUCHENG_TOWN, build_city, import_json, person


@pytest.fixture(autouse=True)
async def city():
    await build_city()


async def place_of(external_id: str) -> tuple[float | None, float | None, str]:
    household = await Household.get(external_id=external_id)
    return household.lat, household.lon, str(household.location_precision)


async def waiting(external_id: str) -> bool:
    household = await Household.get(external_id=external_id)
    return (await IntakeRecord.get(household_id=household.id)).geocode_pending


def test_the_offline_geocoder_is_a_geopy_geocoder_over_known_addresses_and_the_gazetteer():
    geocoder = OfflineGeocoder(
        {"鹿城区 五马街1号": (28.03, 120.67)},
        [
            GazetteerEntry("330302", "鹿城区", 1, 28.015, 120.655),
            GazetteerEntry("330302001001", "五马社区", 3, 28.021, 120.661),
        ],
    )
    assert isinstance(geocoder, Geocoder)
    known = geocoder.geocode("鹿城区五马街１号")
    assert (known.latitude, known.longitude, known.raw["source"]) == (28.03, 120.67, "known_address")
    by_name = geocoder.geocode("鹿城区 五马社区 解放街9号")
    assert (by_name.raw["code"], by_name.latitude) == ("330302001001", 28.021)
    assert len(geocoder.geocode("鹿城区 五马社区", exactly_one=False)) == 2
    assert geocoder.geocode("杭州市西湖区") is None


async def test_an_address_already_placed_gives_its_point():
    await import_json([person(1, address="五马街8号", lat=28.031, lon=120.671)])
    await import_json([person(2, address="五马街 8号")])
    assert await place_of("WZ-000002") == (28.021, 120.661, "region")
    assert await geocode_pending() == 1
    assert await place_of("WZ-000002") == (28.031, 120.671, "address")
    assert not await waiting("WZ-000002")


async def test_a_community_named_in_the_address_places_a_household_sent_with_its_town():
    await import_json([person(1, region_code=LUCHENG_TOWN, address="五马社区解放街3号")])
    assert await place_of("WZ-000001") == (28.02, 120.66, "region")
    await geocode_pending()
    assert await place_of("WZ-000001") == (28.021, 120.661, "address")


async def test_an_address_nobody_knows_stays_at_the_region_centre_and_leaves_the_list():
    await import_json([person(1, address="无名路1号")])
    assert await geocode_pending() == 0
    assert await place_of("WZ-000001") == (28.021, 120.661, "region")
    assert not await waiting("WZ-000001")


async def test_a_result_far_from_the_region_is_not_trusted():
    class FarAway(Geocoder):
        def geocode(self, query, exactly_one=True, timeout=None):
            from geopy.location import Location
            from geopy.point import Point

            return Location(query, Point(39.9, 116.4), {})  # Beijing, not Wenzhou

    await import_json([person(1)])
    assert await geocode_pending(geocoder=FarAway()) == 0
    assert await place_of("WZ-000001") == (28.021, 120.661, "region")


async def test_an_unavailable_geocoder_leaves_the_addresses_waiting():
    class Down(Geocoder):
        def geocode(self, query, exactly_one=True, timeout=None):
            raise GeocoderUnavailable("no network")

    await import_json([person(1)])
    assert await geocode_pending(geocoder=Down()) == 0
    assert await waiting("WZ-000001")


async def test_geocoder_none_in_the_settings_clears_the_list(monkeypatch):
    monkeypatch.setenv("GEOCODER", "none")
    await import_json([person(1)])
    assert await geocode_pending() == 0
    assert not await waiting("WZ-000001")


async def test_feed_coordinates_sent_meanwhile_are_not_overwritten():
    await import_json([person(1, address="五马街8号", lat=28.031, lon=120.671)])
    await import_json([person(2, address="五马街8号")])
    await import_json([person(2, address="五马街8号", lat=28.05, lon=120.7)])
    await IntakeRecord.all().update(geocode_pending=True)
    await geocode_pending()
    assert await place_of("WZ-000002") == (28.05, 120.7, "exact")


async def test_an_api_batch_is_geocoded_by_the_worker_and_usable_before(client, arq_worker):
    await add_region("330302001003", "蝉街社区", RegionLevel.COMMUNITY, LUCHENG_TOWN, lat=28.024, lon=120.664)
    _source, secret = await add_source("sais")
    body = json.dumps(
        [person(number, address="蝉街社区5幢", region_code=LUCHENG_TOWN) for number in range(2, 5)]
    ).encode()
    timestamp = str(int(time.time()))
    response = await client.post(
        "/api/v1/intake/households",
        content=body,
        headers={
            "X-Alliance-Timestamp": timestamp,
            "X-Alliance-Signature": sign(
                secret, timestamp, body, method="POST", path="/api/v1/intake/households"
            ),
        },
    )
    assert response.status_code == 200 and response.json()["created"] == 3
    # Usable at once: placed at the town's centre, requests open, while the job waits in the queue.
    assert await place_of("WZ-000002") == (28.02, 120.66, "region")
    assert await ServiceRequest.filter(household__external_id="WZ-000002").count() == 3

    await arq_worker.main()

    # Geocoding, and matching the batch's requests twice: after intake, and after the households moved.
    assert arq_worker.jobs_complete == 3 and arq_worker.jobs_failed == 0
    for number in range(2, 5):
        # The address names a community of the town the feed gave: its centre, from the gazetteer.
        assert await place_of(f"WZ-{number:06d}") == (28.024, 120.664, "address")
        assert not await waiting(f"WZ-{number:06d}")


async def test_the_job_is_safe_to_run_twice(servers, arq_worker):
    await import_json([person(1, address="五马街8号", lat=28.031, lon=120.671)])
    result = await import_json([person(2, address="五马街8号")])
    pool = await create_pool(RedisSettings.from_dsn(servers.redis_url))
    try:
        for attempt in range(2):
            await pool.enqueue_job("geocode_intake_batch", result.batch, _job_id=f"twice-{attempt}")
    finally:
        await pool.aclose()
    await arq_worker.main()
    # Both geocoding runs, and the one re-match they queue (one job id per batch).
    assert arq_worker.jobs_complete == 3 and arq_worker.jobs_failed == 0
    assert await place_of("WZ-000002") == (28.031, 120.671, "address")


async def test_the_default_geocoder_is_offline(monkeypatch):
    monkeypatch.delenv("GEOCODER", raising=False)
    from alliance.households.geocoding import configured_service

    assert configured_service() == "offline"
    assert LUCHENG_COMMUNITY  # the offline default needs no network: the tests above ran without one
