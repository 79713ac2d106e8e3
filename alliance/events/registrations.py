"""Registration for an event: seats, the waiting list and the household's personal link.

Registration (by the household's personal link or login, its community worker, or the partner)
takes a seat by a conditional update of `Event.seats_taken` (`seats_taken < seats`), else a place
on the waiting list. Every registration change first locks the event row (FOR NO KEY UPDATE on
PostgreSQL; SQLite serialises writers), so waiting-list positions are handed out in order, and a
cancelled seat goes to the first on the waiting list in the same transaction: the seat count is
never passed and never left free while someone waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, allows, get_visible, require, visible
from alliance.core.audit import record
from alliance.core.codes import RegistrationStatus
from alliance.core.errors import NotFound
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import utc_now
from alliance.events import notices as event_notices
from alliance.events.codes import EventError, EventOutcome, EventStatus, RegistrationClosed
from alliance.events.matching import why_not
from alliance.events.models import Event, EventInvitation, EventSession, Registration
from alliance.households.models import Household
from alliance.matching.models import ServiceRequest
from alliance.partners.models import Offering, Partner
from alliance.visits.links import LinkExpired, LinkInvalid

REGISTRATION_SALT = "alliance.event-registration"
# A household's personal link stays valid until this long after the last session ends.
LINK_GRACE = timedelta(days=2)


def registration_open(event: Event, first_start: datetime | None, now: datetime | None = None) -> bool:
    now = now or utc_now()
    if event.status != EventStatus.PUBLISHED:
        return False
    if event.registration_deadline is not None and now > event.registration_deadline:
        return False
    return first_start is None or now < first_start


async def _first_start(event_id: int) -> datetime | None:
    first = await EventSession.filter(event_id=event_id).order_by("starts_at").first()
    return first.starts_at if first else None


async def _last_end(event_id: int) -> datetime | None:
    last = await EventSession.filter(event_id=event_id).order_by("-ends_at").first()
    return last.ends_at if last else None


async def _locked_event(event_id: int) -> Event:
    # Registrations of one event are serialised on its row: waiting-list positions in order, and a
    # freed seat handed on before anyone else looks. FOR NO KEY UPDATE leaves foreign-key checks
    # (registrations being inserted) unblocked.
    event = await Event.filter(id=event_id).select_for_update(no_key=True).first()
    if event is None:
        raise NotFound(f"event {event_id}")
    return event


async def _take_seat(event: Event) -> bool:
    # The database decides: never more registered than seats, whatever runs at the same time.
    taken = await Event.filter(id=event.id, status=EventStatus.PUBLISHED, seats_taken__lt=event.seats).update(
        seats_taken=F("seats_taken") + 1
    )
    if taken:
        event.seats_taken += 1
    return taken == 1


async def _give_seat_back(event: Event) -> None:
    given = await Event.filter(id=event.id, seats_taken__gt=0).update(seats_taken=F("seats_taken") - 1)
    if given:
        event.seats_taken -= 1


async def _fill_free_seats(event: Event) -> list[Registration]:
    """Move the first on the waiting list into each free seat (inside the locked transaction)."""
    promoted = []
    while event.status == EventStatus.PUBLISHED:
        waiting = (
            await Registration.filter(event_id=event.id, status=RegistrationStatus.WAITLISTED)
            .order_by("waitlist_position", "id")
            .first()
        )
        if waiting is None or not await _take_seat(event):
            break
        moved = await Registration.filter(id=waiting.id, status=RegistrationStatus.WAITLISTED).update(
            status=RegistrationStatus.REGISTERED, waitlist_position=None, updated_at=utc_now()
        )
        if not moved:
            await _give_seat_back(event)
            continue
        await waiting.refresh_from_db()
        promoted.append(waiting)
    return promoted


async def _tell_promoted(event: Event, promoted: list[Registration]) -> list[int]:
    if not promoted:
        return []
    facts = await event_notices.event_facts(event)
    notices = []
    for registration in promoted:
        household = await Household.get(id=registration.household_id)  # type: ignore[attr-defined]
        notices += await event_notices.tell_household(
            facts,
            household,
            event_notices.PROMOTED,
            dedupe_prefix=f"event:{event.id}:promoted:{registration.id}:{int(registration.updated_at.timestamp())}",
        )
    return notices


async def _register(
    event_id: int, household: Household, principal: Principal | None, *, now: datetime | None = None
) -> EventOutcome:
    now = now or utc_now()
    async with in_transaction():
        event = await _locked_event(event_id)
        if not registration_open(event, await _first_start(event.id), now):
            if event.status != EventStatus.PUBLISHED:
                raise RegistrationClosed(_("This event is cancelled."))
            raise RegistrationClosed(_("Registration for this event has closed."))
        existing = await Registration.get_or_none(event_id=event.id, household_id=household.id)
        if existing is not None and existing.status != RegistrationStatus.CANCELLED:
            return EventOutcome(event, [], existing, changed=False)
        offering_need = await Offering.get(id=event.offering_id).values_list("need_id", flat=True)  # type: ignore[attr-defined]
        request_id = (
            await ServiceRequest.filter(
                household_id=household.id, need_id=offering_need, active_key__isnull=False
            )
            .order_by("-id")
            .values_list("id", flat=True)
        )
        fields: dict[str, Any] = {
            "registered_by_id": principal.user_id if principal else None,
            "request_id": request_id[0] if request_id else None,
            "cancelled_at": None,
            "cancel_reason": "",
        }
        if await _take_seat(event):
            fields.update(status=RegistrationStatus.REGISTERED, waitlist_position=None)
        else:
            last = (
                await Registration.filter(event_id=event.id, status=RegistrationStatus.WAITLISTED)
                .order_by("-waitlist_position")
                .values_list("waitlist_position", flat=True)
            )
            fields.update(
                status=RegistrationStatus.WAITLISTED, waitlist_position=((last[0] or 0) if last else 0) + 1
            )
        if existing is None:
            registration = await Registration.create(event_id=event.id, household_id=household.id, **fields)
        else:
            await Registration.filter(id=existing.id).update(updated_at=now, **fields)
            registration = await Registration.get(id=existing.id)
        facts = await event_notices.event_facts(event)
        kind = (
            event_notices.REGISTERED
            if registration.status == RegistrationStatus.REGISTERED
            else event_notices.WAITLISTED
        )
        notices = await event_notices.tell_household(
            facts, household, kind, position=await waitlist_rank(registration)
        )
        job_ids = await event_notices.delivery_job(event.id, notices)
        await record(
            principal,
            "event.register",
            "registration",
            registration.id,
            {"event": event.id, "household": household.id, "status": str(registration.status)},
        )
    return EventOutcome(event, job_ids, registration)


async def waitlist_rank(registration: Registration) -> int | None:
    """Where the registration stands on the waiting list now (1 = next in), or None."""
    if registration.status != RegistrationStatus.WAITLISTED:
        return None
    ahead = (
        await Registration.filter(
            event_id=registration.event_id,  # type: ignore[attr-defined]
            status=RegistrationStatus.WAITLISTED,
        )
        .filter(
            Q(waitlist_position__lt=registration.waitlist_position)
            | Q(waitlist_position=registration.waitlist_position, id__lt=registration.id)
        )
        .count()
    )
    return ahead + 1


async def _cancel(registration: Registration, principal: Principal | None, reason: str) -> EventOutcome:
    async with in_transaction():
        event = await _locked_event(registration.event_id)  # type: ignore[attr-defined]
        registration = await Registration.get(id=registration.id)
        if registration.status == RegistrationStatus.CANCELLED:
            return EventOutcome(event, [], registration, changed=False)
        was = registration.status
        now = utc_now()
        await Registration.filter(id=registration.id, status=was).update(
            status=RegistrationStatus.CANCELLED,
            waitlist_position=None,
            cancelled_at=now,
            cancel_reason=reason.strip()[:255],
            updated_at=now,
        )
        promoted: list[Registration] = []
        if was == RegistrationStatus.REGISTERED:
            # The seat is handed on in this same transaction, never left free while someone waits.
            await _give_seat_back(event)
            promoted = await _fill_free_seats(event)
        household = await Household.get(id=registration.household_id)  # type: ignore[attr-defined]
        facts = await event_notices.event_facts(event)
        notices = await event_notices.tell_household(facts, household, event_notices.REGISTRATION_CANCELLED)
        notices += await _tell_promoted(event, promoted)
        job_ids = await event_notices.delivery_job(event.id, notices)
        await record(
            principal,
            "event.cancel_registration",
            "registration",
            registration.id,
            {"event": event.id, "was": str(was), "promoted": [r.id for r in promoted]},
        )
        await registration.refresh_from_db()
    return EventOutcome(event, job_ids, registration)


async def register_by_partner(principal: Principal, event_id: int, household_id: int) -> EventOutcome:
    """The partner registers a household it invited (e.g. one that phoned the partner)."""
    require(principal, Action.MANAGE_EVENTS)
    event = await get_visible(principal, Action.MANAGE_EVENTS, event_id)
    invitation = await EventInvitation.get_or_none(event_id=event.id, household_id=household_id)
    if invitation is None:
        raise EventError(_("Only invited households can be registered by the organisation."))
    household = await Household.get(id=household_id)
    return await _register(event.id, household, principal)


async def register_on_behalf(principal: Principal, household_id: int, event_id: int) -> EventOutcome:
    """A community worker registers a household of the community: an invited one, or one whose open
    request fits the event."""
    require(principal, Action.REGISTER_FOR_HOUSEHOLDS)
    household = await get_visible(principal, Action.REGISTER_FOR_HOUSEHOLDS, household_id)
    event = await Event.get_or_none(id=event_id)
    if event is None:
        raise NotFound(f"event {event_id}")
    if not await EventInvitation.exists(event_id=event.id, household_id=household.id):
        refusal = await why_not(event, household)
        if refusal:
            raise EventError(refusal)
    return await _register(event.id, household, principal)


async def cancel_registration(principal: Principal, registration_id: int, reason: str = "") -> EventOutcome:
    """Cancel for the partner (its event), the community worker (a household of the community) or
    the household itself; the first on the waiting list moves up."""
    registration = await Registration.get_or_none(id=registration_id)
    if registration is None:
        raise NotFound(f"registration {registration_id}")
    allowed = False
    if allows(principal, Action.MANAGE_EVENTS):
        allowed = await visible(principal, Action.MANAGE_EVENTS).filter(id=registration.event_id).exists()  # type: ignore[attr-defined]
    if not allowed and allows(principal, Action.REGISTER_FOR_HOUSEHOLDS):
        allowed = (
            await visible(principal, Action.REGISTER_FOR_HOUSEHOLDS)
            .filter(
                id=registration.household_id  # type: ignore[attr-defined]
            )
            .exists()
        )
    if not allowed and allows(principal, Action.VIEW_OWN_HOUSEHOLD):
        allowed = registration.household_id == principal.household_id  # type: ignore[attr-defined]
    if not allowed:
        raise NotFound(f"registration {registration_id}")
    return await _cancel(registration, principal, reason)


# --- the household's personal link ---------------------------------------------------------------


def registration_token(secret_key: str, event_id: int, household_id: int, last_end: datetime | None) -> str:
    expires = (last_end or utc_now() + timedelta(days=90)) + LINK_GRACE
    return URLSafeSerializer(secret_key, salt=REGISTRATION_SALT).dumps(
        {"event": event_id, "household": household_id, "exp": int(expires.timestamp())}
    )


def registration_path(secret_key: str, event_id: int, household_id: int, last_end: datetime | None) -> str:
    return f"/event-registration/{registration_token(secret_key, event_id, household_id, last_end)}"


def link_target(secret_key: str, token: str, now: datetime | None = None) -> tuple[int, int]:
    """(event id, household id) of a personal link. LinkInvalid when forged, LinkExpired when old."""
    try:
        payload = URLSafeSerializer(secret_key, salt=REGISTRATION_SALT).loads(token)
    except BadSignature as error:
        raise LinkInvalid("bad signature") from error
    if not isinstance(payload, dict) or not all(
        isinstance(payload.get(key), int) for key in ("event", "household")
    ):
        raise LinkInvalid("not an event link")
    if int(payload.get("exp", 0)) < (now or utc_now()).timestamp():
        raise LinkExpired(f"event {payload['event']}")
    return payload["event"], payload["household"]


@dataclass
class HouseholdEventView:
    event: Event
    partner_name: str
    sessions: list[EventSession]
    registration: Registration | None
    waitlist_rank: int | None
    can_register: bool
    invited: bool

    @property
    def status(self) -> str:
        return str(self.registration.status) if self.registration else ""


async def _household_view(event: Event, household_id: int) -> HouseholdEventView:
    sessions = await EventSession.filter(event_id=event.id).order_by("starts_at")
    registration = await Registration.get_or_none(event_id=event.id, household_id=household_id)
    partner = await Partner.get(id=event.partner_id)  # type: ignore[attr-defined]
    active = registration is not None and registration.status != RegistrationStatus.CANCELLED
    return HouseholdEventView(
        event=event,
        partner_name=partner.name,
        sessions=sessions,
        registration=registration,
        waitlist_rank=await waitlist_rank(registration) if registration else None,
        can_register=not active and registration_open(event, sessions[0].starts_at if sessions else None),
        invited=await EventInvitation.exists(event_id=event.id, household_id=household_id),
    )


async def event_for_link(secret_key: str, token: str) -> HouseholdEventView:
    event_id, household_id = link_target(secret_key, token)
    event = await Event.get_or_none(id=event_id)
    if event is None:
        raise NotFound("event")
    return await _household_view(event, household_id)


async def register_by_link(secret_key: str, token: str) -> EventOutcome:
    event_id, household_id = link_target(secret_key, token)
    household = await Household.get_or_none(id=household_id)
    if household is None:
        raise NotFound("household")
    return await _register(event_id, household, None)


async def cancel_by_link(secret_key: str, token: str) -> EventOutcome:
    event_id, household_id = link_target(secret_key, token)
    registration = await Registration.get_or_none(event_id=event_id, household_id=household_id)
    if registration is None:
        raise NotFound("registration")
    return await _cancel(registration, None, "by the household")
