"""Scheduling visits: the holder of a claim schedules a home visit, staffs it with volunteers, moves or
cancels it (the household's answer is in household_responses.py).

No volunteer is ever double-booked. Every write that books volunteers first locks their rows
(SELECT ... FOR NO KEY UPDATE on PostgreSQL: it serialises bookers without blocking foreign-key
inserts elsewhere; SQLite serialises writers anyway), then looks for overlapping active bookings,
then inserts, all in one transaction. Two dispatchers booking the same volunteer at once are thus
ordered by the database, and the second sees the first's booking.

Each write calls `notices.visit_changed` inside its transaction (the transactional outbox) and
returns the outbox job ids for the edge to relay after the commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, require
from alliance.core.audit import record
from alliance.core.codes import Accessibility, HouseholdResponse, RequestStatus, VisitStatus, VolunteerStatus
from alliance.core.errors import AllianceError, InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.timeutil import to_local, utc_now
from alliance.households.consent import shares
from alliance.households.models import Household
from alliance.matching.claims import InvalidTransition, TransitionKind, append_transition, transition_reason
from alliance.matching.models import ServiceRequest
from alliance.partners.models import Volunteer
from alliance.visits import notices
from alliance.visits.models import Visit, VolunteerBooking
from alliance.visits.notices import VisitChange
from alliance.visits.suggestions import _held_request, _needed_skills, _overlapping, signs
from alliance.visits.windows import _checked_window, as_utc

MAX_NOTE = 500


# --- errors ---------------------------------------------------------------------------------------


class ScheduleError(AllianceError):
    """A scheduling action that cannot happen; `message` is for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class VolunteerDoubleBooked(ScheduleError):
    """The volunteer already has an active booking overlapping the window (on visit `visit_id`)."""

    def __init__(
        self,
        volunteer_id: int,
        volunteer_name: str,
        visit_id: int,
        window_start: datetime,
        window_end: datetime,
    ) -> None:
        super().__init__(
            _("{volunteer} is already booked on visit #{visit} ({start} to {end}).").format(
                volunteer=volunteer_name,
                visit=visit_id,
                start=_when(window_start),
                end=_when(window_end, "%H:%M"),
            )
        )
        self.volunteer_id = volunteer_id
        self.volunteer_name = volunteer_name
        self.visit_id = visit_id
        self.window_start = window_start
        self.window_end = window_end


