"""Personal links that need no login, signed with the app's secret key: the household's link to
answer its visit, and the volunteer's calendar-feed link."""

from __future__ import annotations

from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

from alliance.core.errors import AllianceError
from alliance.core.timeutil import utc_now
from alliance.visits.models import Visit

# The household's personal link stays valid until this long after the visit window ends.
RESPONSE_LINK_GRACE = timedelta(days=2)
RESPONSE_SALT = "alliance.visit-response"
CALENDAR_SALT = "alliance.volunteer-calendar"


class LinkInvalid(AllianceError):
    """A personal link that was forged, mangled or made for something else."""


class LinkExpired(AllianceError):
    """A genuine personal link past its validity."""


# --- the household's visit-response link ------------------------------------------------------------


def response_token(secret_key: str, visit: Visit) -> str:
    """The household's personal link token for this visit: signed, valid until the visit is over."""
    expires = visit.window_end + RESPONSE_LINK_GRACE
    return URLSafeSerializer(secret_key, salt=RESPONSE_SALT).dumps(
        {"visit": visit.id, "exp": int(expires.timestamp())}
    )


def response_path(secret_key: str, visit: Visit) -> str:
    return f"/visit-response/{response_token(secret_key, visit)}"


def visit_id_from_token(secret_key: str, token: str, now: datetime | None = None) -> int:
    """The visit a personal link is for. LinkInvalid when forged or not a visit link, LinkExpired
    when genuine but past its validity."""
    try:
        payload = URLSafeSerializer(secret_key, salt=RESPONSE_SALT).loads(token)
    except BadSignature as error:
        raise LinkInvalid("bad signature") from error
    if not isinstance(payload, dict) or not isinstance(payload.get("visit"), int):
        raise LinkInvalid("not a visit link")
    if int(payload.get("exp", 0)) < (now or utc_now()).timestamp():
        raise LinkExpired(f"visit {payload['visit']}")
    return payload["visit"]


# --- the volunteer's calendar link ------------------------------------------------------------------


def calendar_token(secret_key: str, volunteer_id: int, generation: int = 0) -> str:
    """The signed token of a volunteer's iCalendar feed URL (no login: calendar apps cannot log in).
    `generation` is the volunteer's calendar_generation: asking for a new link bumps it, and the
    feed refuses a token of another generation, so a leaked link can be revoked. Generation 0 signs
    as links did before generations existed, so those keep working until the first new link."""
    payload: dict[str, int] = {"volunteer": volunteer_id}
    if generation:
        payload["gen"] = generation
    return URLSafeSerializer(secret_key, salt=CALENDAR_SALT).dumps(payload)


def calendar_link_from_token(secret_key: str, token: str) -> tuple[int, int]:
    """(volunteer id, generation) of a calendar token; LinkInvalid when forged or another kind of link."""
    try:
        payload = URLSafeSerializer(secret_key, salt=CALENDAR_SALT).loads(token)
    except BadSignature as error:
        raise LinkInvalid("bad signature") from error
    if not isinstance(payload, dict) or not isinstance(payload.get("volunteer"), int):
        raise LinkInvalid("not a calendar link")
    generation = payload.get("gen", 0)
    if not isinstance(generation, int):
        raise LinkInvalid("not a calendar link")
    return payload["volunteer"], generation


def volunteer_id_from_calendar_token(secret_key: str, token: str) -> int:
    return calendar_link_from_token(secret_key, token)[0]
