"""Accounts: password hashing (in worker threads), login within the limits, creating, deactivating
and re-passwording users, ending their sessions."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from alliance.core import audit, login_limits, sessions
from alliance.core.access import Action, Principal, allows, get_visible, visible
from alliance.core.codes import PARTNER_ROLES, Role
from alliance.core.errors import InvalidInput, LoginThrottled, NotFound
from alliance.core.i18n import gettext as _
from alliance.core.models import LoginAttempt, Region, User
from alliance.core.sessions import SessionEnd
from alliance.core.timeutil import utc_now
from alliance.partners.models import Partner


@cache
def _password_hasher() -> PasswordHasher:
    """argon2id at argon2-cffi's recommended cost (about 0.2 s of CPU a hash). The test suite sets
    ALLIANCE_PASSWORD_HASH_COST=low: the same algorithm at its lowest cost, because it creates
    thousands of accounts. Hashes record their own cost, so either setting verifies both kinds."""
    if os.environ.get("ALLIANCE_PASSWORD_HASH_COST") == "low":
        return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    return PasswordHasher()


# A few argon2 hashes at a time, each in a worker thread: a hash takes about 64 MiB and 0.2 s of CPU,
# and on the event loop it would stall every other request of the process meanwhile.
_HASHING = anyio.CapacityLimiter(max(2, os.cpu_count() or 2))
MIN_PASSWORD_LENGTH = 8


# Verifying against this hash when the account does not exist keeps response times alike.
@cache
def _dummy_hash() -> str:
    return _password_hasher().hash("not-a-real-password")


def hash_password(password: str) -> str:
    """Synchronous: for scripts and the demo generator. Request paths use `hash_password_async`."""
    return _password_hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _password_hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def hash_password_async(password: str) -> str:
    return await anyio.to_thread.run_sync(hash_password, password, limiter=_HASHING)


async def verify_password_async(password_hash: str, password: str) -> bool:
    return await anyio.to_thread.run_sync(verify_password, password_hash, password, limiter=_HASHING)


async def authenticate(username: str, password: str, address: str) -> User | None:
    """The user when the password is right; None when wrong; LoginThrottled when a limit holds
    (alliance/core/login_limits.py: per account and address, and per address)."""
    username = username.strip()[:64]
    address = address[:64]
    admission = await login_limits.admit_attempt(username, address)
    if not admission.admitted:
        await LoginAttempt.create(username=username, address=address, succeeded=False, throttled=True)
        raise LoginThrottled(admission.retry_after_seconds)
    user = await User.get_or_none(username=username, is_active=True)
    matches = await verify_password_async(user.password_hash if user else _dummy_hash(), password)
    ok = matches and user is not None
    await LoginAttempt.create(username=username, address=address, succeeded=ok)
    if not ok:
        return None
    await login_limits.attempt_succeeded(username, address)
    user.last_login_at = utc_now()
    await user.save(update_fields=["last_login_at"])
    return user


def _check_new_password(new_password: str, repeated: str | None) -> None:
    errors: dict[str, str] = {}
    if len(new_password) < MIN_PASSWORD_LENGTH:
        errors["new_password"] = _("The password needs at least 8 characters.")
    elif repeated is not None and repeated != new_password:
        errors["repeat_password"] = _("The two new passwords differ. Type the same password twice.")
    if errors:
        raise InvalidInput(errors)


async def change_own_password(
    principal: Principal,
    current_password: str,
    new_password: str,
    repeated: str,
    *,
    keep_session_id: int | None,
    address: str = "",
) -> int:
    """The signed-in user changes their password (the current one is required); every other session
    of theirs ends. Returns how many sessions ended."""
    user = await User.get(id=principal.user_id)
    if not await verify_password_async(user.password_hash, current_password):
        raise InvalidInput({"current_password": _("The current password is not right.")})
    _check_new_password(new_password, repeated)
    async with in_transaction():
        user.password_hash = await hash_password_async(new_password)
        await user.save(update_fields=["password_hash"])
        ended = await sessions.end_user_sessions(
            user.id, SessionEnd.PASSWORD_CHANGED, except_session_id=keep_session_id
        )
        await audit.record(
            principal, "user.password_changed", "user", user.id, {"sessions_ended": ended}, address
        )
    return ended


async def set_password(username: str, new_password: str) -> User:
    """Set a password from the command line (`alliance user set-password`); ends every session."""
    user = await User.get_or_none(username=username)
    if user is None:
        raise NotFound(username)
    _check_new_password(new_password, None)
    async with in_transaction():
        user.password_hash = await hash_password_async(new_password)
        await user.save(update_fields=["password_hash"])
        ended = await sessions.end_user_sessions(user.id, SessionEnd.PASSWORD_CHANGED)
        await audit.record(
            None, "user.password_set", "user", user.id, {"via": "command line", "sessions_ended": ended}
        )
    return user


async def _set_active(actor: Principal | None, user: User, active: bool, details: dict) -> User:
    async with in_transaction():
        await User.filter(id=user.id).update(is_active=active)
        user.is_active = active
        if not active:
            details["sessions_ended"] = await sessions.end_user_sessions(user.id, SessionEnd.DEACTIVATED)
        await audit.record(
            actor, "user.activated" if active else "user.deactivated", "user", user.id, details
        )
    return user


async def set_user_active(principal: Principal, user_id: int, active: bool, *, address: str = "") -> User:
    """An admin deactivates (every session ends at once, logins are refused) or reactivates an account."""
    user = await get_visible(principal, Action.MANAGE_ACCOUNTS, user_id)
    if user.id == principal.user_id and not active:
        raise InvalidInput({"user": _("You cannot deactivate your own account.")})
    return await _set_active(principal, user, active, {"address": address} if address else {})


async def set_user_active_by_name(username: str, active: bool) -> User:
    """`alliance user deactivate|activate USERNAME`."""
    user = await User.get_or_none(username=username)
    if user is None:
        raise NotFound(username)
    return await _set_active(None, user, active, {"via": "command line"})


async def sign_out_everywhere(principal: Principal, user_id: int, *, address: str = "") -> int:
    """An admin ends every session of an account (a lost phone, a shared computer)."""
    user = await get_visible(principal, Action.MANAGE_ACCOUNTS, user_id)
    ended = await sessions.end_user_sessions(user.id, SessionEnd.SIGNED_OUT_EVERYWHERE)
    await audit.record(
        principal, "user.signed_out_everywhere", "user", user.id, {"sessions_ended": ended}, address
    )
    return ended


async def sign_out_other_sessions(principal: Principal, keep_session_id: int | None) -> int:
    """The user ends their own sessions on other devices."""
    ended = await sessions.end_user_sessions(
        principal.user_id, SessionEnd.SIGNED_OUT_ELSEWHERE, except_session_id=keep_session_id
    )
    await audit.record(
        principal, "user.signed_out_elsewhere", "user", principal.user_id, {"sessions_ended": ended}
    )
    return ended


async def create_user(
    username: str,
    password: str,
    role: Role,
    *,
    display_name: str = "",
    region_code: str | None = None,
    partner_id: int | None = None,
    volunteer_id: int | None = None,
    household_id: int | None = None,
) -> User:
    """Create an account whose binding matches its role (a coordinator without a region is refused)."""
    errors: dict[str, str] = {}
    if not username.strip():
        errors["username"] = _("Enter a user name.")
    elif await User.exists(username=username.strip()):
        errors["username"] = _("The user name {username} is already taken.").format(username=username)
    if len(password) < 8:
        errors["password"] = _("The password needs at least 8 characters.")
    region = None
    if role in (Role.COORDINATOR, Role.COMMUNITY_WORKER):
        region = await Region.get_or_none(code=region_code or "")
        if region is None:
            errors["region"] = _("Unknown region code: {code}").format(code=region_code or "")
        elif role == Role.COMMUNITY_WORKER and region.level != "community":
            errors["region"] = _("A community worker must be bound to a community, not a larger region.")
    if role in PARTNER_ROLES and not await Partner.exists(id=partner_id or 0):
        errors["partner"] = _("Unknown partner organisation: {id}").format(id=partner_id)
    if role == Role.VOLUNTEER and volunteer_id is None:
        errors["volunteer"] = _("A volunteer account must be linked to a volunteer.")
    if role == Role.HOUSEHOLD and household_id is None:
        errors["household"] = _("A household account must be linked to a household.")
    if errors:
        raise InvalidInput(errors)
    return await User.create(
        username=username.strip(),
        password_hash=await hash_password_async(password),
        display_name=display_name or username.strip(),
        role=role,
        region=region,
        partner_id=partner_id if role in PARTNER_ROLES else None,
        volunteer_id=volunteer_id if role == Role.VOLUNTEER else None,
        household_id=household_id if role == Role.HOUSEHOLD else None,
    )


@dataclass(frozen=True)
class AccountRow:
    id: int
    username: str
    display_name: str
    role: str
    partner_name: str
    region_name: str
    is_active: bool
    last_login_at: object
    live_sessions: int


ACCOUNTS_PAGE_SIZE = 100


async def accounts_for(
    principal: Principal, search: str = "", role: str = "", active: str = ""
) -> list[AccountRow]:
    """The accounts an admin manages (all) or a coordinator may reset (their subtree), filtered,
    at most a page of them; each with the number of its live sessions."""
    action = (
        Action.MANAGE_ACCOUNTS if allows(principal, Action.MANAGE_ACCOUNTS) else Action.ISSUE_PASSWORD_RESETS
    )
    query = visible(principal, action)
    if search := search.strip():
        query = query.filter(Q(username__icontains=search) | Q(display_name__icontains=search))
    if role in {value.value for value in Role}:
        query = query.filter(role=role)
    if active in ("yes", "no"):
        query = query.filter(is_active=active == "yes")
    users = (
        await query.order_by("username")
        .limit(ACCOUNTS_PAGE_SIZE)
        .prefetch_related("region", "partner", "partner__region", "volunteer__region", "household__region")
    )
    counts = await sessions.live_session_counts([user.id for user in users])
    rows = []
    for user in users:
        region = user.region or (user.partner.region if user.partner else None)
        region = region or (user.volunteer.region if user.volunteer else None)
        region = region or (user.household.region if user.household else None)
        rows.append(
            AccountRow(
                id=user.id,
                username=user.username,
                display_name=user.display_name,
                role=user.role,
                partner_name=user.partner.name if user.partner else "",
                region_name=region.name if region else "",
                is_active=user.is_active,
                last_login_at=user.last_login_at,
                live_sessions=counts.get(user.id, 0),
            )
        )
    return rows
