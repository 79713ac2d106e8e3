"""Accounts: password hashing, login with a shared rate limit, user creation."""

from __future__ import annotations

import os
from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from alliance.core.codes import PARTNER_ROLES, Role
from alliance.core.errors import InvalidInput, LoginThrottled
from alliance.core.i18n import gettext as _
from alliance.core.models import LoginAttempt, Region, User
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


# Failures counted over this window; the limits are per account and per client address.
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20


# Verifying against this hash when the account does not exist keeps response times alike.
@cache
def _dummy_hash() -> str:
    return _password_hasher().hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _password_hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _password_hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def _check_throttle(username: str, address: str) -> None:
    since = utc_now() - THROTTLE_WINDOW
    by_account = await LoginAttempt.filter(username=username, succeeded=False, at__gte=since).count()
    by_address = await LoginAttempt.filter(address=address, succeeded=False, at__gte=since).count()
    if by_account >= MAX_FAILURES_PER_ACCOUNT or by_address >= MAX_FAILURES_PER_ADDRESS:
        raise LoginThrottled(int(THROTTLE_WINDOW.total_seconds()))


async def authenticate(username: str, password: str, address: str) -> User | None:
    """The user when the password is right; None when wrong; LoginThrottled when rate-limited."""
    username = username.strip()
    await _check_throttle(username, address)
    user = await User.get_or_none(username=username, is_active=True)
    ok = verify_password(user.password_hash if user else _dummy_hash(), password) and user is not None
    await LoginAttempt.create(username=username, address=address, succeeded=ok)
    if not ok:
        return None
    user.last_login_at = utc_now()
    await user.save(update_fields=["last_login_at"])
    return user


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
        password_hash=hash_password(password),
        display_name=display_name or username.strip(),
        role=role,
        region=region,
        partner_id=partner_id if role in PARTNER_ROLES else None,
        volunteer_id=volunteer_id if role == Role.VOLUNTEER else None,
        household_id=household_id if role == Role.HOUSEHOLD else None,
    )
