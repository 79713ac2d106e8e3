"""Shared by the check-in tests: a visit scheduled for the next hour at the left household (placed
at its exact address), with one volunteer who has an account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from alliance.core.access import Principal, principal_for
from alliance.core.accounts import create_user
from alliance.core.codes import LocationPrecision, Role
from alliance.core.models import User
from alliance.core.timeutil import utc_now
from alliance.households.models import Household
from alliance.partners.models import Volunteer
from alliance.visits.models import Visit
from alliance.visits.scheduling import schedule_visit
from tests.factories import PASSWORD
from tests.visits_support import VisitWorld, add_volunteer, build_visit_world


@dataclass
class DoorWorld:
    visits: VisitWorld
    visit: Visit
    household: Household
    volunteer: Volunteer
    volunteer_user: User

    async def volunteer_principal(self) -> Principal:
        return await principal_for(self.volunteer_user)

    async def coordinator(self, side: str = "left") -> Principal:
        claims = self.visits.claims
        chosen = claims.left if side == "left" else claims.right
        return await principal_for(chosen.users["coordinator"])


async def build_door_world(suffix: str = "door") -> DoorWorld:
    world = await build_visit_world()
    household = world.claims.left.household
    await Household.filter(id=household.id).update(location_precision=LocationPrecision.EXACT)
    volunteer = await add_volunteer(world.partner, f"志愿者{suffix}")
    user = await create_user(f"vol-{suffix}", PASSWORD, Role.VOLUNTEER, volunteer_id=volunteer.id)
    start = utc_now() + timedelta(minutes=30)
    outcome = await schedule_visit(
        world.dispatcher, world.request.id, start, start + timedelta(hours=1), [volunteer.id]
    )
    await household.refresh_from_db()
    return DoorWorld(world, outcome.visit, household, volunteer, user)


ALL_NONE = {
    aspect: ("none", "") for aspect in ("economy", "health", "education", "housing", "employment", "care")
}


def risks(**levels: str) -> dict[str, tuple[str, str]]:
    """Six aspects at none, except those named (with a note when medium or high)."""
    found = dict(ALL_NONE)
    for aspect, level in levels.items():
        found[aspect] = (level, f"{aspect} looks {level}" if level in ("medium", "high") else "")
    return found
