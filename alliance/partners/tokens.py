"""Partner API tokens: created by a partner admin (or an admin on the command line), shown once,
stored only as a SHA-256 hash, revocable. A token acts as its partner's dispatcher."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from alliance.core.access import Action, Principal, get_visible, require, visible
from alliance.core.audit import record
from alliance.core.codes import PARTNER_ROLES, PartnerStatus, Role
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.core.models import User
from alliance.core.timeutil import utc_now
from alliance.partners.models import Partner, PartnerToken

TOKEN_PREFIX = "alli_"
# last_used_at is a hint for the admin, not an audit trail: write it at most once a minute per token.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: PartnerToken
    secret: str  # shown to its creator once, never stored


async def _create(partner: Partner, name: str, created_by_id: int | None) -> NewToken:
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = await PartnerToken.create(
        partner_id=partner.id,
        name=name,
        token_hash=hash_token(secret),
        prefix=secret[:12],
        created_by_id=created_by_id,
    )
    return NewToken(token, secret)


def _token_name(name: str) -> str:
    name = " ".join(name.split())
    if len(name) > 64:
        raise InvalidInput({"name": _("At most 64 characters.")})
    return name


async def create_token(principal: Principal, name: str) -> NewToken:
    """A partner admin creates a token for their own organisation."""
    require(principal, Action.MANAGE_API_TOKENS)
    if principal.partner_id is None:
        raise InvalidInput({"partner": _("Only partner staff create API tokens.")})
    partner = await Partner.get(id=principal.partner_id)
    created = await _create(partner, _token_name(name), principal.user_id)
    await record(
        principal, "api_token.create", "partner_token", created.token.id, {"prefix": created.token.prefix}
    )
    return created


async def revoke_token(principal: Principal, token_id: int) -> PartnerToken:
    token = await get_visible(principal, Action.MANAGE_API_TOKENS, token_id)
    if token.revoked_at is None:
        token.revoked_at = utc_now()
        await token.save(update_fields=["revoked_at"])
        await record(principal, "api_token.revoke", "partner_token", token.id, {"prefix": token.prefix})
    return token


async def tokens_of(principal: Principal) -> list[PartnerToken]:
    return await visible(principal, Action.MANAGE_API_TOKENS).order_by("revoked_at", "-created_at")


async def find_partner(reference: str) -> Partner:
    """A partner by id or exact name (the command line's PARTNER argument)."""
    partner = await Partner.get_or_none(name=reference)
    if partner is None and reference.isdigit():
        partner = await Partner.get_or_none(id=int(reference))
    if partner is None:
        raise NotFound(reference)
    return partner


async def create_token_for(reference: str, name: str = "cli") -> NewToken:
    """`alliance partner token PARTNER`: an operator's token, created without a signed-in user."""
    partner = await find_partner(reference)
    created = await _create(partner, _token_name(name), None)
    await record(
        None,
        "api_token.create",
        "partner_token",
        created.token.id,
        {"prefix": created.token.prefix, "via": "cli"},
    )
    return created


async def authenticate(secret: str) -> Principal | None:
    """The principal a bearer token acts as, or None when the token is unknown or revoked. The
    principal carries its partner's status and whether the token's creator is still active, so
    `access.require` refuses a token of a pending, suspended or closed partner, or one made by a
    deactivated person, with the reason (`access.lifecycle_refusal`)."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = await PartnerToken.get_or_none(token_hash=hash_token(secret), revoked_at__isnull=True)
    if token is None:
        return None
    partner = await Partner.get(id=token.partner_id)  # type: ignore[attr-defined]
    # A token made by a person lives no longer than that person's place at the partner: deactivated,
    # or moved to another organisation or role, and the token stops. A command-line token has no creator.
    creator_active = True
    if token.created_by_id is not None:  # type: ignore[attr-defined]
        creator_active = await User.exists(
            id=token.created_by_id,  # type: ignore[attr-defined]
            is_active=True,
            partner_id=partner.id,
            role__in=list(PARTNER_ROLES),
        )
    if partner.status == PartnerStatus.APPROVED and creator_active:
        now = utc_now()
        if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
            await PartnerToken.filter(id=token.id).update(last_used_at=now)
    # The token acts as its partner's dispatcher. The audit trail names the token (token_id); the
    # request history still names its creator (None for a command-line token).
    return Principal(
        user_id=token.created_by_id,  # type: ignore[attr-defined,arg-type]
        username=f"api:{token.prefix}",
        display_name=token.name or token.prefix,
        role=Role.DISPATCHER,
        partner_id=partner.id,
        active=creator_active,
        partner_status=PartnerStatus(partner.status),
        token_id=token.id,
    )
