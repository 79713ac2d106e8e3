"""Selectors for the event pages: the partner's list, an event, a session, a household's events."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alliance.core.access import Action, Principal, get_visible, visible
from alliance.core.audit import record
from alliance.core.codes import RegistrationStatus, RequestStatus
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.models import User
from alliance.core.privacy import distance_band
from alliance.core.timeutil import utc_now
from alliance.events.attendance import ATTENDANCE_OPENS, _session_of
from alliance.events.codes import EventStatus
from alliance.events.matching import why_not
from alliance.events.models import (
    Attendance,
    EmploymentOutcome,
    Event,
    EventInvitation,
    EventSession,
    Registration,
)
from alliance.events.registrations import (
    HouseholdEventView,
    _first_start,
    _household_view,
    _last_end,
    registration_open,
    registration_path,
)
from alliance.households.models import Household
from alliance.matching.models import ServiceRequest
from alliance.partners.models import Offering, Partner


@dataclass
class EventRow:
    event: Event
    first_start: datetime | None
    sessions: int
    waitlisted: int
    invited: int


async def partner_events(principal: Principal, *, include_past: bool = False) -> list[EventRow]:
    events = await visible(principal, Action.MANAGE_EVENTS).order_by("-created_at").limit(200)
    ids = [event.id for event in events]
    sessions: dict[int, list[datetime]] = defaultdict(list)
    for event_id, starts_at, ends_at in await EventSession.filter(event_id__in=ids).values_list(
        "event_id", "starts_at", "ends_at"
    ):
        sessions[event_id].append(starts_at)
        sessions[event_id].append(ends_at)
    waiting: dict[int, int] = defaultdict(int)
    for event_id in await Registration.filter(
        event_id__in=ids, status=RegistrationStatus.WAITLISTED
    ).values_list("event_id", flat=True):
        waiting[event_id] += 1
    invited: dict[int, int] = defaultdict(int)
    for event_id in await EventInvitation.filter(event_id__in=ids).values_list("event_id", flat=True):
        invited[event_id] += 1
    now = utc_now()
    rows = []
    for event in events:
        times = sessions.get(event.id, [])
        if not include_past and times and max(times) < now:
            continue
        rows.append(
            EventRow(
                event=event,
                first_start=min(times) if times else None,
                sessions=len(times) // 2,
                waitlisted=waiting.get(event.id, 0),
                invited=invited.get(event.id, 0),
            )
        )
    rows.sort(key=lambda row: row.first_start or now)
    return rows


def reason_texts(reasons: list[dict[str, Any]]) -> list[str]:
    texts = []
    for reason in reasons or []:
        code = reason.get("code")
        if code == "need":
            texts.append(_("Open request: {need}").format(need=label(reason.get("need", ""))))
        elif code == "distance":
            band = reason.get("band") or distance_band(float(reason.get("km") or 0))
            texts.append(_("{band} from the venue").format(band=label(band)))
        elif code == "region":
            texts.append(_("In the offering's area {region}").format(region=reason.get("region")))
        elif code == "eligible":
            texts.append(
                _("Eligible: {flags}").format(
                    flags=", ".join(label(flag) for flag in reason.get("flags", []))
                )
            )
        elif code == "venue_accessible":
            texts.append(
                _("The venue has {features}").format(
                    features=", ".join(label(feature) for feature in reason.get("features", []))
                )
            )
    return texts


@dataclass
class InvitationRow:
    rank: int
    household_id: int
    community: str
    distance_km: float | None
    reasons: list[str]
    notified: bool
    status: str  # registration status or ""
    name: str  # shown once the household registered and confirmed
    confirmed: bool = False


@dataclass
class PersonRow:
    registration_id: int
    household_id: int
    # Name and phone only once the household confirmed (each view audited); "" until then.
    name: str
    community: str
    phone: str
    status: str
    waitlist_rank: int | None
    registered_by: str
    attended: int
    confirmed: bool = True
    confirm_by: datetime | None = None
    asked_via: str = ""
    asked_at: datetime | None = None
    asked_note: str = ""

    @property
    def label(self) -> str:
        """How the page names the registrant: the name, or a number while the household's
        confirmation is awaited."""
        return self.name or _("Household #{number}").format(number=self.household_id)


@dataclass
class SessionRow:
    session: EventSession
    attended: int


@dataclass
class EventPage:
    event: Event
    offering: Offering
    partner: Partner
    sessions: list[SessionRow]
    invitations: list[InvitationRow]
    registered: list[PersonRow]
    waitlist: list[PersonRow]
    cancelled: list[PersonRow]
    outcomes: list[EmploymentOutcome]
    registration_open: bool
    deadline: datetime | None


async def _audit_contacts(
    principal: Principal, event: Event, rows: list[PersonRow], what: str, address: str
) -> None:
    """One audit entry per registrant whose contact the page shows."""
    for row in rows:
        if row.confirmed:
            await record(
                principal,
                "registration.contact_view",
                "household",
                row.household_id,
                {"event": event.id, "registration": row.registration_id, "shown": what},
                address=address,
            )


async def _people(event: Event) -> list[PersonRow]:
    registrations = (
        await Registration.filter(event_id=event.id)
        .order_by("waitlist_position", "id")
        .prefetch_related("household__region")
    )
    users = dict(
        await User.filter(
            id__in=[r.registered_by_id for r in registrations if r.registered_by_id]
        ).values_list(  # type: ignore[attr-defined]
            "id", "display_name"
        )
    )
    attended: dict[int, int] = defaultdict(int)
    for registration_id in await Attendance.filter(session__event_id=event.id).values_list(
        "registration_id", flat=True
    ):
        attended[registration_id] += 1
    rows = []
    waiting_rank = 0
    for registration in registrations:
        if registration.status == RegistrationStatus.WAITLISTED:
            waiting_rank += 1
        household = registration.household
        # The household's contact only once the registration is its own choice.
        confirmed = registration.confirmed_at is not None
        rows.append(
            PersonRow(
                registration_id=registration.id,
                household_id=household.id,
                name=household.head_name if confirmed else "",
                community=household.region.name,
                phone=(household.phone or "") if confirmed else "",
                status=str(registration.status),
                waitlist_rank=waiting_rank if registration.status == RegistrationStatus.WAITLISTED else None,
                registered_by=users.get(registration.registered_by_id, "")
                if registration.registered_by_id
                else "",  # type: ignore[attr-defined]
                attended=attended.get(registration.id, 0),
                confirmed=confirmed,
                confirm_by=registration.confirm_by,
                asked_via=registration.asked_via,
                asked_at=registration.asked_at,
                asked_note=registration.asked_note,
            )
        )
    return rows


async def event_page(principal: Principal, event_id: int, address: str = "") -> EventPage:
    """The partner's event page. Registrants' names and phones show once the household confirmed,
    and every page view writes one audit entry per contact shown."""
    event = await get_visible(principal, Action.MANAGE_EVENTS, event_id)
    offering = await Offering.get(id=event.offering_id)  # type: ignore[attr-defined]
    partner = await Partner.get(id=event.partner_id)  # type: ignore[attr-defined]
    sessions = await EventSession.filter(event_id=event.id).order_by("starts_at")
    counts: dict[int, int] = defaultdict(int)
    for session_id in await Attendance.filter(session__event_id=event.id).values_list(
        "session_id", flat=True
    ):
        counts[session_id] += 1
    people = await _people(event)
    status_of = {row.household_id: row for row in people}
    invitations = (
        await EventInvitation.filter(event_id=event.id).order_by("rank").prefetch_related("household__region")
    )
    invitation_rows = []
    for invitation in invitations:
        person = status_of.get(invitation.household_id)  # type: ignore[attr-defined]
        invitation_rows.append(
            InvitationRow(
                rank=invitation.rank,
                household_id=invitation.household_id,  # type: ignore[attr-defined]
                community=invitation.household.region.name,
                distance_km=invitation.distance_km,
                reasons=reason_texts(invitation.reasons),
                notified=invitation.notified_at is not None,
                status=person.status if person else "",
                # Partners see a name only once the household chose to take part.
                name=person.name if person and person.status != RegistrationStatus.CANCELLED else "",
                confirmed=person.confirmed if person else False,
            )
        )
    await _audit_contacts(principal, event, people, "name_phone", address)
    return EventPage(
        event=event,
        offering=offering,
        partner=partner,
        sessions=[SessionRow(session, counts.get(session.id, 0)) for session in sessions],
        invitations=invitation_rows,
        registered=[row for row in people if row.status == RegistrationStatus.REGISTERED],
        waitlist=[row for row in people if row.status == RegistrationStatus.WAITLISTED],
        cancelled=[row for row in people if row.status == RegistrationStatus.CANCELLED],
        outcomes=await EmploymentOutcome.filter(event_id=event.id)
        .order_by("-at")
        .prefetch_related("household"),
        registration_open=registration_open(event, sessions[0].starts_at if sessions else None),
        deadline=event.registration_deadline,
    )


@dataclass
class AttendanceRow:
    registration_id: int
    name: str
    community: str
    attended: bool
    method: str
    at: datetime | None


@dataclass
class SessionPage:
    event: Event
    session: EventSession
    number: int
    rows: list[AttendanceRow]
    open: bool


async def session_page(principal: Principal, session_id: int, address: str = "") -> SessionPage:
    """A session's attendance list: names of confirmed registrants (each view audited), a number
    for those whose confirmation is awaited."""
    session, event = await _session_of(principal, session_id)
    ids = await EventSession.filter(event_id=event.id).order_by("starts_at").values_list("id", flat=True)
    recorded = {
        row.registration_id: row  # type: ignore[attr-defined]
        for row in await Attendance.filter(session_id=session.id)
    }
    registrations = await Registration.filter(
        event_id=event.id, status=RegistrationStatus.REGISTERED
    ).prefetch_related("household__region")
    for registration in registrations:
        if registration.confirmed_at is not None:
            await record(
                principal,
                "registration.contact_view",
                "household",
                registration.household_id,  # type: ignore[attr-defined]
                {"event": event.id, "registration": registration.id, "shown": "name", "session": session.id},
                address=address,
            )
    rows = sorted(
        (
            AttendanceRow(
                registration_id=registration.id,
                name=registration.household.head_name
                if registration.confirmed_at is not None
                else _("Household #{number} (awaiting confirmation)").format(
                    number=registration.household_id
                ),  # type: ignore[attr-defined]
                community=registration.household.region.name,
                attended=registration.id in recorded,
                method=recorded[registration.id].method if registration.id in recorded else "",
                at=recorded[registration.id].at if registration.id in recorded else None,
            )
            for registration in registrations
        ),
        key=lambda row: (row.community, row.name, row.registration_id),
    )
    now = utc_now()
    return SessionPage(
        event=event,
        session=session,
        number=list(ids).index(session.id) + 1,
        rows=rows,
        open=event.status == EventStatus.PUBLISHED and now >= session.starts_at - ATTENDANCE_OPENS,
    )


@dataclass
class HouseholdEvents:
    household: Household
    registered: list[HouseholdEventView]
    open_events: list[tuple[Event, str]]  # (event, "" when it fits, else why not)
    outcomes: list[EmploymentOutcome]


async def household_events(principal: Principal, household_id: int) -> HouseholdEvents:
    """For a community worker: the household's invitations and registrations, and the open events
    it could be registered for (those of its open requests' needs), each with why not when it does not fit."""
    household = await get_visible(principal, Action.REGISTER_FOR_HOUSEHOLDS, household_id)
    views = []
    seen = set()
    ids = set(await EventInvitation.filter(household_id=household.id).values_list("event_id", flat=True))
    ids |= set(await Registration.filter(household_id=household.id).values_list("event_id", flat=True))
    for event in await Event.filter(id__in=sorted(ids)).order_by("-created_at"):
        views.append(await _household_view(event, household.id))
        seen.add(event.id)
    needs = await ServiceRequest.filter(household_id=household.id, status=RequestStatus.OPEN).values_list(
        "need_id", flat=True
    )
    open_events = []
    now = utc_now()
    candidates = (
        await Event.filter(status=EventStatus.PUBLISHED, offering__need_id__in=[str(n) for n in needs])
        .exclude(id__in=sorted(seen) or [0])
        .order_by("-created_at")
        .limit(100)
    )
    for event in candidates:
        if not registration_open(event, await _first_start(event.id), now):
            continue
        open_events.append((event, await why_not(event, household)))
    return HouseholdEvents(
        household=household,
        registered=views,
        open_events=open_events[:30],
        outcomes=await EmploymentOutcome.filter(household_id=household.id)
        .order_by("-at")
        .prefetch_related("event"),
    )


async def own_events(principal: Principal, secret_key: str) -> list[tuple[HouseholdEventView, str]]:
    """The household's own invitations and registrations, with its personal link to each."""
    household = await get_visible(principal, Action.VIEW_OWN_HOUSEHOLD, principal.household_id or 0)
    ids = set(await EventInvitation.filter(household_id=household.id).values_list("event_id", flat=True))
    ids |= set(await Registration.filter(household_id=household.id).values_list("event_id", flat=True))
    found = []
    for event in await Event.filter(id__in=sorted(ids)).order_by("-created_at"):
        view = await _household_view(event, household.id)
        last_end = await _last_end(event.id)
        found.append((view, registration_path(secret_key, event.id, household.id, last_end)))
    return found
