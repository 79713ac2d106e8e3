"""Check-out and the service record: what was delivered, to how many people (the person-times), and
the six-aspect risk check whose findings become follow-ups until a later visit finds them gone.

One transaction writes the record, the six risk checks, the follow-ups and the notices, completes
the visit and its request, and stamps the check-out: a check-out is all there or not there at all.
The household then confirms the service with a short code it was sent (or its community worker
confirms for it) and may rate it; a low rating reaches the region's coordinators.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q, Subquery
from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, require, visible
from alliance.core.audit import record
from alliance.core.codes import (
    ACTIVE_REQUEST_STATUSES,
    CloseReason,
    NeedCode,
    NotificationChannel,
    RequestStatus,
    RiskAspect,
    RiskLevel,
    VisitStatus,
)
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.timeutil import utc_now
from alliance.households.models import Household
from alliance.households.needs import active_key
from alliance.matching.claims import InvalidTransition, TransitionKind, append_transition, transition_reason
from alliance.matching.models import ServiceRequest
from alliance.notifications import notifications
from alliance.notifications.outbox import add_job
from alliance.targets import tallies
from alliance.visits.checkins import _client_key, _moment
from alliance.visits.models import CheckIn, RiskCheck, ServiceRecord, Visit, VolunteerBooking

# A risk found at a visit becomes a request for this need (the mapping).
RISK_NEEDS: dict[RiskAspect, NeedCode] = {
    RiskAspect.HEALTH: NeedCode.HEALTH_SUPPORT,
    RiskAspect.CARE: NeedCode.HOME_CARE,
    RiskAspect.HOUSING: NeedCode.HOME_REPAIR,
    RiskAspect.EMPLOYMENT: NeedCode.JOB_PLACEMENT,
    RiskAspect.EDUCATION: NeedCode.EDUCATION_SUPPORT,
    RiskAspect.ECONOMY: NeedCode.BENEFITS_HELP,
}
OPEN_RISK_LEVELS = (RiskLevel.MEDIUM, RiskLevel.HIGH)
MAX_DURATION_MINUTES = 12 * 60
MAX_SERVICE = 500
MAX_NOTES = 2000
MAX_RISK_NOTE = 255
LOW_RATING = 2


class _CompletedMeanwhile(Exception):
    """Inside the check-out transaction: another check-out completed the visit first."""


@dataclass
class CheckOutOutcome:
    record: ServiceRecord
    created: bool
    follow_up_request_ids: list[int] = field(default_factory=list)
    resolved_risk_ids: list[int] = field(default_factory=list)
    notification_ids: list[int] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RecordInput:
    service: str
    duration_minutes: int
    persons_served: int
    notes: str
    risks: dict[RiskAspect, tuple[RiskLevel, str]]


def _whole(value: object, name: str, low: int, high: int, message: str) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise InvalidInput({name: message}) from None
    if not low <= number <= high:
        raise InvalidInput({name: message})
    return number


def parse_record(
    *,
    service: str,
    duration_minutes: object,
    persons_served: object,
    notes: str,
    risks: Mapping[str, tuple[str, str]],
    member_count: int,
) -> RecordInput:
    """Check a check-out form; every problem is named by its field, all at once."""
    errors: dict[str, str] = {}
    service_text = " ".join((service or "").split())
    if not service_text:
        errors["service"] = _("Say what service was delivered.")
    elif len(service_text) > MAX_SERVICE:
        errors["service"] = _("Keep the service to 500 characters.")
    duration = persons = 0
    try:
        duration = _whole(
            duration_minutes,
            "duration_minutes",
            1,
            MAX_DURATION_MINUTES,
            _("The duration is a whole number of minutes from 1 to 720."),
        )
    except InvalidInput as error:
        errors.update(error.errors)
    most = max(1, member_count)
    try:
        persons = _whole(
            persons_served,
            "persons_served",
            1,
            most,
            _("Persons served is a whole number from 1 to the household's {count} members.").format(
                count=most
            ),
        )
    except InvalidInput as error:
        errors.update(error.errors)
    notes_text = (notes or "").strip()
    if len(notes_text) > MAX_NOTES:
        errors["notes"] = _("Keep the notes to 2,000 characters.")
    checked: dict[RiskAspect, tuple[RiskLevel, str]] = {}
    for aspect in RiskAspect:
        level_text, note = risks.get(aspect.value, ("", ""))
        name = f"risk_{aspect.value}"
        if level_text not in RiskLevel.__members__.values():
            errors[name] = _("Choose a level for {aspect}.").format(aspect=label(aspect))
            continue
        level = RiskLevel(level_text)
        note_text = " ".join((note or "").split())
        if len(note_text) > MAX_RISK_NOTE:
            errors[f"{name}_note"] = _("Keep the note to 255 characters.")
        elif level in OPEN_RISK_LEVELS and not note_text:
            errors[f"{name}_note"] = _("Say what you saw: a risk at medium or high needs a note.")
        checked[aspect] = (level, note_text)
    unknown = set(risks) - {aspect.value for aspect in RiskAspect}
    if unknown:
        errors["risks"] = _("Unknown risk aspects: {names}.").format(names=", ".join(sorted(unknown)))
    if errors:
        raise InvalidInput(errors)
    return RecordInput(service_text, duration, persons, notes_text, checked)


def confirmation_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


async def _open_risks(household_id: int) -> dict[str, list[RiskCheck]]:
    found: dict[str, list[RiskCheck]] = {}
    for risk in await RiskCheck.filter(
        household_id=household_id, level__in=list(OPEN_RISK_LEVELS), resolved_at__isnull=True
    ).order_by("id"):
        found.setdefault(str(risk.aspect), []).append(risk)
    return found


async def _follow_up_request(
    household: Household, visit: Visit, request: ServiceRequest, aspect: RiskAspect, actor_id: int
) -> ServiceRequest:
    """The request that answers a risk: the household's active request for the need when there is
    one, else a new one. When the need is the one this partner just served, the new request stays
    with the partner as a follow-up visit to schedule; otherwise it goes to the pool for matching."""
    need = RISK_NEEDS[aspect]
    existing = await ServiceRequest.get_or_none(active_key=active_key(household.id, need))
    if existing is not None:
        return existing
    same_need = str(request.need_id) == need  # type: ignore[attr-defined]
    now = utc_now()
    status = RequestStatus.CLAIMED if same_need else RequestStatus.OPEN
    follow_up = await ServiceRequest.create(
        household_id=household.id,
        need_id=need,
        status=status,
        active_key=active_key(household.id, need),
        priority=request.priority,
        claimed_by_id=visit.partner_id if same_need else None,  # type: ignore[attr-defined]
        offering_id=request.offering_id if same_need else None,  # type: ignore[attr-defined]
        claimed_at=now if same_need else None,
    )
    await append_transition(
        follow_up.id,
        None,
        status,
        actor_id,
        visit.partner_id if same_need else None,  # type: ignore[attr-defined]
        transition_reason(TransitionKind.FOLLOW_UP, f"{aspect} risk at visit {visit.id}"),
    )
    return follow_up


async def _record_risks(
    household: Household,
    visit: Visit,
    request: ServiceRequest,
    service_record: ServiceRecord,
    risks: dict[RiskAspect, tuple[RiskLevel, str]],
    actor_id: int,
    outcome: CheckOutOutcome,
) -> None:
    """Write the six checks; a risk at medium+ gets (or keeps) a follow-up, a risk found gone
    closes the open ones of its aspect, and their follow-ups nobody has taken yet."""
    open_risks = await _open_risks(household.id)
    now = utc_now()
    for aspect, (level, note) in risks.items():
        check = await RiskCheck.create(
            record_id=service_record.id, household_id=household.id, aspect=aspect, level=level, note=note
        )
        earlier = open_risks.get(aspect.value, [])
        if level in OPEN_RISK_LEVELS:
            # An earlier finding's follow-up still under way carries on; one already done (this
            # very visit, say) does not answer a risk that is still there: a new one is raised.
            pending = [risk.follow_up_request_id for risk in earlier if risk.follow_up_request_id]  # type: ignore[attr-defined]
            active = await ServiceRequest.filter(
                id__in=pending, status__in=list(ACTIVE_REQUEST_STATUSES)
            ).values_list("id", flat=True)
            follow_up_id = (
                active[0]
                if active
                else (await _follow_up_request(household, visit, request, aspect, actor_id)).id
            )
            await RiskCheck.filter(id=check.id).update(follow_up_request_id=follow_up_id)
            if follow_up_id not in outcome.follow_up_request_ids:
                outcome.follow_up_request_ids.append(follow_up_id)
            # The older checks of this aspect are carried by this one: it is the open one now.
            for risk in earlier:
                await RiskCheck.filter(id=risk.id).update(resolved_by_id=check.id, resolved_at=now)
            continue
        for risk in earlier:
            await RiskCheck.filter(id=risk.id, resolved_at__isnull=True).update(
                resolved_by_id=check.id, resolved_at=now
            )
            outcome.resolved_risk_ids.append(risk.id)
            follow_up_id = risk.follow_up_request_id  # type: ignore[attr-defined]
            if follow_up_id and follow_up_id != request.id:
                closed = await ServiceRequest.filter(id=follow_up_id, status=RequestStatus.OPEN).update(
                    status=RequestStatus.CANCELLED,
                    close_reason=CloseReason.DONE_BY_OTHERS,
                    active_key=None,
                    updated_at=now,
                )
                if closed:
                    await append_transition(
                        follow_up_id,
                        RequestStatus.OPEN,
                        RequestStatus.CANCELLED,
                        actor_id,
                        None,
                        transition_reason(TransitionKind.RISK_RESOLVED, f"visit {visit.id}"),
                    )


def _confirmation_message(code: str, partner_name: str) -> notifications.Message:
    def message(channel: NotificationChannel) -> str:
        if channel == NotificationChannel.VOICE:
            spoken = " ".join(code)
            return _(
                "Hello. This is the service alliance. {partner} has just visited you. "
                "If the service was done, tell the volunteer or your community worker the code: {code}. "
                "Again, the code is {code}."
            ).format(partner=partner_name, code=spoken)
        return _(
            "{partner} has visited you. If the service was done, your confirmation code is {code}."
        ).format(partner=partner_name, code=code)

    return message


async def check_out(
    principal: Principal,
    visit_id: int,
    form: RecordInput | None = None,
    *,
    client_key: str | None = None,
    at: datetime | None = None,
    **fields: object,
) -> CheckOutOutcome:
    """Record the service and the risk check and complete the visit (and its request). Needs a
    check-in first; a repeat of the same check-out (same client key) returns the first record."""
    require(principal, Action.CHECK_IN)
    visit = await get_visible(principal, Action.CHECK_IN, visit_id)
    key = _client_key(client_key)
    if key:
        existing = await ServiceRecord.get_or_none(client_key=key)
        if existing is not None:
            if existing.visit_id != visit.id:  # type: ignore[attr-defined]
                raise InvalidInput({"client_key": _("This key belongs to another check-out.")})
            return CheckOutOutcome(existing, False)
    if visit.status == VisitStatus.COMPLETED:
        raise InvalidTransition(
            _("This visit is already completed; only a coordinator can correct its record.")
        )
    if visit.status == VisitStatus.CANCELLED:
        raise InvalidTransition(_("This visit was cancelled."))
    if visit.status != VisitStatus.CHECKED_IN or not await CheckIn.exists(visit_id=visit.id):
        raise InvalidTransition(_("Check in at the door before checking out."))
    request = await ServiceRequest.get(id=visit.request_id).prefetch_related("household", "claimed_by")  # type: ignore[attr-defined]
    household = request.household
    if form is None:
        form = parse_record(member_count=household.member_count, **fields)  # type: ignore[arg-type]
    moment = _moment(at, visit, utc_now())
    outcome = CheckOutOutcome(record=None, created=True)  # type: ignore[arg-type]
    code = confirmation_code()
    try:
        async with in_transaction():
            completed = await Visit.filter(id=visit.id, status=VisitStatus.CHECKED_IN).update(
                status=VisitStatus.COMPLETED, updated_at=utc_now()
            )
            if not completed:
                raise _CompletedMeanwhile()
            service_record = await ServiceRecord.create(
                visit_id=visit.id,
                service=form.service,
                duration_minutes=form.duration_minutes,
                persons_served=form.persons_served,
                notes=form.notes,
                completed_at=moment,
                confirmation_code=code,
                recorded_by_id=principal.user_id,
                client_key=key,
            )
            await CheckIn.filter(visit_id=visit.id, checked_out_at__isnull=True).update(checked_out_at=moment)
            # The volunteers are free from the moment the visit ended: the rest of its window can be
            # booked again (a booking ending before it started keeps a zero-length window).
            await VolunteerBooking.filter(visit_id=visit.id, active=True, window_start__gte=moment).update(
                window_end=F("window_start")
            )
            await VolunteerBooking.filter(
                visit_id=visit.id, active=True, window_start__lt=moment, window_end__gt=moment
            ).update(window_end=moment)
            finished = await ServiceRequest.filter(
                id=request.id, status__in=[RequestStatus.IN_SERVICE, RequestStatus.SCHEDULED]
            ).update(
                status=RequestStatus.COMPLETED,
                close_reason=CloseReason.COMPLETED,
                active_key=None,
                updated_at=utc_now(),
            )
            if finished:
                await append_transition(
                    request.id,
                    request.status,
                    RequestStatus.COMPLETED,
                    principal.user_id,
                    visit.partner_id,  # type: ignore[attr-defined]
                    transition_reason(TransitionKind.SERVICE_RECORDED),
                )
            await _record_risks(
                household, visit, request, service_record, form.risks, principal.user_id, outcome
            )
            # Person-times are counted here, once: a visit completes only once.
            await tallies.count_delivery(await tallies.delivery_of_record(service_record))
            partner_name = request.claimed_by.name if request.claimed_by else ""
            outcome.notification_ids = await notifications.write_notices(
                await notifications.to_household(household, _confirmation_message(code, partner_name)),
                kind="service_confirmation",
                visit_id=visit.id,
            )
            new_open = [
                request_id
                for request_id in outcome.follow_up_request_ids
                if await ServiceRequest.exists(
                    id=request_id, status=RequestStatus.OPEN, matched_at__isnull=True
                )
            ]
            if new_open:
                job = await add_job(
                    "match_requests_job", new_open, job_id=f"match:follow-ups:visit{visit.id}"
                )
                outcome.job_ids.append(job.job_id)
            outcome.record = service_record
    except (IntegrityError, _CompletedMeanwhile):
        # A concurrent check-out won. The same one (its key) is this one; another is refused.
        existing = await ServiceRecord.get_or_none(visit_id=visit.id)
        if existing is not None and key and existing.client_key == key:
            return CheckOutOutcome(existing, False)
        raise InvalidTransition(_("This visit was completed meanwhile; reload the page.")) from None
    await record(principal, "visit.check_out", "visit", visit.id, {"persons_served": form.persons_served})
    return outcome


# --- confirmation and rating by the household --------------------------------------------------------


async def _record_of_household(household_id: int, visit_id: int) -> ServiceRecord:
    found = await ServiceRecord.get_or_none(visit_id=visit_id, visit__request__household_id=household_id)
    if found is None:
        raise NotFound(f"service record of visit {visit_id}")
    return found


async def _record_for(principal: Principal, visit_id: int) -> ServiceRecord:
    """The record of a visit the principal answers for: the household itself, or its community worker."""
    if principal.household_id is not None:
        require(principal, Action.VIEW_OWN_HOUSEHOLD)
        return await _record_of_household(principal.household_id, visit_id)
    require(principal, Action.RESPOND_FOR_HOUSEHOLDS)
    visit = await get_visible(principal, Action.RESPOND_FOR_HOUSEHOLDS, visit_id)
    found = await ServiceRecord.get_or_none(visit_id=visit.id)
    if found is None:
        raise NotFound(f"service record of visit {visit_id}")
    return found


async def confirm_service(principal: Principal, visit_id: int, code: str = "") -> ServiceRecord:
    """The household confirms with the code it was sent; its community worker confirms on its
    behalf without one (recorded as theirs)."""
    service_record = await _record_for(principal, visit_id)
    if service_record.confirmed_at is not None:
        return service_record
    on_behalf = principal.household_id is None
    if not on_behalf and "".join(code.split()) != service_record.confirmation_code:
        raise InvalidInput({"code": _("This is not the code that was sent for this visit.")})
    await ServiceRecord.filter(id=service_record.id, confirmed_at__isnull=True).update(
        confirmed_at=utc_now(), confirmed_by_id=principal.user_id if on_behalf else None
    )
    await record(
        principal, "service.confirmed", "service_record", service_record.id, {"on_behalf": on_behalf}
    )
    await service_record.refresh_from_db()
    return service_record


async def confirm_by_code(household_id: int, visit_id: int, code: str) -> ServiceRecord:
    """Confirmation through the household's personal link (the link proves who it is)."""
    service_record = await _record_of_household(household_id, visit_id)
    if service_record.confirmed_at is None:
        if "".join(code.split()) != service_record.confirmation_code:
            raise InvalidInput({"code": _("This is not the code that was sent for this visit.")})
        await ServiceRecord.filter(id=service_record.id, confirmed_at__isnull=True).update(
            confirmed_at=utc_now()
        )
        await service_record.refresh_from_db()
    return service_record


