"""Registration for an event: seats, the waiting list and the household's personal link.

Registration (by the household's personal link or login, its community worker, or the partner)
takes a seat by a conditional update of `Event.seats_taken` (`seats_taken < seats`), else a place
on the waiting list. Every registration change first locks the event row (FOR NO KEY UPDATE on
PostgreSQL; SQLite serialises writers), so waiting-list positions are handed out in order, and a
cancelled seat goes to the first on the waiting list in the same transaction: the seat count is
never passed and never left free while someone waits.

Consent: registering is the household's choice. A registration the household makes (its personal
link) or its community worker makes is confirmed at once. One the partner makes (the household
asked it to, e.g. by phone; how and when are recorded) holds its seat or waiting place "awaiting
the household's confirmation": the household is sent a confirmation request with its personal link
and confirms there or through its community worker; until then the partner sees no name or phone,
and at `confirm_by` (CONFIRM_WITHIN, at the latest the first session's start) the registration
lapses and its seat is handed on (`lapse_unconfirmed_registrations`, a worker cron).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, allows, get_visible, require, visible
from alliance.core.audit import record
from alliance.core.codes import RegistrationStatus
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import LOCAL_TZ, utc_now
from alliance.events import notices as event_notices
from alliance.events.codes import EventError, EventOutcome, EventStatus, RegistrationClosed
from alliance.events.matching import why_not
from alliance.events.models import Event, EventInvitation, EventSession, Registration
from alliance.households.models import Household
from alliance.matching.models import ServiceRequest
from alliance.partners import webhooks
from alliance.partners.models import Offering, Partner
from alliance.visits.links import LinkExpired, LinkInvalid

REGISTRATION_SALT = "alliance.event-registration"
# A household's personal link stays valid until this long after the last session ends.
LINK_GRACE = timedelta(days=2)
# How long a household has to confirm a registration a partner made for it (at most until the
# first session starts): long enough for someone who reads messages once a day, or waits for the
# community worker's round, short enough that an unwanted seat returns to others in time.
CONFIRM_WITHIN = timedelta(hours=float(os.environ.get("ALLIANCE_EVENT_CONFIRM_HOURS", "72")))
LAPSED_REASON = "lapsed: the household did not confirm"


class AskedVia(StrEnum):
    """How a household asked a partner to register it."""

    PHONE = "phone"
    IN_PERSON = "in_person"
    MESSAGE = "message"


class ConfirmedVia(StrEnum):
    """How a registration became the household's own."""

    LINK = "link"
    COMMUNITY_WORKER = "community_worker"
    # Made before consent was recorded, by the household or its community worker (migration 0012).
    BEFORE = "before"


@dataclass(frozen=True)
class HouseholdAsked:
    """What the partner records when it registers a household: how, when, and a note."""

    via: str
    at: datetime | None = None
    note: str = ""


def _check_asked(asked: HouseholdAsked, now: datetime | None = None) -> None:
    errors: dict[str, str] = {}
    if asked.via not in AskedVia.__members__.values():
        errors["asked_via"] = _(
            "Say how the household asked you to register it: by phone, in person or by message."
        )
    if asked.at is not None and asked.at > (now or utc_now()) + timedelta(minutes=5):
        errors["asked_at"] = _("When the household asked cannot be in the future.")
    if len(asked.note.strip()) > 255:
        errors["asked_note"] = _("The note is too long: at most 255 characters.")
    if errors:
        raise InvalidInput(errors)


def parse_asked(via: str, at_text: str, note: str) -> HouseholdAsked:
    """The partner's record of how the household asked, from form fields; InvalidInput names each
    wrong field. `at_text` is local (Asia/Shanghai) "YYYY-MM-DDTHH:MM"; empty means now."""
    errors: dict[str, str] = {}
    at = None
    if at_text.strip():
        try:
            at = datetime.fromisoformat(at_text.strip()).replace(tzinfo=LOCAL_TZ).astimezone(UTC)
        except ValueError:
            errors["asked_at"] = _("When the household asked: give a date and time, e.g. 2026-12-04 10:30.")
    asked = HouseholdAsked(via=via, at=at, note=note.strip())
    try:
        _check_asked(asked)
    except InvalidInput as invalid:
        errors = {**invalid.errors, **errors}
    if errors:
        raise InvalidInput(errors)
    return asked


def confirm_deadline(now: datetime, first_start: datetime | None) -> datetime:
    deadline = now + CONFIRM_WITHIN
    return min(deadline, first_start) if first_start is not None and first_start > now else deadline


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


