"""A partner admin runs its staff: invites them by a signed single-use link (admin or dispatcher),
sees and revokes pending invitations, changes roles, deactivates and reactivates them. A partner
always keeps at least one active admin. Who may: `Action.MANAGE_STAFF` in `alliance/core/access.py`
(the partner's own admins; the alliance admin for any partner)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from alliance.core import sessions
from alliance.core.access import Action, Principal, get_visible, require
from alliance.core.accounts import create_user
from alliance.core.audit import record
from alliance.core.codes import Role
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.core.models import PasswordReset, User
from alliance.core.password_resets import IssuedReset, issue_first_password_link
from alliance.core.sessions import SessionEnd
from alliance.core.timeutil import aware, utc_now
from alliance.partners.applications import USERNAME
from alliance.partners.models import Partner, StaffInvitation

STAFF_ROLES = (Role.PARTNER_ADMIN, Role.DISPATCHER)


async def _partner(principal: Principal, partner_id: int | None) -> Partner:
    require(principal, Action.MANAGE_STAFF)
    return await get_visible(principal, Action.MANAGE_STAFF, partner_id or principal.partner_id or 0)


@dataclass(frozen=True)
class Invited:
    invitation: StaffInvitation
    link: IssuedReset


async def invite_staff(
    principal: Principal,
    username: str,
    display_name: str,
    role: str,
    secret_key: str,
    lifetime: timedelta,
    *,
    partner_id: int | None = None,
    address: str = "",
) -> Invited:
    """Make the staff member's account and the single-use link that sets its password; the inviter
    hands the link over (there is no email gateway)."""
    partner = await _partner(principal, partner_id)
    errors: dict[str, str] = {}
    if role not in STAFF_ROLES:
        errors["role"] = _("Choose admin or dispatcher.")
    if not USERNAME.match(username.strip()):
        errors["username"] = _("3 to 64 letters, digits, dots, dashes or underscores.")
    if not display_name.strip() or len(display_name.strip()) > 64:
        errors["display_name"] = _("Enter the person's name (at most 64 characters).")
    if errors:
        raise InvalidInput(errors)
    async with in_transaction():
        user = await create_user(
            username.strip(),
            secrets.token_urlsafe(24),
            Role(role),
            display_name=display_name.strip(),
            partner_id=partner.id,
        )
        link = await issue_first_password_link(
            user, secret_key, lifetime, issued_by_id=principal.user_id, address=address
        )
        reset = await PasswordReset.filter(user_id=user.id).order_by("-id").first()
        invitation = await StaffInvitation.create(
            partner=partner,
            user=user,
            role=role,
            reset=reset,
            invited_by_id=principal.user_id,
            created_at=utc_now(),
        )
        await record(
            principal,
            "partner.staff_invited",
            "partner",
            partner.id,
            {"user": user.id, "username": user.username, "role": role},
            address,
        )
    return Invited(invitation, link)


@dataclass(frozen=True)
class PendingInvitation:
    id: int
    username: str
    display_name: str
    role: str
    created_at: datetime
    expires_at: datetime


async def pending_invitations(principal: Principal, partner_id: int | None = None) -> list[PendingInvitation]:
    partner = await _partner(principal, partner_id)
    now = utc_now()
    rows = (
        await StaffInvitation.filter(
            partner_id=partner.id, revoked_at__isnull=True, reset__used_at__isnull=True
        )
        .order_by("-created_at")
        .prefetch_related("user", "reset")
    )
    return [
        PendingInvitation(
            row.id, row.user.username, row.user.display_name, row.role, row.created_at, row.reset.expires_at
        )
        for row in rows
        if row.reset is not None
        and row.reset.revoked_at is None
        and (aware(row.reset.expires_at) or now) > now
    ]


async def revoke_invitation(
    principal: Principal, invitation_id: int, *, partner_id: int | None = None, address: str = ""
) -> StaffInvitation:
    """Spend the unused link and deactivate the account it would have opened."""
    partner = await _partner(principal, partner_id)
    invitation = await StaffInvitation.get_or_none(
        id=invitation_id, partner_id=partner.id, revoked_at__isnull=True
    )
    if invitation is None:
        raise NotFound(f"invitation {invitation_id}")
    now = utc_now()
    async with in_transaction():
        spent = await PasswordReset.filter(
            id=invitation.reset_id or 0,
            used_at__isnull=True,
            revoked_at__isnull=True,  # type: ignore[attr-defined]
        ).update(revoked_at=now)
        if not spent:
            raise InvalidInput({"invitation": _("This invitation was used already or has expired.")})
        await StaffInvitation.filter(id=invitation.id).update(revoked_at=now)
        await User.filter(id=invitation.user_id).update(is_active=False)  # type: ignore[attr-defined]
        await record(
            principal,
            "partner.staff_invitation_revoked",
            "partner",
            partner.id,
            {"user": invitation.user_id, "invitation": invitation.id},  # type: ignore[attr-defined]
            address,
        )
    return invitation


@dataclass(frozen=True)
class StaffMember:
    id: int
    username: str
    display_name: str
    role: str
    is_active: bool
    last_login_at: datetime | None


async def staff_of(principal: Principal, partner_id: int | None = None) -> list[StaffMember]:
    partner = await _partner(principal, partner_id)
    users = await User.filter(partner_id=partner.id, role__in=list(STAFF_ROLES)).order_by(
        "display_name", "id"
    )
    return [
        StaffMember(
            user.id, user.username, user.display_name, str(user.role), user.is_active, user.last_login_at
        )
        for user in users
    ]


async def find_staff(principal: Principal, user_id: int, partner_id: int | None = None) -> User:
    """One staff member of a partner the principal runs (NotFound otherwise: no existence leak)."""
    partner = await _partner(principal, partner_id)
    user = await User.filter(id=user_id, partner_id=partner.id, role__in=list(STAFF_ROLES)).first()
    if user is None:
        raise NotFound(f"staff {user_id}")
    return user


async def _staff_member(partner: Partner, user_id: int, connection) -> User:
    user = (
        await User.filter(id=user_id, partner_id=partner.id, role__in=list(STAFF_ROLES))
        .using_db(connection)
        .first()
    )
    if user is None:
        raise NotFound(f"staff {user_id}")
    return user


async def _lock_partner(partner: Partner, connection) -> None:
    # Two admins demoting each other at once: the partner's row serialises the "one admin left" check.
    if connection.capabilities.dialect == "postgres":
        await Partner.filter(id=partner.id).using_db(connection).select_for_update().first()
    else:
        await Partner.filter(id=partner.id).using_db(connection).update(name=partner.name)


async def _other_active_admins(partner: Partner, user_id: int, connection) -> int:
    return (
        await User.filter(partner_id=partner.id, role=Role.PARTNER_ADMIN, is_active=True)
        .exclude(id=user_id)
        .using_db(connection)
        .count()
    )


async def change_staff_role(
    principal: Principal, user_id: int, role: str, *, partner_id: int | None = None, address: str = ""
) -> User:
    partner = await _partner(principal, partner_id)
    async with in_transaction() as connection:
        await _lock_partner(partner, connection)
        user = await _staff_member(partner, user_id, connection)
        if role not in STAFF_ROLES:
            raise InvalidInput({"role": _("Choose admin or dispatcher.")})
        previous = str(user.role)
        demoted = previous == Role.PARTNER_ADMIN and role != Role.PARTNER_ADMIN and user.is_active
        if demoted and not await _other_active_admins(partner, user.id, connection):
            raise InvalidInput(
                {
                    "role": _(
                        "The organisation needs at least one active admin: make someone else admin first."
                    )
                }
            )
        await User.filter(id=user.id).using_db(connection).update(role=role)
        user.role = Role(role)
        await record(
            principal,
            "partner.staff_role",
            "user",
            user.id,
            {"from": previous, "to": role, "partner": partner.id},
            address,
        )
    return user


async def set_staff_active(
    principal: Principal, user_id: int, active: bool, *, partner_id: int | None = None, address: str = ""
) -> User:
    """Deactivate (every session ends at once, logins refused) or reactivate a staff member."""
    partner = await _partner(principal, partner_id)
    async with in_transaction() as connection:
        await _lock_partner(partner, connection)
        user = await _staff_member(partner, user_id, connection)
        details: dict = {"partner": partner.id}
        last_admin = not active and user.role == Role.PARTNER_ADMIN and user.is_active
        if last_admin and not await _other_active_admins(partner, user.id, connection):
            raise InvalidInput(
                {
                    "user": _(
                        "The organisation needs at least one active admin: make someone else admin first."
                    )
                }
            )
        await User.filter(id=user.id).using_db(connection).update(is_active=active)
        user.is_active = active
        if not active:
            details["sessions_ended"] = await sessions.end_user_sessions(user.id, SessionEnd.DEACTIVATED)
        await record(
            principal, "user.activated" if active else "user.deactivated", "user", user.id, details, address
        )
    return user