def _low_rating_message(household: Household, rating: int, comment: str) -> notifications.Message:
    def message(_channel: NotificationChannel) -> str:
        return _("{name} rated a visit {rating} of 5: {comment}").format(
            name=household.head_name, rating=rating, comment=comment or "—"
        )

    return message


async def _rate(service_record: ServiceRecord, rating: object, comment: str) -> list[int]:
    stars = _whole(rating, "rating", 1, 5, _("Choose from 1 to 5 stars."))
    text = (comment or "").strip()[:MAX_NOTES]
    async with in_transaction():
        await ServiceRecord.filter(id=service_record.id).update(
            rating=stars, comment=text, rated_at=utc_now()
        )
        notice_ids: list[int] = []
        if stars <= LOW_RATING:
            visit = await Visit.get(id=service_record.visit_id).prefetch_related(  # type: ignore[attr-defined]
                "request__household__region"
            )
            household = visit.request.household
            notice_ids = await notifications.write_notices(
                notifications.to_users(
                    await notifications.coordinators_over(household.region.path),
                    _low_rating_message(household, stars, text),
                ),
                kind="low_rating",
                visit_id=visit.id,
                dedupe_prefix=f"low-rating:{service_record.id}:{stars}",
            )
    await service_record.refresh_from_db()
    return notice_ids


