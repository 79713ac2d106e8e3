"""Events close what they served: a course completed closes the household's VOCATIONAL_TRAINING
request, a hire at a job fair its JOB_PLACEMENT request, as completed and in the same transaction as
the attendance or the outcome that shows it (alliance/matching/claims.py, close_served)."""

from __future__ import annotations

import math

from alliance.core.codes import ACTIVE_REQUEST_STATUSES, EventKind, NeedCode
from alliance.events.models import Attendance, Event, EventSession, Registration
from alliance.matching.claims import TransitionKind, close_served
from alliance.matching.models import ServiceRequest

# A household completed a course when it attended at least this share of its sessions.
COMPLETION_SHARE = 0.8


async def _request_for(registration: Registration, need: NeedCode) -> int | None:
    """The request the registration answers when it is for `need`, else the household's active one."""
    if registration.request_id is not None:  # type: ignore[attr-defined]
        answered = await ServiceRequest.get_or_none(id=registration.request_id, need_id=need)  # type: ignore[attr-defined]
        if answered is not None and answered.status in ACTIVE_REQUEST_STATUSES:
            return answered.id
    return (
        await ServiceRequest.filter(
            household_id=registration.household_id,  # type: ignore[attr-defined]
            need_id=need,
            status__in=list(ACTIVE_REQUEST_STATUSES),
        )
        .order_by("id")
        .first()
        .values_list("id", flat=True)
    )


def sessions_to_complete(sessions: int) -> int:
    return max(1, math.ceil(sessions * COMPLETION_SHARE - 1e-9))


async def close_if_course_completed(registration: Registration, event: Event, actor_id: int | None) -> bool:
    """After an attendance: a training course attended enough closes the household's request."""
    if event.kind != EventKind.TRAINING:
        return False
    sessions = await EventSession.filter(event_id=event.id).count()
    attended = await Attendance.filter(registration_id=registration.id).count()
    if not sessions or attended < sessions_to_complete(sessions):
        return False
    request_id = await _request_for(registration, NeedCode.VOCATIONAL_TRAINING)
    if request_id is None:
        return False
    note = f"{event.title} ({attended}/{sessions})"
    return await close_served(request_id, TransitionKind.COURSE_COMPLETED, actor_id, event.partner_id, note)  # type: ignore[attr-defined]


async def close_on_hire(
    registration: Registration, event: Event, actor_id: int | None, employer: str
) -> bool:
    """After a hire is recorded: the household's job placement request is served."""
    request_id = await _request_for(registration, NeedCode.JOB_PLACEMENT)
    if request_id is None:
        return False
    note = f"{employer} · {event.title}"
    return await close_served(request_id, TransitionKind.HIRED, actor_id, event.partner_id, note)  # type: ignore[attr-defined]