def _when(moment: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
    local = to_local(moment)
    return local.strftime(fmt) if local else ""


# --- writes ---------------------------------------------------------------------------------------


@dataclass
class VisitOutcome:
    visit: Visit
    # Outbox jobs written with the change: relay them after the commit (web.jobs.relay_outbox).
    job_ids: list[str] = field(default_factory=list)
    # Set when the request went back to the pool (household declined): re-match it.
    released_request_id: int | None = None


async def _chosen_volunteers(
    partner_id: int, volunteer_ids: Iterable[int], need: str, household_id: int | None = None
) -> list[Volunteer]:
    ids = sorted({int(volunteer_id) for volunteer_id in volunteer_ids})
    if not ids:
        raise InvalidInput({"volunteer_ids": _("Choose at least one volunteer.")})
    volunteers = await Volunteer.filter(
        id__in=ids, partners__id=partner_id, active=True, status=VolunteerStatus.APPROVED
    ).order_by("id")
    if len({volunteer.id for volunteer in volunteers}) != len(ids):
        raise InvalidInput({"volunteer_ids": _("Choose among your organisation's active volunteers.")})
    needed = _needed_skills(need)
    for volunteer in volunteers:
        missing = [skill for skill in needed if skill not in (volunteer.skills or [])]
        if missing:
            raise InvalidInput(
                {
                    "volunteer_ids": _("{volunteer} lacks the skill: {skills}").format(
                        volunteer=volunteer.name, skills=", ".join(label(skill) for skill in missing)
                    )
                }
            )
    if household_id is not None:
        accessibility = (
            await Household.filter(id=household_id).first().values_list("accessibility", flat=True)
        )
        if Accessibility.DEAF in (accessibility or []) and not any(
            signs(volunteer) for volunteer in volunteers
        ):
            raise InvalidInput(
                {"volunteer_ids": _("The household is deaf: choose at least one volunteer who signs.")}
            )
    return volunteers


async def _book(
    visit_id: int, volunteer_ids: list[int], window_start: datetime, window_end: datetime
) -> None:
    """Book the volunteers on the visit for the window, or raise VolunteerDoubleBooked. Call inside
    a transaction: the lock is held until it ends."""
    # Lock in id order, so two bookers of overlapping sets never wait on each other in a cycle.
    locked = await Volunteer.filter(id__in=volunteer_ids).order_by("id").select_for_update(no_key=True)
    names = {volunteer.id: volunteer.name for volunteer in locked}
    clashes = await _overlapping(volunteer_ids, window_start, window_end, exclude_visit=visit_id)
    if clashes:
        clash = clashes[0]
        raise VolunteerDoubleBooked(
            clash.volunteer_id,  # type: ignore[attr-defined]
            names.get(clash.volunteer_id, ""),  # type: ignore[attr-defined]
            clash.visit_id,  # type: ignore[attr-defined]
            clash.window_start,
            clash.window_end,
        )
    existing = set(
        await VolunteerBooking.filter(visit_id=visit_id, volunteer_id__in=volunteer_ids).values_list(
            "volunteer_id", flat=True
        )
    )
    if existing:
        await VolunteerBooking.filter(visit_id=visit_id, volunteer_id__in=list(existing)).update(
            active=True, window_start=window_start, window_end=window_end
        )
    await VolunteerBooking.bulk_create(
        [
            VolunteerBooking(
                visit_id=visit_id, volunteer_id=volunteer_id, window_start=window_start, window_end=window_end
            )
            for volunteer_id in volunteer_ids
            if volunteer_id not in existing
        ]
    )


def _note(text: str, field_name: str, *, required: bool) -> str:
    text = " ".join(str(text or "").split())
    if required and not text:
        raise InvalidInput({field_name: _("Give a reason.")})
    if len(text) > MAX_NOTE:
        raise InvalidInput({field_name: _("At most 500 characters.")})
    return text


async def schedule_visit(
    principal: Principal,
    request_id: int,
    window_start: datetime,
    window_end: datetime,
    volunteer_ids: Iterable[int],
    notes: str = "",
) -> VisitOutcome:
    """The holder schedules a home visit for a claimed request, with one or more of its volunteers:
    the request becomes scheduled. Raises VolunteerDoubleBooked naming the volunteer and the clash."""
    held = await _held_request(principal, request_id)
    now = utc_now()
    _checked_window(window_start, window_end, now)
    window_start, window_end = as_utc(window_start), as_utc(window_end)
    volunteers = await _chosen_volunteers(
        held.partner_id,
        volunteer_ids,
        held.request.need_id,  # type: ignore[attr-defined]
        held.household.id,
    )
    text = _note(notes, "notes", required=False)
    if held.request.status != RequestStatus.CLAIMED:
        raise InvalidTransition(_("Only a claimed request without a visit can be scheduled."))
    household = await Household.get(id=held.request.household_id)  # type: ignore[attr-defined]
    if not shares(household):
        # Withdrawn or expired consent (docs/casework.md): the claim is kept, no new visit.
        raise InvalidTransition(
            _("The household withdrew its consent to share its details: no visit can be scheduled.")
        )
    async with in_transaction():
        won = await ServiceRequest.filter(
            id=held.request.id, status=RequestStatus.CLAIMED, claimed_by_id=held.partner_id
        ).update(status=RequestStatus.SCHEDULED, claim_warned_at=None, updated_at=now)
        if not won:
            raise InvalidTransition(_("This request changed meanwhile; reload the page."))
        visit = await Visit.create(
            request_id=held.request.id,
            partner_id=held.partner_id,
            window_start=window_start,
            window_end=window_end,
            created_by_id=principal.user_id,
            notes=text,
        )
        await _book(visit.id, [volunteer.id for volunteer in volunteers], window_start, window_end)
        await append_transition(
            held.request.id,
            RequestStatus.CLAIMED,
            RequestStatus.SCHEDULED,
            principal.user_id,
            held.partner_id,
            transition_reason(TransitionKind.SCHEDULE, f"#{visit.id} {_when(window_start)}"),
        )
        job_ids = await notices.visit_changed(visit, VisitChange.SCHEDULED)
        await record(
            principal,
            "visit.schedule",
            "visit",
            visit.id,
            {"request": held.request.id, "volunteers": [volunteer.id for volunteer in volunteers]},
        )
    return VisitOutcome(visit, job_ids)


async def _own_visit(principal: Principal, visit_id: int) -> Visit:
    require(principal, Action.SCHEDULE_VISITS)
    visit = await get_visible(principal, Action.SCHEDULE_VISITS, visit_id)
    if visit.status != VisitStatus.SCHEDULED:
        raise InvalidTransition(_("Only a scheduled visit that has not started can be changed."))
    return visit


async def _bump(visit: Visit, **changes: object) -> Visit:
    """Apply `changes` and a new schedule version, only if nobody changed the visit since it was read."""
    changed = await Visit.filter(
        id=visit.id, status=VisitStatus.SCHEDULED, schedule_version=visit.schedule_version
    ).update(schedule_version=F("schedule_version") + 1, updated_at=utc_now(), **changes)
    if not changed:
        raise InvalidTransition(_("This visit changed meanwhile; reload the page."))
    await visit.refresh_from_db()
    return visit


async def _active_volunteer_ids(visit_id: int) -> list[int]:
    return sorted(
        await VolunteerBooking.filter(visit_id=visit_id, active=True).values_list("volunteer_id", flat=True)
    )


async def reschedule_visit(
    principal: Principal, visit_id: int, window_start: datetime, window_end: datetime
) -> VisitOutcome:
    """Move the visit to another window, keeping its volunteers (each re-checked for clashes). The
    household is asked again: its earlier answer was for the old time."""
    visit = await _own_visit(principal, visit_id)
    _checked_window(window_start, window_end, utc_now())
    window_start, window_end = as_utc(window_start), as_utc(window_end)
    async with in_transaction():
        await _book(visit.id, await _active_volunteer_ids(visit.id), window_start, window_end)
        old = _when(visit.window_start)
        visit = await _bump(
            visit,
            window_start=window_start,
            window_end=window_end,
            household_response=HouseholdResponse.PENDING,
            household_responded_at=None,
        )
        job_ids = await notices.visit_changed(visit, VisitChange.MOVED)
        await record(
            principal, "visit.reschedule", "visit", visit.id, {"from": old, "to": _when(window_start)}
        )
    return VisitOutcome(visit, job_ids)


async def change_volunteers(
    principal: Principal, visit_id: int, volunteer_ids: Iterable[int]
) -> VisitOutcome:
    """Staff the visit with exactly these volunteers: the removed are freed, the added booked."""
    visit = await _own_visit(principal, visit_id)
    request = await ServiceRequest.get(id=visit.request_id)  # type: ignore[attr-defined]
    chosen = await _chosen_volunteers(
        visit.partner_id,
        volunteer_ids,
        request.need_id,  # type: ignore[attr-defined]
        request.household_id,  # type: ignore[attr-defined]
    )
    wanted = [volunteer.id for volunteer in chosen]
    async with in_transaction():
        current = await _active_volunteer_ids(visit.id)
        if current == wanted:
            return VisitOutcome(visit, [])
        await (
            VolunteerBooking.filter(visit_id=visit.id, active=True)
            .exclude(volunteer_id__in=wanted)
            .update(active=False)
        )
        await _book(visit.id, wanted, visit.window_start, visit.window_end)
        visit = await _bump(visit)
        job_ids = await notices.visit_changed(visit, VisitChange.VOLUNTEERS_CHANGED)
        await record(principal, "visit.volunteers", "visit", visit.id, {"from": current, "to": wanted})
    return VisitOutcome(visit, job_ids)


async def cancel_visit(principal: Principal, visit_id: int, reason: str) -> VisitOutcome:
    """The holder calls the visit off: its volunteers are freed and the request is claimed again,
    ready for a new visit."""
    visit = await _own_visit(principal, visit_id)
    text = _note(reason, "reason", required=True)
    return await call_off_visit(principal, visit, text)


async def call_off_visit(principal: Principal, visit: Visit, text: str) -> VisitOutcome:
    """Cancel a scheduled visit whose cancelling the caller has already authorised (the holder, or a
    reviewer suspending the partner): volunteers freed, request claimed again, household and
    volunteers told, audited. Runs in the caller's transaction when there is one."""
    async with in_transaction():
        visit = await _bump(visit, status=VisitStatus.CANCELLED, notes=_joined(visit.notes, text))
        await VolunteerBooking.filter(visit_id=visit.id, active=True).update(active=False)
        back = await ServiceRequest.filter(
            id=visit.request_id,  # type: ignore[attr-defined]
            status=RequestStatus.SCHEDULED,
            claimed_by_id=visit.partner_id,  # type: ignore[attr-defined]
        ).update(status=RequestStatus.CLAIMED, claim_warned_at=None, updated_at=utc_now())
        if back:
            await append_transition(
                visit.request_id,  # type: ignore[attr-defined]
                RequestStatus.SCHEDULED,
                RequestStatus.CLAIMED,
                principal.user_id,
                visit.partner_id,  # type: ignore[attr-defined]
                transition_reason(TransitionKind.VISIT_CANCELLED, f"#{visit.id} {text}"),
            )
        job_ids = await notices.visit_changed(visit, VisitChange.CANCELLED)
        await record(principal, "visit.cancel", "visit", visit.id, {"reason": text})
    return VisitOutcome(visit, job_ids)


def _joined(existing: str, addition: str) -> str:
    return f"{existing}\n{addition}".strip() if existing else addition
