"""The household's answer to its visit: confirm, ask for another time, or decline, through its
personal link or given for it by a community worker."""

from __future__ import annotations

from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, require
from alliance.core.audit import record
from alliance.core.codes import HouseholdResponse, RequestStatus, VisitStatus
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import utc_now
from alliance.matching.claims import InvalidTransition, TransitionKind, return_to_pool, transition_reason
from alliance.matching.models import ServiceRequest
from alliance.partners import webhooks
from alliance.visits import notices
from alliance.visits.links import visit_id_from_token
from alliance.visits.models import Visit, VolunteerBooking
from alliance.visits.notices import VisitChange
from alliance.visits.scheduling import VisitOutcome, _bump, _note


async def _tell_partner(visit: Visit, answer: HouseholdResponse, principal: Principal | None) -> None:
    """The visit's partner's systems hear the household's answer (a signed webhook; the note, which
    may name people, stays on the visit page)."""
    await webhooks.emit(
        visit.partner_id,  # type: ignore[attr-defined]
        webhooks.WebhookEvent.VISIT_ANSWERED,
        {
            "visit_id": visit.id,
            "request_id": visit.request_id,  # type: ignore[attr-defined]
            "answer": str(answer),
            "by": "community_worker" if principal is not None else "household",
            "window_start": visit.window_start.isoformat(),
        },
    )


async def _respond(
    visit: Visit, response: HouseholdResponse | str, note: str, principal: Principal | None
) -> VisitOutcome:
    if response not in HouseholdResponse.__members__.values() or response == HouseholdResponse.PENDING:
        raise InvalidInput({"response": _("Choose confirm, another time, or decline.")})
    answer = HouseholdResponse(response)
    text = _note(note, "note", required=answer != HouseholdResponse.CONFIRMED)
    if visit.status != VisitStatus.SCHEDULED or visit.window_end <= utc_now():
        raise InvalidTransition(_("This visit can no longer be answered."))
    if answer == visit.household_response and answer == HouseholdResponse.CONFIRMED:
        return VisitOutcome(visit, [])  # a second tap on "confirm" changes nothing and tells no one
    actor_id = principal.user_id if principal else None
    now = utc_now()
    audit = {"response": str(answer), "note": text, "on_behalf": principal is not None}
    async with in_transaction():
        if answer == HouseholdResponse.DECLINED:
            visit = await _bump(
                visit,
                status=VisitStatus.CANCELLED,
                household_response=answer,
                household_response_note=text,
                household_responded_at=now,
            )
            await VolunteerBooking.filter(visit_id=visit.id, active=True).update(active=False)
            request = await ServiceRequest.get(id=visit.request_id)  # type: ignore[attr-defined]
            released = await return_to_pool(
                request,
                actor_id,
                transition_reason(TransitionKind.HOUSEHOLD_DECLINED, text),
                expected_partner_id=visit.partner_id,  # type: ignore[attr-defined]
                from_status=RequestStatus.SCHEDULED,
            )
            job_ids = await notices.visit_changed(visit, VisitChange.HOUSEHOLD_DECLINED)
            await _tell_partner(visit, answer, principal)
            await record(principal, "visit.household_response", "visit", visit.id, audit)
            return VisitOutcome(visit, job_ids, request.id if released else None)
        changed = await Visit.filter(
            id=visit.id, status=VisitStatus.SCHEDULED, schedule_version=visit.schedule_version
        ).update(
            household_response=answer,
            household_response_note=text,
            household_responded_at=now,
            updated_at=now,
        )
        if not changed:
            raise InvalidTransition(_("This visit changed meanwhile; reload the page."))
        await visit.refresh_from_db()
        change = (
            VisitChange.HOUSEHOLD_CONFIRMED
            if answer == HouseholdResponse.CONFIRMED
            else VisitChange.HOUSEHOLD_RESCHEDULE
        )
        job_ids = await notices.visit_changed(visit, change)
        await _tell_partner(visit, answer, principal)
        await record(principal, "visit.household_response", "visit", visit.id, audit)
    return VisitOutcome(visit, job_ids)


async def respond_by_link(
    secret_key: str, token: str, response: HouseholdResponse | str, note: str = ""
) -> VisitOutcome:
    """The household answers through its personal link: confirm, ask for another time (with a note
    that reaches the dispatcher), or decline (with a reason; the request goes back to the pool)."""
    visit = await Visit.get_or_none(id=visit_id_from_token(secret_key, token))
    if visit is None:
        raise NotFound("visit")
    return await _respond(visit, response, note, None)


async def respond_on_behalf(
    principal: Principal, visit_id: int, response: HouseholdResponse | str, note: str = ""
) -> VisitOutcome:
    """A community worker gives the household's answer for it (no phone, or no skills to use one)."""
    require(principal, Action.RESPOND_FOR_HOUSEHOLDS)
    visit = await get_visible(principal, Action.RESPOND_FOR_HOUSEHOLDS, visit_id)
    return await _respond(visit, response, note, principal)


async def respond_by_reply(visit: Visit, response: HouseholdResponse | str, note: str) -> VisitOutcome:
    """The household's answer as an SMS reply or a key pressed in the voice call, which the gateway
    posted signed (alliance/cases/inbound.py): applied exactly like the answer through the link."""
    return await _respond(visit, response, note, None)
