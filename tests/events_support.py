"""Shared by the event tests: the two districts of tests.factories, a training provider on the left
with a venue offering (vocational training, 20 km around the venue, projects), households with open
training requests placed around the venue, and an event published through the service."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from alliance.core.access import Principal, principal_for
from alliance.core.accounts import create_user
from alliance.core.codes import PartnerStatus, RegionLevel, Role
from alliance.core.models import Region
from alliance.core.regions import add_region
from alliance.core.timeutil import LOCAL_TZ, utc_now
from alliance.events.forms import EventForm
from alliance.events.models import Event, EventSession
from alliance.events.publishing import publish_event
from alliance.events.registrations import HouseholdAsked
from alliance.households.models import Flag, Household
from alliance.matching.models import ServiceRequest
from alliance.partners.models import Offering, Partner, Project
from alliance.partners.offerings import OfferingForm, save_offering
from tests.factories import PASSWORD, Side, build_two_sides

# What a partner records when a household phoned to be registered.
ASKED_BY_PHONE = HouseholdAsked(via="phone", note="the household phoned our hotline")

VENUE = (28.015, 120.655)  # the left household's community
NEAR = (28.020, 120.660)  # ~0.7 km
MIDDLE = (28.060, 120.700)  # ~6.6 km
FAR = (28.400, 121.100)  # ~60 km, outside the 20 km radius


@dataclass
class EventWorld:
    left: Side
    right: Side
    partner: Partner
    offering: Offering
    project: Project
    users: dict[str, object] = field(default_factory=dict)

    async def principal(self, role: str = "partner_admin") -> Principal:
        return await principal_for(self.users[role])  # type: ignore[arg-type]

    async def worker(self) -> Principal:
        return await principal_for(self.left.users["community_worker"])


async def build_event_world(
    *, need: str = "VOCATIONAL_TRAINING", eligibility: tuple[str, ...] = ()
) -> EventWorld:
    left, right, _admin = await build_two_sides()
    partner = await Partner.create(
        name="温州技能培训中心",
        kind="training_provider",
        status=PartnerStatus.APPROVED,
        region_id=left.district,
    )
    users = {
        "partner_admin": await create_user("trainadmin", PASSWORD, Role.PARTNER_ADMIN, partner_id=partner.id),
        "dispatcher": await create_user("traindispatch", PASSWORD, Role.DISPATCHER, partner_id=partner.id),
    }
    project = await Project.create(year=utc_now().year, code="TRAIN", name="技能培训", name_en="Training")
    offering = await save_offering(
        await principal_for(users["partner_admin"]),  # type: ignore[arg-type]
        OfferingForm(
            title="洗车技能培训",
            need=need,
            project_id=str(project.id),
            eligibility_flags=eligibility,
            base_lat=str(VENUE[0]),
            base_lon=str(VENUE[1]),
            radius_km="20",
            monthly_capacity="100",
            delivery_mode="venue_event",
        ),
    )
    return EventWorld(left, right, partner, offering, project, users)


async def add_trainee(
    side: Side,
    name: str,
    *,
    at: tuple[float, float] | None = NEAR,
    flags: tuple[str, ...] = ("UNEMPLOYED",),
    accessibility: tuple[str, ...] = (),
    need: str = "VOCATIONAL_TRAINING",
    priority: int = 50,
    phone: str | None = "13900000000",
    contact: str = "SMS",
    region_id: str | None = None,
) -> Household:
    household = await Household.create(
        external_id=f"EXT-{name}",
        head_name=name,
        phone=phone,
        address=f"{name}路1号",
        region_id=region_id or side.community,
        lat=at[0] if at else None,
        lon=at[1] if at else None,
        accessibility=list(accessibility),
        contact_preference=contact,
    )
    for code in flags:
        await Flag.create(household=household, code=code, detected_at=utc_now(), source="test")
    await ServiceRequest.create(
        household=household, need_id=need, priority=priority, active_key=f"{household.id}:{need}"
    )
    return household


async def community_at(side: Side, point: tuple[float, float]) -> str:
    """A community of the side's town centred on `point` (one per point): matching measures from the
    community's centre, never the home, so a test about distances places households in these."""
    town = side.community[:-3]
    found = await Region.get_or_none(parent_id=town, lat=point[0], lon=point[1])
    if found is not None:
        return found.code
    code = f"{town}{100 + await Region.filter(parent_id=town).count():03d}"
    await add_region(code, f"社区{code[-3:]}", RegionLevel.COMMUNITY, town, lat=point[0], lon=point[1])
    return code


def session_line(days: int, hour: int, hours: int = 2) -> str:
    start = (
        (utc_now() + timedelta(days=days))
        .astimezone(LOCAL_TZ)
        .replace(hour=hour, minute=0, second=0, microsecond=0)
    )
    end = start + timedelta(hours=hours)
    return f"{start:%Y-%m-%d %H:%M}-{end:%H:%M}"


def training_form(world: EventWorld, **overrides: object) -> EventForm:
    values: dict[str, object] = {
        "offering_id": str(world.offering.id),
        "kind": "training",
        "title": "洗车技能培训班",
        "venue": "鹿城区职业技能中心",
        "venue_lat": str(VENUE[0]),
        "venue_lon": str(VENUE[1]),
        "seats": "3",
        "waitlist_margin": "2",
        "venue_accessibility": ("step_free",),
        "sessions": "\n".join([session_line(3, 9), session_line(4, 9), session_line(5, 9)]),
    }
    values.update(overrides)
    return EventForm(**values)  # type: ignore[arg-type]


async def published(world: EventWorld, **overrides: object) -> Event:
    outcome = await publish_event(await world.principal(), training_form(world, **overrides))
    return outcome.event


async def start_sessions_now(event: Event) -> list[EventSession]:
    """Move the sessions to the last hour, in order, so attendance is open for each of them."""
    sessions = await EventSession.filter(event_id=event.id).order_by("starts_at")
    now = utc_now()
    for index, session in enumerate(sessions):
        start = now - timedelta(minutes=10 + 30 * (len(sessions) - 1 - index))
        await EventSession.filter(id=session.id).update(starts_at=start, ends_at=start + timedelta(hours=2))
    return await EventSession.filter(event_id=event.id).order_by("starts_at")


async def walk_event_for(side: Side) -> tuple[Event, EventSession, object]:
    """For the permission walk: a training event of the side's partner at the side's household,
    which its community worker registered (an open training request is added to that household)."""
    from alliance.events.registrations import register_on_behalf

    household = side.household
    await ServiceRequest.create(
        household=household, need_id="VOCATIONAL_TRAINING", active_key=f"{household.id}:VOCATIONAL_TRAINING"
    )
    admin = await principal_for(side.users["partner_admin"])
    offering = await save_offering(
        admin,
        OfferingForm(
            title=f"培训场地{side.partner.name}",
            need="VOCATIONAL_TRAINING",
            base_lat=str(household.lat),
            base_lon=str(household.lon),
            radius_km="20",
            monthly_capacity="10",
            delivery_mode="venue_event",
        ),
    )
    event = (
        await publish_event(
            admin,
            EventForm(
                offering_id=str(offering.id),
                title=f"培训班{side.partner.name}",
                venue=f"{side.partner.name}培训室",
                venue_lat=str(household.lat),
                venue_lon=str(household.lon),
                seats="5",
                sessions=session_line(3, 9),
            ),
        )
    ).event
    worker = await principal_for(side.users["community_worker"])
    registration = (await register_on_behalf(worker, household.id, event.id)).registration
    return event, await EventSession.get(event_id=event.id), registration
