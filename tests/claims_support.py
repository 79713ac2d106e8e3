"""Shared by the claim tests: two districts (tests.factories), partners with offerings, and matches
stored by the real matching engine."""

from __future__ import annotations

from dataclasses import dataclass, field

from alliance.core.access import Principal, principal_for
from alliance.core.accounts import create_user
from alliance.core.codes import PartnerStatus, Role
from alliance.core.models import User
from alliance.core.timeutil import utc_now
from alliance.households.models import Flag, Household
from alliance.matching.matching import match_all
from alliance.matching.models import ServiceRequest
from alliance.partners.models import Offering, Partner
from alliance.partners.offerings import OfferingForm, save_offering
from tests.factories import PASSWORD, Side, build_two_sides


@dataclass
class PartnerSetup:
    partner: Partner
    offering: Offering
    admin: User
    dispatcher: User

    async def principal(self, role: str = "dispatcher") -> Principal:
        return await principal_for(self.admin if role == "admin" else self.dispatcher)


@dataclass
class ClaimWorld:
    left: Side
    right: Side
    admin: User
    # The request of the left household (HOME_CARE), matched to both left partners.
    request: ServiceRequest
    home: PartnerSetup  # the left side's own partner
    rival: PartnerSetup  # a second partner serving the left district
    far: PartnerSetup  # the right side's partner: never matched to the left request
    extra: dict[str, PartnerSetup] = field(default_factory=dict)


async def add_partner(
    name: str,
    district: str,
    *,
    capacity: int = 10,
    need: str = "HOME_CARE",
    suffix: str | None = None,
    partner: Partner | None = None,
) -> PartnerSetup:
    """An approved partner with an admin, a dispatcher and one offering covering `district`."""
    suffix = suffix or name
    if partner is None:
        partner = await Partner.create(
            name=name, kind="service_provider", status=PartnerStatus.APPROVED, region_id=district
        )
        admin = await create_user(f"padmin-{suffix}", PASSWORD, Role.PARTNER_ADMIN, partner_id=partner.id)
        dispatcher = await create_user(f"dispatch-{suffix}", PASSWORD, Role.DISPATCHER, partner_id=partner.id)
    else:
        admin = await User.get(partner_id=partner.id, role=Role.PARTNER_ADMIN)
        dispatcher = await User.get(partner_id=partner.id, role=Role.DISPATCHER)
    offering = await save_offering(
        await principal_for(admin),
        OfferingForm(
            title=f"上门照护·{name}", need=need, region_codes=(district,), monthly_capacity=str(capacity)
        ),
    )
    return PartnerSetup(partner, offering, admin, dispatcher)


async def build_claim_world(capacity: int = 10) -> ClaimWorld:
    left, right, admin = await build_two_sides()
    home = await add_partner(left.partner.name, left.district, capacity=capacity, partner=left.partner)
    rival = await add_partner("对手服务社", left.district, capacity=capacity, suffix="rival")
    far = await add_partner(right.partner.name, right.district, capacity=capacity, partner=right.partner)
    await match_all(notify=False)
    request = await ServiceRequest.get(household_id=left.household.id)
    return ClaimWorld(left, right, admin, request, home, rival, far)


async def add_open_request(side: Side, need: str) -> ServiceRequest:
    """Another open request of the side's household (a need it does not have yet)."""
    return await ServiceRequest.create(
        household_id=side.household.id, need_id=need, active_key=f"{side.household.id}:{need}"
    )


async def add_household_request(side: Side, suffix: str, need: str = "HOME_CARE") -> ServiceRequest:
    """A further household in the side's community, with one open request."""
    household = await Household.create(
        external_id=f"EXT-{suffix}",
        head_name=f"李{suffix}",
        id_number="330302196002021234",
        phone="13900001111",
        address=f"某路{suffix}号",
        region_id=side.community,
        lat=side.household.lat,
        lon=side.household.lon,
        member_count=1,
    )
    await Flag.create(household=household, code="ELDERLY_ALONE", detected_at=utc_now(), source="test")
    return await ServiceRequest.create(household=household, need_id=need, active_key=f"{household.id}:{need}")