async def rate_service(principal: Principal, visit_id: int, rating: object, comment: str = "") -> list[int]:
    """The household (or its community worker) rates a completed visit; 1 or 2 stars reach the
    coordinators of the region. Returns the notices written."""
    service_record = await _record_for(principal, visit_id)
    return await _rate(service_record, rating, comment)


async def rate_by_link(household_id: int, visit_id: int, rating: object, comment: str = "") -> list[int]:
    return await _rate(await _record_of_household(household_id, visit_id), rating, comment)


# --- a coordinator's correction ----------------------------------------------------------------------


async def correct_record(
    principal: Principal, visit_id: int, *, reason: str, **changes: object
) -> ServiceRecord:
    """After completion only a coordinator changes a record (service, duration, persons served,
    notes), with a reason; the audit log keeps what it was before."""
    require(principal, Action.OVERSEE_VISITS)
    visit = await get_visible(principal, Action.OVERSEE_VISITS, visit_id)
    service_record = await ServiceRecord.get_or_none(visit_id=visit.id)
    if service_record is None:
        raise NotFound(f"service record of visit {visit_id}")
    text = " ".join(reason.split())[:200]
    if not text:
        raise InvalidInput({"reason": _("Say why the record is corrected.")})
    household = await Household.get(requests__visits__id=visit.id)
    risks = {
        str(risk.aspect): (str(risk.level), risk.note)
        for risk in await RiskCheck.filter(record_id=service_record.id)
    }
    form = parse_record(
        service=str(changes.get("service", service_record.service)),
        duration_minutes=changes.get("duration_minutes", service_record.duration_minutes),
        persons_served=changes.get("persons_served", service_record.persons_served),
        notes=str(changes.get("notes", service_record.notes)),
        risks=risks,
        member_count=household.member_count,
    )
    before = {
        "service": service_record.service,
        "duration_minutes": service_record.duration_minutes,
        "persons_served": service_record.persons_served,
        "notes": service_record.notes,
    }
    after = {
        "service": form.service,
        "duration_minutes": form.duration_minutes,
        "persons_served": form.persons_served,
        "notes": form.notes,
    }
    async with in_transaction():
        await ServiceRecord.filter(id=service_record.id).update(**after)
        await tallies.adjust_person_times(
            await tallies.delivery_of_record(service_record), form.persons_served - before["persons_served"]
        )
        await record(
            principal,
            "service_record.corrected",
            "service_record",
            service_record.id,
            {"reason": text, "before": before, "after": after},
        )
    await service_record.refresh_from_db()
    return service_record


