"""Attendance at an event's sessions, by the household's visit card or the partner's list.

One row per session and registration (unique); each attended session is one person-time for the
event's project (`tallies.count_delivery`, same transaction).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, require
from alliance.core.codes import RegistrationStatus
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import utc_now
from alliance.events.codes import AttendanceMethod, EventError, EventStatus
from alliance.events.models import Attendance, Event, EventSession, Registration
from alliance.events.served import close_if_course_completed
from alliance.households.models import Household
from alliance.targets import tallies
from alliance.visits.cards import CardProblem, CardRefused, verify_card

# The partner may tick attendance from this long before a session starts (people arrive early).
ATTENDANCE_OPENS = timedelta(hours=2)


@dataclass
class AttendanceOutcome:
    recorded: list[int] = field(default_factory=list)  # registration ids newly recorded
    already: list[int] = field(default_factory=list)
    household_name: str = ""


async def _session_of(principal: Principal, session_id: int) -> tuple[EventSession, Event]:
    require(principal, Action.MANAGE_EVENTS)
    session = await EventSession.get_or_none(id=session_id)
    if session is None:
        raise NotFound(f"session {session_id}")
    event = await get_visible(principal, Action.MANAGE_EVENTS, session.event_id)  # type: ignore[attr-defined]
    return session, event


async def _attend(
    principal: Principal,
    session: EventSession,
    event: Event,
    registration: Registration,
    method: str,
    at: datetime,
) -> bool:
    """One attended session, counted once as one person-time. False when it was recorded before."""
    household = await Household.get(id=registration.household_id).prefetch_related("region")  # type: ignore[attr-defined]
    try:
        async with in_transaction():
            if await Attendance.exists(session_id=session.id, registration_id=registration.id):
                return False
            await Attendance.create(
                session_id=session.id,
                registration_id=registration.id,
                at=at,
                method=method,
                recorded_by_id=principal.user_id,
            )
            await tallies.count_delivery(
                tallies.Delivery(
                    completed_at=session.starts_at,
                    region_code=household.region.code,
                    region_path=household.region.path,
                    partner_id=event.partner_id,  # type: ignore[attr-defined]
                    project_id=event.project_id,  # type: ignore[attr-defined]
                    person_times=1,
                )
            )
            await close_if_course_completed(registration, event, principal.user_id)
    except IntegrityError:
        # The same tick from two devices at once: the other one counted it.
        return False
    return True


def _check_attendance_open(event: Event, session: EventSession, now: datetime) -> None:
    if event.status != EventStatus.PUBLISHED:
        raise EventError(_("This event is cancelled."))
    if now < session.starts_at - ATTENDANCE_OPENS:
        raise EventError(_("Attendance opens two hours before the session starts."))


async def record_attendance(
    principal: Principal, session_id: int, registration_ids: list[int], *, now: datetime | None = None
) -> AttendanceOutcome:
    """Tick registered households on the partner's list for one session. Ticking twice counts once."""
    session, event = await _session_of(principal, session_id)
    now = now or utc_now()
    _check_attendance_open(event, session, now)
    outcome = AttendanceOutcome()
    registrations = await Registration.filter(
        id__in=registration_ids, event_id=event.id, status=RegistrationStatus.REGISTERED
    ).order_by("id")
    for registration in registrations:
        if await _attend(principal, session, event, registration, AttendanceMethod.LIST, now):
            outcome.recorded.append(registration.id)
        else:
            outcome.already.append(registration.id)
    return outcome


async def record_attendance_by_card(
    principal: Principal,
    session_id: int,
    secret_key: str,
    *,
    token: str = "",
    code: str = "",
    now: datetime | None = None,
) -> AttendanceOutcome:
    """The household's visit card scanned (or its code typed) at the venue. Raises CardRefused for
    a forged, replaced or mistyped card, EventError for a household not registered."""
    session, event = await _session_of(principal, session_id)
    now = now or utc_now()
    _check_attendance_open(event, session, now)
    registrations = await Registration.filter(
        event_id=event.id, status=RegistrationStatus.REGISTERED
    ).prefetch_related("household")
    found: Registration | None = None
    if token.strip():
        parts = token.strip().split(".")
        household_id = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0
        household = await Household.get_or_none(id=household_id)
        if household is None:
            raise CardRefused(CardProblem.FORGED)
        verify_card(secret_key, household, token=token)
        found = next((r for r in registrations if r.household_id == household.id), None)  # type: ignore[attr-defined]
    elif code.strip():
        revoked = False
        for registration in registrations:
            try:
                verify_card(secret_key, registration.household, code=code)
            except CardRefused as refused:
                revoked = revoked or refused.problem == CardProblem.REVOKED
                continue
            found = registration
            break
        if found is None:
            raise CardRefused(CardProblem.REVOKED if revoked else CardProblem.WRONG_CODE)
    else:
        raise InvalidInput({"code": _("Scan the card or type its code.")})
    if found is None:
        raise EventError(_("This household is not registered for this event."))
    outcome = AttendanceOutcome(household_name=found.household.head_name)
    if await _attend(principal, session, event, found, AttendanceMethod.CARD, now):
        outcome.recorded.append(found.id)
    else:
        outcome.already.append(found.id)
    return outcome
