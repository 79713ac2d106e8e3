"""What a partner's lifecycle does to its work. Suspending or closing a partner calls off its
scheduled visits (household and volunteers told), cancels its events that have not ended (every
registered or waiting household told) and gives its open claims back to the board, each with its
history and an audit entry; reinstating gives its powers back (what was released or cancelled stays
so). The powers themselves are decided in `alliance/core/access.py`.

It lives in `events`, the highest area it reaches: it uses the partner's review (`partners`), the
claims (`matching`), the visits' own scheduling and the events' own cancellation."""

from __future__ import annotations

from dataclasses import dataclass, field

from tortoise.transactions import in_transaction

from alliance.core.access import Principal
from alliance.core.audit import record
from alliance.core.codes import PartnerStatus, RequestStatus, VisitStatus
from alliance.core.timeutil import utc_now
from alliance.events.codes import EventStatus
from alliance.events.models import Event
from alliance.events.publishing import call_off_event
from alliance.matching.claims import TransitionKind, return_to_pool, transition_reason
from alliance.matching.models import ServiceRequest
from alliance.partners.models import Partner
from alliance.partners.review import set_partner_status
from alliance.targets.growth import organisation_joined
from alliance.visits.models import Visit
from alliance.visits.scheduling import call_off_visit

# A request the partner holds but has not started serving: released on suspension or closure. One
# in service (a volunteer is at the door) is left to be finished and checked out.
RELEASED_ON_WITHDRAWAL = (RequestStatus.CLAIMED, RequestStatus.SCHEDULED)


@dataclass
class LifecycleOutcome:
    partner: Partner
    previous: PartnerStatus
    # In-app notices to the partner's staff: deliver them after the commit.
    notification_ids: list[int] = field(default_factory=list)
    # Outbox jobs (visit notices to households and volunteers): relay them after the commit.
    job_ids: list[str] = field(default_factory=list)
    cancelled_visit_ids: list[int] = field(default_factory=list)
    cancelled_event_ids: list[int] = field(default_factory=list)
    # Back on the board: re-match them (enqueue `match_requests_job`).
    released_request_ids: list[int] = field(default_factory=list)


async def change_partner_status(
    principal: Principal, partner_id: int, status: PartnerStatus | str, reason: str = ""
) -> LifecycleOutcome:
    """Approve, suspend, reinstate or close a partner (the coordinator of its region or the admin),
    in one transaction with what follows from it."""
    async with in_transaction():
        change = await set_partner_status(principal, partner_id, status, reason)
        outcome = LifecycleOutcome(change.partner, change.previous, list(change.notification_ids))
        wanted = PartnerStatus(change.partner.status)
        if change.first_approval:
            # The organisation joins the alliance: counted against the year's target with the approval.
            await organisation_joined(change.partner.id, change.partner.approved_at)
        if wanted in (PartnerStatus.SUSPENDED, PartnerStatus.CLOSED):
            await _withdraw_work(principal, change.partner, wanted, " ".join(reason.split()), outcome)
    return outcome


async def _withdraw_work(
    principal: Principal, partner: Partner, status: PartnerStatus, reason: str, outcome: LifecycleOutcome
) -> None:
    kind = (
        TransitionKind.PARTNER_SUSPENDED
        if status == PartnerStatus.SUSPENDED
        else TransitionKind.PARTNER_CLOSED
    )
    # Visits not yet started are called off through the visits' own service (the household is told).
    scheduled = await Visit.filter(partner_id=partner.id, status=VisitStatus.SCHEDULED).order_by("id")
    for visit in scheduled:
        called_off = await call_off_visit(principal, visit, reason)
        outcome.job_ids += called_off.job_ids
        outcome.cancelled_visit_ids.append(visit.id)
    # Events not yet over are cancelled through the events' own service (every household told).
    upcoming = (
        await Event.filter(
            partner_id=partner.id, status=EventStatus.PUBLISHED, sessions__ends_at__gt=utc_now()
        )
        .distinct()
        .order_by("id")
        .values_list("id", flat=True)
    )
    for event_id in upcoming:
        cancelled = await call_off_event(principal, event_id, reason or str(status))
        outcome.job_ids += cancelled.job_ids
        outcome.cancelled_event_ids.append(event_id)
    held = await ServiceRequest.filter(claimed_by_id=partner.id, status__in=RELEASED_ON_WITHDRAWAL).order_by(
        "id"
    )
    for request in held:
        returned = await return_to_pool(
            request,
            principal.user_id,
            transition_reason(kind, reason),
            expected_partner_id=partner.id,
            from_status=RequestStatus(request.status),
        )
        if returned:
            outcome.released_request_ids.append(request.id)
            await record(
                principal,
                "request.release",
                "service_request",
                request.id,
                {"reason": reason, "partner": partner.id, "partner_status": str(status)},
            )