async def _tell_partner(event: Event, registration: Registration, change: str) -> None:
    """The event's partner's systems hear of it (a signed webhook: ids and states, no names)."""
    await webhooks.emit(
        event.partner_id,  # type: ignore[attr-defined]
        webhooks.WebhookEvent.REGISTRATION_CHANGED,
        {
            "event_id": event.id,
            "registration_id": registration.id,
            "change": change,
            "status": str(registration.status),
            "confirmed": registration.confirmed_at is not None,
        },
    )


async def _confirm(
    event: Event, registration: Registration, household: Household, principal: Principal | None, via: str
) -> EventOutcome:
    """The household's yes to a registration a partner made (inside the locked transaction)."""
    now = utc_now()
    await Registration.filter(id=registration.id, confirmed_at__isnull=True).update(
        confirmed_at=now, confirmed_via=str(via), confirm_by=None, updated_at=now
    )
    await registration.refresh_from_db()
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
    await _tell_partner(event, registration, "confirmed")
    await record(
        principal,
        "event.confirm_registration",
        "registration",
        registration.id,
        {"event": event.id, "household": household.id, "via": str(via)},
    )
    return EventOutcome(event, job_ids, registration)


async def _register(
    event_id: int,
    household: Household,
    principal: Principal | None,
    *,
    confirmed_via: str | None,
    asked: HouseholdAsked | None = None,
    secret_key: str = "",
    now: datetime | None = None,
) -> EventOutcome:
    """Register (or, with `confirmed_via`, confirm) the household. Without `confirmed_via` (the
    partner) the registration awaits the household's confirmation."""
    now = now or utc_now()
    async with in_transaction():
        event = await _locked_event(event_id)
        existing = await Registration.get_or_none(event_id=event.id, household_id=household.id)
        active = existing is not None and existing.status != RegistrationStatus.CANCELLED
        if (
            active
            and existing.confirmed_at is None
            and confirmed_via
            and event.status == EventStatus.PUBLISHED
        ):  # type: ignore[union-attr]
            return await _confirm(event, existing, household, principal, confirmed_via)  # type: ignore[arg-type]
        first_start = await _first_start(event.id)
        if not registration_open(event, first_start, now):
            if event.status != EventStatus.PUBLISHED:
                raise RegistrationClosed(_("This event is cancelled."))
            raise RegistrationClosed(_("Registration for this event has closed."))
        if active:
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
            "confirmed_at": now if confirmed_via else None,
            "confirmed_via": str(confirmed_via or ""),
            "confirm_by": None if confirmed_via else confirm_deadline(now, first_start),
            "asked_via": str(asked.via) if asked else "",
            "asked_at": (asked.at or now) if asked else None,
            "asked_note": asked.note.strip()[:255] if asked else "",
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
        if registration.confirmed_at is None:
            notices = await _ask_confirmation(facts, registration, household, secret_key)
        else:
            kind = (
                event_notices.REGISTERED
                if registration.status == RegistrationStatus.REGISTERED
                else event_notices.WAITLISTED
            )
            notices = await event_notices.tell_household(
                facts, household, kind, position=await waitlist_rank(registration)
            )
        job_ids = await event_notices.delivery_job(event.id, notices)
        details: dict[str, Any] = {
            "event": event.id,
            "household": household.id,
            "status": str(registration.status),
            "confirmed": registration.confirmed_at is not None,
        }
        if asked is not None:
            details["asked"] = {
                "via": registration.asked_via,
                "at": registration.asked_at.isoformat() if registration.asked_at else None,
                "note": registration.asked_note,
            }
        await _tell_partner(event, registration, "registered")
        await record(principal, "event.register", "registration", registration.id, details)
    return EventOutcome(event, job_ids, registration)


async def _ask_confirmation(
    facts: event_notices.EventFacts, registration: Registration, household: Household, secret_key: str
) -> list[int]:
    """The household's confirmation request, with its personal link and the deadline."""
    link = ""
    if secret_key:
        last_end = await _last_end(facts.event.id)
        link = event_notices.public_url(registration_path(secret_key, facts.event.id, household.id, last_end))
    return await event_notices.tell_household(
        facts,
        household,
        event_notices.CONFIRMATION_REQUEST,
        link=link,
        until=registration.confirm_by,
        dedupe_prefix=f"event:{facts.event.id}:confirm:{registration.id}:{int(registration.updated_at.timestamp())}",
    )


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


