"""Shared by the intake tests: a small region tree, valid ID numbers and records in the intake format."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from alliance.core.codes import RegionLevel
from alliance.core.regions import add_region
from alliance.households.intake import ImportResult, import_households
from alliance.households.intake_format import FIELDS, RecordSet, id_check_character, records_from_json
from alliance.households.models import Household, IntakeConflict, IntakeSource
from alliance.households.sources import add_source

CITY = "330300"
LUCHENG = "330302"
LUCHENG_TOWN = "330302001"
LUCHENG_COMMUNITY = "330302001001"
# A community without its own coordinates: households there sit at the town's point.
LUCHENG_COMMUNITY_NO_POINT = "330302001002"
WENCHENG = "330328"
WENCHENG_TOWN = "330328001"
WENCHENG_COMMUNITY = "330328001001"


async def build_city() -> None:
    await add_region(CITY, "温州市", RegionLevel.CITY, lat=27.994, lon=120.699)
    await add_region(LUCHENG, "鹿城区", RegionLevel.DISTRICT, CITY, lat=28.015, lon=120.655)
    await add_region(LUCHENG_TOWN, "五马街道", RegionLevel.TOWN, LUCHENG, lat=28.02, lon=120.66)
    await add_region(
        LUCHENG_COMMUNITY, "五马社区", RegionLevel.COMMUNITY, LUCHENG_TOWN, lat=28.021, lon=120.661
    )
    await add_region(LUCHENG_COMMUNITY_NO_POINT, "墨池社区", RegionLevel.COMMUNITY, LUCHENG_TOWN)
    await add_region(WENCHENG, "文成县", RegionLevel.DISTRICT, CITY, lat=27.787, lon=120.091)
    await add_region(WENCHENG_TOWN, "大峃镇", RegionLevel.TOWN, WENCHENG, lat=27.79, lon=120.09)
    await add_region(
        WENCHENG_COMMUNITY, "大峃社区", RegionLevel.COMMUNITY, WENCHENG_TOWN, lat=27.791, lon=120.092
    )


def id_number(first17: str) -> str:
    """A valid 18-character ID number (GB 11643 check digit) from 17 digits."""
    assert len(first17) == 17 and first17.isdigit()
    return first17 + id_check_character(first17)


def born_on(index: int) -> date:
    # A real birth date per thousand people, so every index has its own valid ID number.
    return date(1950, 1, 1) + timedelta(days=index // 1000)


def person(index: int, **overrides: Any) -> dict[str, Any]:
    """One household record as the assistance system sends it (JSON shape)."""
    record: dict[str, Any] = {
        "external_id": f"WZ-{index:06d}",
        "head_name": f"王{index}",
        "id_number": id_number(f"330302{born_on(index):%Y%m%d}{index % 1000:03d}"),
        "phone": f"138{index:08d}",
        "address": f"五马街{index}号",
        "region_code": LUCHENG_COMMUNITY,
        "lat": None,
        "lon": None,
        "member_count": 2,
        "flags": ["ELDERLY_ALONE"],
        "needs": [],
        "accessibility": [],
        "contact_preference": "SMS",
    }
    record.update(overrides)
    return record


def csv_text(records: list[dict[str, Any]], columns: tuple[str, ...] = FIELDS) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        cells = []
        for name in columns:
            value = record.get(name)
            cells.append(";".join(value) if isinstance(value, list) else "" if value is None else str(value))
        writer.writerow(cells)
    return out.getvalue()


def write_csv(path: Path, records: list[dict[str, Any]], encoding: str = "utf-8") -> Path:
    path.write_bytes(csv_text(records).encode(encoding))
    return path


def json_records(records: list[dict[str, Any]]) -> RecordSet:
    return records_from_json(json.dumps(records, ensure_ascii=False).encode())


async def import_json(records: list[dict[str, Any]], **options: Any) -> ImportResult:
    return await import_households(json_records(records), **options)


async def intake_batch_for(community: str) -> int:
    """An intake batch whose two rows in `community` were refused (so no household is added); returns its id."""
    suffix = int(community[-6:])
    result = await import_json(
        [
            person(suffix, external_id=f"BAD-PHONE-{community}", region_code=community, phone="12"),
            person(suffix + 1, external_id=f"BAD-ID-{community}", region_code=community, id_number="1"),
        ]
    )
    return result.batch


async def intake_conflict_for(household: Household, source_name: str | None = None) -> IntakeConflict:
    """A pending conflict: a registered source sends a changed row for `household`, which it did not
    send first (so the row is held for a coordinator, not applied)."""
    source = await IntakeSource.get_or_none(name=source_name or f"other-{household.external_id}")
    if source is None:
        source, _secret = await add_source(source_name or f"other-{household.external_id}")
    region_code = household.region_id  # type: ignore[attr-defined]
    result = await import_json(
        [
            person(
                household.id, external_id=household.external_id, region_code=region_code, head_name="改名者"
            )
        ],
        source=source,
    )
    assert [external_id for _row, external_id in result.conflicts] == [household.external_id], result
    return await IntakeConflict.get(household_id=household.id, batch_id=result.batch)
