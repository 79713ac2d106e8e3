"""Test data built through the services users call (regions, accounts, offerings)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from alliance.core.accounts import create_user
from alliance.core.codes import PartnerStatus, RegionLevel, Role
from alliance.core.models import User
from alliance.core.regions import add_region
from alliance.core.timeutil import utc_now
from alliance.households.models import Flag, Household
from alliance.matching.models import ServiceRequest
from alliance.partners.models import Partner, Volunteer

PASSWORD = "correct-horse-1"


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/login")
    token = csrf_from(page.text)
    return await client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token, "next": "/"}
    )


def csrf_from(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "page has no CSRF token"
    return found.group(1)


async def csrf_token(client: httpx.AsyncClient) -> str:
    return csrf_from((await client.get("/login")).text)


@dataclass
class Side:
    """One district with everything in it: used twice to prove nobody sees across."""

    district: str
    community: str
    household: Household
    partner: Partner
    volunteer: Volunteer
    users: dict[str, User]


async def build_side(district: str, district_name: str, suffix: str, lat: float, lon: float) -> Side:
    await add_region(district, district_name, RegionLevel.DISTRICT, "330300", lat=lat, lon=lon)
    town = district + "001"
    await add_region(town, district_name + "一街道", RegionLevel.TOWN, district)
    community = town + "001"
    await add_region(community, district_name + "一社区", RegionLevel.COMMUNITY, town, lat=lat, lon=lon)
    household = await Household.create(
        external_id=f"EXT-{suffix}",
        head_name=f"张{suffix}",
        id_number="330302195001011234",
        phone="13812345678",
        address=f"{district_name}某路1号",
        region_id=community,
        lat=lat,
        lon=lon,
        member_count=2,
    )
    await Flag.create(household=household, code="ELDERLY_ALONE", detected_at=utc_now(), source="test")
    await ServiceRequest.create(
        household=household, need_id="HOME_CARE", active_key=f"{household.id}:HOME_CARE"
    )
    partner = await Partner.create(
        name=f"伙伴{suffix}", kind="service_provider", status=PartnerStatus.APPROVED, region_id=district
    )
    volunteer = await Volunteer.create(name=f"志愿者{suffix}", region_id=community, skills=["CARE"])
    await volunteer.partners.add(partner)
    users = {
        "coordinator": await create_user(f"coord{suffix}", PASSWORD, Role.COORDINATOR, region_code=district),
        "community_worker": await create_user(
            f"worker{suffix}", PASSWORD, Role.COMMUNITY_WORKER, region_code=community
        ),
        "partner_admin": await create_user(
            f"padmin{suffix}", PASSWORD, Role.PARTNER_ADMIN, partner_id=partner.id
        ),
        "dispatcher": await create_user(
            f"dispatch{suffix}", PASSWORD, Role.DISPATCHER, partner_id=partner.id
        ),
        "volunteer": await create_user(f"vol{suffix}", PASSWORD, Role.VOLUNTEER, volunteer_id=volunteer.id),
        "household": await create_user(f"house{suffix}", PASSWORD, Role.HOUSEHOLD, household_id=household.id),
    }
    return Side(district, community, household, partner, volunteer, users)


async def build_two_sides() -> tuple[Side, Side, User]:
    await add_region("330300", "温州市", RegionLevel.CITY, lat=27.994, lon=120.699)
    left = await build_side("330302", "鹿城区", "A", 28.015, 120.655)
    right = await build_side("330328", "文成县", "B", 27.787, 120.091)
    admin = await create_user("admin", PASSWORD, Role.ADMIN)
    return left, right, admin


def session_csrf(client: httpx.AsyncClient) -> str:
    """The CSRF token kept in the signed session cookie (the payload is readable, only signed)."""
    import base64
    import json

    cookie = client.cookies.get("alliance_session")
    assert cookie, "no session cookie"
    payload = cookie.split(".")[0]
    return json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))["csrf"]


async def download_export(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """Ask for an export at its page's URL, write it in this process (the service the worker's job
    calls; tests/test_exports.py runs the real worker) and download it. A refusal comes back as is."""
    from alliance.core import exports

    asked = await client.get(url)
    if asked.status_code != 303 or not asked.headers["location"].startswith("/exports/"):
        return asked
    location = asked.headers["location"]
    await exports.run_export(int(location.rsplit("/", 1)[1]))
    return await client.get(f"{location}/download")
