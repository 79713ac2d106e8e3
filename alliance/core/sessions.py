"""Sessions that end: each signed-in browser is a `UserSession` row, looked up on every request.

The signed cookie only carries the session's random key; the row decides. Logout, a password change
or reset, deactivation and an admin's "sign out everywhere" end the rows, which every web process
sees on the next request. A session also ends after `idle` without requests and `absolute` after
login. The last-seen time is written at most once a minute (or a quarter of the idle limit), so a
busy page does not write to the database on every request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from alliance.core.models import User, UserSession
from alliance.core.timeutil import aware, utc_now

TOUCH_INTERVAL = timedelta(minutes=1)


class SessionEnd(StrEnum):
    LOGOUT = "logout"
    IDLE = "idle"
    EXPIRED = "expired"
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_RESET = "password_reset"
    DEACTIVATED = "deactivated"
    SIGNED_OUT_EVERYWHERE = "signed_out_everywhere"
    SIGNED_OUT_ELSEWHERE = "signed_out_elsewhere"


@dataclass(frozen=True)
class SessionLimits:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def from_seconds(cls, idle_seconds: int, absolute_seconds: int) -> SessionLimits:
        return cls(timedelta(seconds=idle_seconds), timedelta(seconds=absolute_seconds))

    @property
    def touch_interval(self) -> timedelta:
        # Never so coarse that a session in use could look idle.
        return min(TOUCH_INTERVAL, self.idle / 4)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def agent_summary(user_agent: str) -> str:
    """Enough of the User-Agent to recognise a browser in the list of one's sessions."""
    return " ".join(user_agent.split())[:128]


async def open_session(user: User, limits: SessionLimits, *, address: str, user_agent: str) -> str:
    """A new session for `user`; returns the key the cookie carries (only its hash is stored)."""
    key = secrets.token_urlsafe(32)
    now = utc_now()
    await UserSession.create(
        key_hash=_digest(key),
        user=user,
        created_at=now,
        last_seen_at=now,
        expires_at=now + limits.absolute,
        address=address[:64],
        user_agent=agent_summary(user_agent),
    )
    return key


async def live_session(key: str, limits: SessionLimits) -> UserSession | None:
    """The session (its user loaded) when the key is one of a live session of an active user; a
    session found past its idle or absolute limit is ended here."""
    if not key:
        return None
    session = await UserSession.get_or_none(key_hash=_digest(key)).select_related("user")
    if session is None or session.ended_at is not None:
        return None
    now = utc_now()
    created, last_seen = aware(session.created_at), aware(session.last_seen_at)
    assert created is not None and last_seen is not None
    reason = None
    if not session.user.is_active:
        reason = SessionEnd.DEACTIVATED
    elif now >= min(aware(session.expires_at) or now, created + limits.absolute):
        reason = SessionEnd.EXPIRED
    elif now - last_seen >= limits.idle:
        reason = SessionEnd.IDLE
    if reason:
        await end_session(session.id, reason)
        return None
    if now - last_seen >= limits.touch_interval:
        await UserSession.filter(id=session.id, ended_at__isnull=True).update(last_seen_at=now)
    return session


async def end_session(session_id: int, reason: SessionEnd) -> bool:
    """End one session (a no-op when it has ended already); True when it was live."""
    ended = await UserSession.filter(id=session_id, ended_at__isnull=True).update(
        ended_at=utc_now(), end_reason=reason
    )
    return bool(ended)


async def end_user_sessions(user_id: int, reason: SessionEnd, *, except_session_id: int | None = None) -> int:
    """End every live session of the user (but `except_session_id`); the number ended."""
    query = UserSession.filter(user_id=user_id, ended_at__isnull=True)
    if except_session_id is not None:
        query = query.exclude(id=except_session_id)
    return await query.update(ended_at=utc_now(), end_reason=reason)


async def live_sessions_of(user_id: int) -> list[UserSession]:
    """The user's sessions that have not ended (some may be past a limit and end on their next use)."""
    return await UserSession.filter(
        user_id=user_id, ended_at__isnull=True, expires_at__gt=utc_now()
    ).order_by("-last_seen_at")


async def live_session_counts(user_ids: list[int]) -> dict[int, int]:
    rows = await UserSession.filter(
        user_id__in=user_ids, ended_at__isnull=True, expires_at__gt=utc_now()
    ).values_list("user_id", flat=True)
    counts: dict[int, int] = {}
    for user_id in rows:
        counts[user_id] = counts.get(user_id, 0) + 1
    return counts


# Ended sessions stay listed this long (who was signed in from where), then they are deleted.
KEEP_ENDED_SESSIONS = timedelta(days=90)


async def forget_old_sessions(keep: timedelta = KEEP_ENDED_SESSIONS) -> int:
    """Delete sessions that ended, or passed their absolute lifetime, longer than `keep` ago."""
    before = utc_now() - keep
    ended = await UserSession.filter(ended_at__lt=before).delete()
    return ended + await UserSession.filter(ended_at__isnull=True, expires_at__lt=before).delete()