async def _cancel(
    registration: Registration,
    principal: Principal | None,
    reason: str,
    *,
    action: str = "event.cancel_registration",
    only_unconfirmed: bool = False,
) -> EventOutcome:
    async with in_transaction():
        event = await _locked_event(registration.event_id)  # type: ignore[attr-defined]
        registration = await Registration.get(id=registration.id)
        if registration.status == RegistrationStatus.CANCELLED or (
            only_unconfirmed and registration.confirmed_at is not None
        ):
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
        await registration.refresh_from_db()
        await _tell_partner(event, registration, "cancelled")
        await record(
            principal,
            action,
            "registration",
            registration.id,
            {"event": event.id, "was": str(was), "promoted": [r.id for r in promoted]},
        )
        await registration.refresh_from_db()
    return EventOutcome(event, job_ids, registration)


async def register_by_partner(
    principal: Principal, event_id: int, household_id: int, asked: HouseholdAsked, secret_key: str = ""
) -> EventOutcome:
    """The partner registers a household it invited that asked it to (e.g. by phone), recorded as
    such. The seat is held awaiting the household's confirmation; the partner sees no contact until
    then (docs/security.md, "Personal data before claim and consent")."""
    require(principal, Action.MANAGE_EVENTS)
    event = await get_visible(principal, Action.MANAGE_EVENTS, event_id)
    invitation = await EventInvitation.get_or_none(event_id=event.id, household_id=household_id)
    if invitation is None:
        raise EventError(_("Only invited households can be registered by the organisation."))
    _check_asked(asked)
    household = await Household.get(id=household_id)
    return await _register(
        event.id, household, principal, confirmed_via=None, asked=asked, secret_key=secret_key
    )


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
    return await _register(event.id, household, principal, confirmed_via=ConfirmedVia.COMMUNITY_WORKER)


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

    @property
    def awaiting(self) -> bool:
        """A registration the partner made that waits for the household's confirmation."""
        return (
            self.registration is not None
            and self.registration.status != RegistrationStatus.CANCELLED
            and self.registration.confirmed_at is None
        )


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
    return await _register(event_id, household, None, confirmed_via=ConfirmedVia.LINK, secret_key=secret_key)


async def cancel_by_link(secret_key: str, token: str) -> EventOutcome:
    event_id, household_id = link_target(secret_key, token)
    registration = await Registration.get_or_none(event_id=event_id, household_id=household_id)
    if registration is None:
        raise NotFound("registration")
    return await _cancel(registration, None, "by the household")


# --- registrations nobody confirmed ------------------------------------------------------------------


@dataclass
class LapseRun:
    lapsed: int = 0
    asked: int = 0
    job_ids: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, int]:
        return {"lapsed": self.lapsed, "asked": self.asked}


async def lapse_unconfirmed_registrations(secret_key: str, now: datetime | None = None) -> LapseRun:
    """Give up the registrations whose household did not confirm by `confirm_by` (the seat goes to the
    first on the waiting list), and ask the households of partner registrations made before consent
    was recorded (no `confirm_by` yet). Safe to run twice."""
    now = now or utc_now()
    run = LapseRun()
    active = [RegistrationStatus.REGISTERED, RegistrationStatus.WAITLISTED]
    due = await Registration.filter(
        confirmed_at__isnull=True, confirm_by__lte=now, status__in=active
    ).order_by("confirm_by", "id")
    for registration in due:
        outcome = await _cancel(
            registration, None, LAPSED_REASON, action="event.registration_lapsed", only_unconfirmed=True
        )
        if outcome.changed:
            run.lapsed += 1
            run.job_ids += outcome.job_ids
    for registration in await Registration.filter(
        confirmed_at__isnull=True, confirm_by__isnull=True, status__in=active
    ).order_by("id"):
        async with in_transaction():
            event = await _locked_event(registration.event_id)  # type: ignore[attr-defined]
            deadline = confirm_deadline(now, await _first_start(event.id))
            set_now = await Registration.filter(
                id=registration.id, confirmed_at__isnull=True, confirm_by__isnull=True
            ).update(confirm_by=deadline, updated_at=now)
            if not set_now:
                continue
            await registration.refresh_from_db()
            household = await Household.get(id=registration.household_id)  # type: ignore[attr-defined]
            notices = await _ask_confirmation(
                await event_notices.event_facts(event), registration, household, secret_key
            )
            run.job_ids += await event_notices.delivery_job(event.id, notices)
            run.asked += 1
    return run