# --- selectors ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnconfirmedRow:
    visit_id: int
    completed_at: datetime
    household_name: str
    community: str
    partner_name: str
    persons_served: int
    duration_minutes: int


async def unconfirmed_visits(principal: Principal, limit: int = 200) -> list[UnconfirmedRow]:
    """Completed visits the household has not confirmed (they count, but a coordinator follows up)."""
    visits = visible(principal, Action.OVERSEE_VISITS)
    rows = (
        await ServiceRecord.filter(confirmed_at__isnull=True, visit_id__in=Subquery(visits.values("id")))
        .order_by("completed_at")
        .limit(limit)
        .prefetch_related("visit__partner", "visit__request__household__region")
    )
    return [
        UnconfirmedRow(
            visit_id=row.visit.id,
            completed_at=row.completed_at,
            household_name=row.visit.request.household.head_name,
            community=row.visit.request.household.region.name,
            partner_name=row.visit.partner.name,
            persons_served=row.persons_served,
            duration_minutes=row.duration_minutes,
        )
        for row in rows
    ]


@dataclass(frozen=True)
class OpenRisk:
    risk_id: int
    aspect: str
    level: str
    note: str
    found_at: datetime
    follow_up_request_id: int | None


async def open_risks_of(principal: Principal, household_id: int) -> list[OpenRisk]:
    """The household's risks still open (medium or high, not yet found gone by a later visit)."""
    household = await get_visible(principal, Action.VIEW_HOUSEHOLDS, household_id)
    rows = (
        await RiskCheck.filter(
            Q(household_id=household.id), level__in=list(OPEN_RISK_LEVELS), resolved_at__isnull=True
        )
        .order_by("aspect")
        .prefetch_related("record")
    )
    return [
        OpenRisk(
            risk_id=row.id,
            aspect=str(row.aspect),
            level=str(row.level),
            note=row.note,
            found_at=row.record.completed_at,
            follow_up_request_id=row.follow_up_request_id,  # type: ignore[attr-defined]
        )
        for row in rows
    ]


@dataclass(frozen=True)
class DeliveredService:
    visit_id: int
    completed_at: datetime
    need: str
    service: str
    partner_name: str
    persons_served: int
    confirmed: bool
    rating: int | None
    comment: str


async def delivered_services(
    principal: Principal, household_id: int, limit: int = 20
) -> list[DeliveredService]:
    """The household's completed visits, newest first, for it (or its community worker) to confirm
    and rate."""
    action = Action.VIEW_OWN_HOUSEHOLD if principal.household_id is not None else Action.VIEW_HOUSEHOLDS
    household = await get_visible(principal, action, household_id)
    rows = (
        await ServiceRecord.filter(visit__request__household_id=household.id)
        .order_by("-completed_at")
        .limit(limit)
        .prefetch_related("visit__partner", "visit__request")
    )
    return [
        DeliveredService(
            visit_id=row.visit.id,
            completed_at=row.completed_at,
            need=str(row.visit.request.need_id),
            service=row.service,
            partner_name=row.visit.partner.name,
            persons_served=row.persons_served,
            confirmed=row.confirmed_at is not None,
            rating=row.rating,
            comment=row.comment,
        )
        for row in rows
    ]
