"""Password-reset links: signed, single use, expiring, issued by a person who knows the user.

There is no email gateway here, so the issuer (an admin, or a coordinator for the users of their
region's subtree) is shown the link and passes it on (in person, by phone). The link carries the
reset's id and a random secret, signed with SECRET_KEY; the row keeps the secret's SHA-256, its
expiry and when it was used. Setting the new password uses the row once and ends every session of
the user. Issuing a new link for a user revokes the older unused ones.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from tortoise.transactions import in_transaction

from alliance.core import audit, sessions
from alliance.core.access import Action, Principal, get_visible
from alliance.core.accounts import MIN_PASSWORD_LENGTH, hash_password_async
from alliance.core.errors import AllianceError, InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.models import PasswordReset, User
from alliance.core.sessions import SessionEnd
from alliance.core.timeutil import aware, utc_now

RESET_SALT = "alliance.password-reset"


class ResetLinkUnusable(AllianceError):
    """A reset link that is forged, already used, replaced by a newer one or past its time."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class IssuedReset:
    path: str
    user: User
    expires_at: object


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=RESET_SALT)


async def issue_reset_link(
    principal: Principal, user_id: int, secret_key: str, lifetime: timedelta, *, address: str = ""
) -> IssuedReset:
    """A new single-use reset link for an account the principal may reset (404 otherwise)."""
    user = await get_visible(principal, Action.ISSUE_PASSWORD_RESETS, user_id)
    return await issue_link_for(principal, user, secret_key, lifetime, address=address)


async def issue_link_for(
    principal: Principal, user: User, secret_key: str, lifetime: timedelta, *, address: str = ""
) -> IssuedReset:
    """A single-use set-password link for an account the caller has already checked the principal
    may reach (a partner admin for its own volunteer's login)."""
    if not user.is_active:
        raise InvalidInput(
            {"user": _("The account is deactivated. Reactivate it before resetting its password.")}
        )
    return await _issue(user, principal.user_id, principal, secret_key, lifetime, address)


async def issue_first_password_link(
    user: User, secret_key: str, lifetime: timedelta, *, issued_by_id: int | None = None, address: str = ""
) -> IssuedReset:
    """The link that sets the first password of an account just made by a service (a partner's sign-up,
    a staff invitation): no one to ask for permission, since the account was created in the same request."""
    return await _issue(user, issued_by_id, None, secret_key, lifetime, address)


async def _issue(
    user: User,
    issued_by_id: int | None,
    principal: Principal | None,
    secret_key: str,
    lifetime: timedelta,
    address: str,
) -> IssuedReset:
    secret = secrets.token_urlsafe(24)
    now = utc_now()
    async with in_transaction():
        await PasswordReset.filter(user_id=user.id, used_at__isnull=True, revoked_at__isnull=True).update(
            revoked_at=now
        )
        reset = await PasswordReset.create(
            user=user,
            issued_by_id=issued_by_id,
            secret_hash=_digest(secret),
            created_at=now,
            expires_at=now + lifetime,
        )
        await audit.record(
            principal, "user.password_reset_issued", "user", user.id, {"reset": reset.id}, address
        )
    token = _serializer(secret_key).dumps({"reset": reset.id, "secret": secret})
    return IssuedReset(path=f"/reset-password/{token}", user=user, expires_at=reset.expires_at)


async def _usable_reset(secret_key: str, token: str) -> PasswordReset:
    try:
        payload = _serializer(secret_key).loads(token)
    except BadSignature as error:
        raise ResetLinkUnusable("invalid") from error
    if not isinstance(payload, dict) or not isinstance(payload.get("reset"), int):
        raise ResetLinkUnusable("invalid")
    reset = await PasswordReset.get_or_none(id=payload["reset"]).select_related("user")
    if reset is None or not hmac.compare_digest(reset.secret_hash, _digest(str(payload.get("secret", "")))):
        raise ResetLinkUnusable("invalid")
    if reset.used_at is not None:
        raise ResetLinkUnusable("used")
    if reset.revoked_at is not None:
        raise ResetLinkUnusable("replaced")
    if (aware(reset.expires_at) or utc_now()) <= utc_now() or not reset.user.is_active:
        raise ResetLinkUnusable("expired")
    return reset


async def user_for_reset(secret_key: str, token: str) -> User:
    """Whose password the link resets, if it may still be used (ResetLinkUnusable otherwise)."""
    return (await _usable_reset(secret_key, token)).user


async def reset_password(
    secret_key: str, token: str, new_password: str, repeated: str, *, address: str = ""
) -> User:
    """Use the link: set the new password, end every session of the user, and spend the link."""
    reset = await _usable_reset(secret_key, token)
    errors: dict[str, str] = {}
    if len(new_password) < MIN_PASSWORD_LENGTH:
        errors["new_password"] = _("The password needs at least 8 characters.")
    elif new_password != repeated:
        errors["repeat_password"] = _("The two new passwords differ. Type the same password twice.")
    if errors:
        raise InvalidInput(errors)
    password_hash = await hash_password_async(new_password)
    async with in_transaction():
        # The conditional update spends the link: of two simultaneous uses, one wins.
        spent = await PasswordReset.filter(id=reset.id, used_at__isnull=True, revoked_at__isnull=True).update(
            used_at=utc_now()
        )
        if not spent:
            raise ResetLinkUnusable("used")
        await User.filter(id=reset.user.id).update(password_hash=password_hash)
        ended = await sessions.end_user_sessions(reset.user.id, SessionEnd.PASSWORD_RESET)
        await audit.record(
            None,
            "user.password_reset_used",
            "user",
            reset.user.id,
            {"reset": reset.id, "sessions_ended": ended},
            address,
        )
    return reset.user
