"""Partner API tokens: created by a partner admin (or an admin on the command line), shown once,
stored only as a SHA-256 hash, revocable. A token acts as its partner's dispatcher."""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from alliance.core.access import Action, Principal, get_visible, require, visible
from alliance.core.audit import record
from alliance.core.codes import PARTNER_ROLES, PartnerStatus, Role
from alliance.core.config import partner_api_rate
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.core.models import User
from alliance.core.timeutil import utc_now
from alliance.partners.models import Partner, PartnerToken

logger = logging.getLogger(__name__)

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


# --- the per-token rate ---------------------------------------------------------------------------

RATE_KEY_PREFIX = "alliance:partner-api:bucket:"
# A token bucket in Redis, so every web process draws from the same bucket: refilled at `rate`
# tokens a millisecond up to `capacity`, one token a request. Redis's own clock, so the processes'
# clocks need not agree. Atomic: a script runs alone.
TOKEN_BUCKET_SCRIPT = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
if now > at then tokens = math.min(capacity, tokens + (now - at) * rate) end
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate) + 1000)
return {allowed, wait, math.floor(tokens)}
"""


@dataclass(frozen=True)
class Allowance:
    allowed: bool
    # Seconds until the next request would be let through (0 when allowed).
    retry_after_seconds: int
    remaining: int
    limit_per_minute: int


async def take_api_allowance(redis: Any, token_secret: str) -> Allowance:
    """Take one request from the token's bucket (ALLIANCE_API_RATE_PER_MINUTE, ALLIANCE_API_BURST),
    shared by every web process through Redis. `redis`: a redis.asyncio client. When Redis does not
    answer the request is let through (and logged): the API stays up, and what a flood could harvest
    is still bounded by the claim-churn rule in the database (alliance/matching/claims.py)."""
    rate = partner_api_rate()
    key = RATE_KEY_PREFIX + hash_token(token_secret)
    try:
        allowed, wait_ms, remaining = await redis.eval(
            TOKEN_BUCKET_SCRIPT, 1, key, rate.burst, rate.per_minute / 60_000
        )
    except Exception:
        logger.warning("partner API rate limit not checked: Redis did not answer", exc_info=True)
        return Allowance(True, 0, rate.burst, rate.per_minute)
    return Allowance(
        allowed=bool(allowed),
        retry_after_seconds=0 if allowed else max(1, math.ceil(int(wait_ms) / 1000)),
        remaining=int(remaining),
        limit_per_minute=rate.per_minute,
    )
