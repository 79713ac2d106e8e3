"""Graded authorization: the ONE place that answers "may this user see / do this to this object".

Every route asks `require(principal, action)` and loads objects through `get_visible`; every list
starts from `visible(principal, action)`, so lists are filtered in the query, never after it.
Coordinators see their region's subtree (a prefix match on Region.path), community workers their
community, partner staff their own organisation, volunteers and households themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tortoise.queryset import QuerySet

from alliance.codes import PARTNER_ROLES, Role
from alliance.errors import NotFound, PermissionDenied
from alliance.models import Household, Offering, Partner, Region, User, Volunteer


class Action(StrEnum):
    VIEW_HOUSEHOLDS = "view_households"
    VIEW_PARTNER = "view_partner"
    EDIT_PARTNER_PROFILE = "edit_partner_profile"
    VIEW_OFFERINGS = "view_offerings"
    EDIT_OFFERINGS = "edit_offerings"
    REVIEW_PARTNERS = "review_partners"
    VIEW_OWN_VOLUNTEER = "view_own_volunteer"
    VIEW_OWN_HOUSEHOLD = "view_own_household"


ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action) - {Action.VIEW_OWN_VOLUNTEER, Action.VIEW_OWN_HOUSEHOLD},
    Role.COORDINATOR: frozenset({Action.VIEW_HOUSEHOLDS, Action.REVIEW_PARTNERS, Action.VIEW_PARTNER}),
    Role.COMMUNITY_WORKER: frozenset({Action.VIEW_HOUSEHOLDS}),
    Role.PARTNER_ADMIN: frozenset(
        {Action.VIEW_PARTNER, Action.EDIT_PARTNER_PROFILE, Action.VIEW_OFFERINGS, Action.EDIT_OFFERINGS}
    ),
    Role.DISPATCHER: frozenset({Action.VIEW_PARTNER, Action.VIEW_OFFERINGS}),
    Role.VOLUNTEER: frozenset({Action.VIEW_OWN_VOLUNTEER}),
    Role.HOUSEHOLD: frozenset({Action.VIEW_OWN_HOUSEHOLD}),
}


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    display_name: str
    role: Role
    region_code: str | None = None
    region_path: str | None = None
    region_name: str | None = None
    partner_id: int | None = None
    volunteer_id: int | None = None
    household_id: int | None = None

    @property
    def is_partner_staff(self) -> bool:
        return self.role in PARTNER_ROLES


async def principal_for(user: User) -> Principal:
    region = await Region.get_or_none(code=user.region_id) if user.region_id else None  # type: ignore[attr-defined]
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=Role(user.role),
        region_code=region.code if region else None,
        region_path=region.path if region else None,
        region_name=region.name if region else None,
        partner_id=user.partner_id,  # type: ignore[attr-defined]
        volunteer_id=user.volunteer_id,  # type: ignore[attr-defined]
        household_id=user.household_id,  # type: ignore[attr-defined]
    )


def allows(principal: Principal, action: Action) -> bool:
    return action in ROLE_ACTIONS.get(principal.role, frozenset())


def require(principal: Principal, action: Action) -> None:
    if not allows(principal, action):
        raise PermissionDenied(action)


def _nothing(query: QuerySet) -> QuerySet:
    return query.filter(pk__isnull=True)


def visible(principal: Principal, action: Action) -> QuerySet[Any]:
    """The rows `action` may touch for this principal, as a query to refine further."""
    require(principal, action)
    role = principal.role
    if action == Action.VIEW_HOUSEHOLDS:
        query = Household.all()
        if role == Role.ADMIN:
            return query
        if role in (Role.COORDINATOR, Role.COMMUNITY_WORKER) and principal.region_path:
            return query.filter(region__path__startswith=principal.region_path)
        return _nothing(query)
    if action == Action.VIEW_OWN_HOUSEHOLD:
        return Household.filter(id=principal.household_id or 0)
    if action == Action.VIEW_OWN_VOLUNTEER:
        return Volunteer.filter(id=principal.volunteer_id or 0)
    if action in (Action.VIEW_PARTNER, Action.EDIT_PARTNER_PROFILE, Action.REVIEW_PARTNERS):
        query = Partner.all()
        if role == Role.ADMIN:
            return query
        if role == Role.COORDINATOR and principal.region_path:
            return query.filter(region__path__startswith=principal.region_path)
        if principal.is_partner_staff:
            return query.filter(id=principal.partner_id or 0)
        return _nothing(query)
    if action in (Action.VIEW_OFFERINGS, Action.EDIT_OFFERINGS):
        query = Offering.all()
        if role == Role.ADMIN:
            return query
        if principal.is_partner_staff:
            return query.filter(partner_id=principal.partner_id or 0)
        return _nothing(query)
    raise PermissionDenied(action)


async def get_visible(principal: Principal, action: Action, pk: Any) -> Any:
    """One object the principal may act on. Out of scope reads as not found: no existence leak."""
    found = await visible(principal, action).get_or_none(pk=pk)
    if found is None:
        raise NotFound(f"{action} {pk}")
    return found
