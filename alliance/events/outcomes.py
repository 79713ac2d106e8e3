"""Employment outcomes of an event (interviews, offers, hires) and the hires in a region.

Outcomes of a job fair: interviews, offers, hires (a hire may be confirmed later, by the partner or
the community worker); `hires_in_region` for coordinators.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, allows, get_visible, visible
from alliance.core.audit import record
from alliance.core.errors import InvalidInput, NotFound, PermissionDenied
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import LOCAL_TZ
from alliance.events.codes import OutcomeKind
from alliance.events.matching import _active_flags
from alliance.events.models import EmploymentOutcome, Event, Registration
from alliance.events.served import close_on_hire
from alliance.households.models import Flag
from alliance.visits.windows import as_utc


async def record_outcome(
    principal: Principal,
    event_id: int,
    household_id: int,
    kind: str,
    employer: str = "",
    job: str = "",
    note: str = "",
) -> EmploymentOutcome:
    """An interview, an offer or a hire for a household registered for the event, recorded by the
    event's partner or the household's community worker. The same outcome recorded twice is kept once."""
    if allows(principal, Action.MANAGE_EVENTS):
        event = await get_visible(principal, Action.MANAGE_EVENTS, event_id)
    elif allows(principal, Action.REGISTER_FOR_HOUSEHOLDS):
        await get_visible(principal, Action.REGISTER_FOR_HOUSEHOLDS, household_id)
        event = await Event.get_or_none(id=event_id)
        if event is None:
            raise NotFound(f"event {event_id}")
    else:
        raise PermissionDenied(Action.MANAGE_EVENTS)
    registration = await Registration.get_or_none(event_id=event.id, household_id=household_id)
    # A partner knows a registrant (and its outcome shows its name) only once the household confirmed.
    if registration is None or (
        registration.confirmed_at is None and allows(principal, Action.MANAGE_EVENTS)
    ):
        raise NotFound(f"registration of {household_id} at {event_id}")
    errors: dict[str, str] = {}
    if kind not in {value.value for value in OutcomeKind}:
        errors["kind"] = _("Choose interview, offer or hire.")
    employer, job, note = employer.strip(), job.strip(), note.strip()
    if kind in (OutcomeKind.OFFER, OutcomeKind.HIRE) and not employer:
        errors["employer"] = _("Name the employer.")
    if len(employer) > 128 or len(job) > 128:
        errors["employer" if len(employer) > 128 else "job"] = _("At most 128 characters.")
    if len(note) > 255:
        errors["note"] = _("At most 255 characters.")
    if errors:
        raise InvalidInput(errors)
    async with in_transaction():
        existing = await EmploymentOutcome.get_or_none(
            event_id=event.id, household_id=household_id, kind=kind, employer=employer, job=job
        )
        if existing is not None:
            return existing
        outcome = await EmploymentOutcome.create(
            event_id=event.id,
            registration_id=registration.id,
            household_id=household_id,
            kind=kind,
            employer=employer,
            job=job,
            note=note,
            recorded_by_id=principal.user_id,
        )
        closed = kind == OutcomeKind.HIRE and await close_on_hire(
            registration, event, principal.user_id, employer
        )
        await record(
            principal,
            "event.outcome",
            "employment_outcome",
            outcome.id,
            {"event": event.id, "kind": kind, "request_closed": bool(closed)},
        )
    return outcome


@dataclass
class HireRow:
    household_id: int
    head_name: str
    community: str
    flags: list[str]
    employer: str
    job: str
    event_title: str
    at: datetime


@dataclass
class HireReport:
    hires: int
    households: int
    by_community: dict[str, int]
    rows: list[HireRow]


async def hires_in_region(principal: Principal, year: int) -> HireReport:
    """Hires among the flagged households of the coordinator's region in a year (Asia/Shanghai):
    counts and rows, newest first. Only households with an active flag count."""
    start = as_utc(datetime(year, 1, 1, tzinfo=LOCAL_TZ))
    end = as_utc(datetime(year + 1, 1, 1, tzinfo=LOCAL_TZ))
    flagged = Flag.filter(active=True).values("household_id")
    outcomes = (
        await visible(principal, Action.VIEW_EVENT_HIRES)
        .filter(kind=OutcomeKind.HIRE, at__gte=start, at__lt=end)
        .filter(household_id__in=Subquery(flagged))
        .order_by("-at", "-id")
        .prefetch_related("household__region", "event")
    )
    flags = await _active_flags(sorted({outcome.household_id for outcome in outcomes}))  # type: ignore[attr-defined]
    rows = [
        HireRow(
            household_id=outcome.household_id,  # type: ignore[attr-defined]
            head_name=outcome.household.head_name,
            community=outcome.household.region.name,
            flags=sorted(flags.get(outcome.household_id, set())),  # type: ignore[attr-defined]
            employer=outcome.employer,
            job=outcome.job,
            event_title=outcome.event.title,
            at=outcome.at,
        )
        for outcome in outcomes
    ]
    by_community: dict[str, int] = defaultdict(int)
    for row in rows:
        by_community[row.community] += 1
    return HireReport(
        hires=len(rows),
        households=len({row.household_id for row in rows}),
        by_community=dict(sorted(by_community.items())),
        rows=rows,
    )
