"""Claims: a partner takes an open request or gives it back to the pool, the holder or a coordinator
closes it; and the request's history (TransitionKind, append_transition), which every area that
moves a request writes to.

Every change of hands is one conditional UPDATE inside a transaction, so of any number of
simultaneous attempts exactly one wins, and one appended row of the request's history
(RequestTransition), which is never rewritten. Capacity (OfferingMonth) is taken and given back in
the same transaction as the change it belongs to. A coordinator's assign and move are in
assignment.py, transfers between partners in transfers.py, claims not scheduled in time in
unscheduled_claims.py.

Claim churn: claiming shows a household's contact, so claiming and releasing in a loop would
harvest contacts. More releases by one partner within the churn window than ALLIANCE_CHURN_RELEASES
pause its claims for a cool-down (Partner.claims_paused_until) and tell the coordinators over its
region, in the release's transaction; the board and the API both claim through claim_request, which
refuses while the pause lasts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, require
from alliance.core.audit import record
from alliance.core.codes import (
    ACTIVE_REQUEST_STATUSES,
    CloseReason,
    DeliveryMode,
    PartnerStatus,
    RequestStatus,
    TransferStatus,
)
from alliance.core.config import churn_limits
from alliance.core.errors import AllianceError, InvalidInput, NotFound, PermissionDenied
from alliance.core.i18n import gettext as _
from alliance.core.metrics import claim_counted
from alliance.core.models import Region
from alliance.core.timeutil import to_local, utc_now
from alliance.households.models import Household
from alliance.matching import board_changes
from alliance.matching.candidates import month_key
from alliance.matching.models import Match, OfferingMonth, RequestTransition, ServiceRequest, TransferRequest
from alliance.notifications import outbox
from alliance.notifications.notifications import coordinators_over, partner_staff, to_users, write_notices
from alliance.partners import webhooks
from alliance.partners.models import Offering, Partner

MAX_REASON = 200


class ClaimError(AllianceError):
    """A claim-side action that lost or cannot happen; the edges turn it into a swap or a 409."""


class ClaimConflict(ClaimError):
    """Another claim won (by: that partner's name), or the request is no longer open (by: None)."""

    def __init__(self, by: str | None, status: str) -> None:
        super().__init__(f"already claimed by {by}" if by else f"request is {status}")
        self.by = by
        self.status = status


class CapacityExhausted(ClaimError):
    def __init__(self, offering_title: str = "") -> None:
        super().__init__(f"no places left this month {offering_title}".strip())
        self.offering_title = offering_title


class ClaimsPaused(ClaimError):
    """The partner released too many claims lately (claim churn): no new claims until `until`."""

    def __init__(self, until: datetime) -> None:
        local = to_local(until)
        self.until = until
        self.message = _(
            "Your organisation released many requests in a short time, so claiming is paused until "
            "{time}. The coordinators have been told; ask them if this was a mistake."
        ).format(time=local.strftime("%Y-%m-%d %H:%M") if local else "")
        super().__init__(self.message)


class InvalidTransition(ClaimError):
    """The request is not in a state that allows this (e.g. releasing a request nobody holds)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransitionKind(StrEnum):
    # Stored as the first word of RequestTransition.reason ("release: household moved away"), so the
    # history reads the same in both languages and a free-text reason never loses its meaning.
    CLAIM = "claim"
    RELEASE = "release"
    ASSIGN = "assign"
    MOVE = "move"
    TRANSFER = "transfer"
    TRANSFER_AUTO = "transfer_auto"
    UNSCHEDULED = "unscheduled"
    CLOSE = "close"
    # Visits (alliance/visits/scheduling.py, alliance/visits/household_responses.py).
    SCHEDULE = "schedule"
    VISIT_CANCELLED = "visit_cancelled"
    HOUSEHOLD_DECLINED = "household_declined"
    # Check-in and service records (alliance/visits/checkins.py, alliance/visits/service_records.py).
    CHECK_IN = "check_in"
    SERVICE_RECORDED = "service_recorded"
    FOLLOW_UP = "follow_up"
    RISK_RESOLVED = "risk_resolved"
    # The cockpit's unserved list (alliance/targets/unserved.py): a coordinator escalates a household's requests.
    ESCALATE = "escalate"
    # The partner's lifecycle (alliance/events/partner_lifecycle.py): its claims go back to the board.
    PARTNER_SUSPENDED = "partner_suspended"
    PARTNER_CLOSED = "partner_closed"
    # Events close what they served (alliance/events/attendance.py, outcomes.py).
    COURSE_COMPLETED = "course_completed"
    HIRED = "hired"
    # Casework (alliance/cases/): a needs assessment or the household's own request for help.
    ASSESSMENT = "assessment"
    ASKED = "asked"


def transition_reason(kind: TransitionKind, text: str = "") -> str:
    text = " ".join(text.split())[:MAX_REASON]
    return f"{kind}: {text}" if text else str(kind)


@dataclass(frozen=True)
class TransitionView:
    at: datetime
    kind: str
    kind_label: str
    note: str
    from_status: str | None
    to_status: str
    actor_name: str
    partner_name: str


def describe_transition(transition: RequestTransition) -> tuple[str, str]:
    """(kind, free-text note) of a stored reason."""
    kind, _sep, note = transition.reason.partition(": ")
    if kind in TransitionKind.__members__.values():
        return kind, note
    return "", transition.reason


def transition_label(kind: str) -> str:
    labels = {
        TransitionKind.CLAIM: _("Claimed"),
        TransitionKind.RELEASE: _("Released"),
        TransitionKind.ASSIGN: _("Assigned by a coordinator"),
        TransitionKind.MOVE: _("Moved by a coordinator"),
        TransitionKind.TRANSFER: _("Transferred"),
        TransitionKind.TRANSFER_AUTO: _("Transferred (holder did not answer)"),
        TransitionKind.UNSCHEDULED: _("Released: not scheduled in time"),
        TransitionKind.CLOSE: _("Closed"),
        TransitionKind.SCHEDULE: _("Visit scheduled"),
        TransitionKind.VISIT_CANCELLED: _("Visit cancelled"),
        TransitionKind.HOUSEHOLD_DECLINED: _("Declined by the household"),
        TransitionKind.CHECK_IN: _("Volunteer checked in"),
        TransitionKind.SERVICE_RECORDED: _("Service delivered and recorded"),
        TransitionKind.FOLLOW_UP: _("Raised by a visit's risk check"),
        TransitionKind.RISK_RESOLVED: _("Closed: a later visit found the risk gone"),
        TransitionKind.ESCALATE: _("Escalated by a coordinator"),
        TransitionKind.PARTNER_SUSPENDED: _("Released: the partner was suspended"),
        TransitionKind.PARTNER_CLOSED: _("Released: the partner was closed"),
        TransitionKind.COURSE_COMPLETED: _("Closed: the household completed a course"),
        TransitionKind.HIRED: _("Closed: hired at a job fair"),
        TransitionKind.ASSESSMENT: _("Needs assessment"),
        TransitionKind.ASKED: _("Asked for by the household"),
    }
    return labels.get(kind, _("Changed"))  # type: ignore[call-overload]


def capacity_month(moment: datetime | None = None) -> str:
    """The capacity month of a moment: "YYYY-MM" in Asia/Shanghai (the matching engine's month)."""
    return month_key(moment)


async def places_used(offering_id: int, month: str | None = None) -> int:
    row = await OfferingMonth.get_or_none(offering_id=offering_id, month=month or capacity_month())
    return row.claimed if row else 0


async def _take_place(offering: Offering, month: str) -> bool:
    """Take one of the offering's places this month; False when it is full. Call inside a transaction."""
    # Make sure the counter row exists (a concurrent insert of the same row is ignored), then a
    # conditional increment: the database, not this process, decides who gets the last place.
    await OfferingMonth.bulk_create(
        [OfferingMonth(offering_id=offering.id, month=month, claimed=0)], ignore_conflicts=True
    )
    taken = await OfferingMonth.filter(
        offering_id=offering.id, month=month, claimed__lt=offering.monthly_capacity
    ).update(claimed=F("claimed") + 1)
    return taken == 1


async def _give_place_back(offering_id: int | None, claimed_at: datetime | None) -> None:
    if offering_id is None:
        return
    await OfferingMonth.filter(
        offering_id=offering_id, month=capacity_month(claimed_at), claimed__gt=0
    ).update(claimed=F("claimed") - 1)


async def append_transition(
    request_id: int,
    from_status: str | None,
    to_status: str,
    actor_id: int | None,
    partner_id: int | None,
    reason: str,
) -> RequestTransition:
    """One line of a request's history (areas that move a request call it inside their transaction).
    A request entering or leaving the open pool changes the boards of the partners matched to it."""
    if RequestStatus.OPEN in (from_status, to_status):
        await board_changes.touch_boards_of_requests([request_id])
    return await RequestTransition.create(
        request_id=request_id,
        from_status=from_status,
        to_status=to_status,
        actor_id=actor_id,
        partner_id=partner_id,
        reason=reason,
    )


async def _holder_name(request_id: int) -> tuple[str | None, str]:
    request = await ServiceRequest.get(id=request_id).prefetch_related("claimed_by")
    return (request.claimed_by.name if request.claimed_by else None), str(request.status)


def _partner_of(principal: Principal) -> int:
    if principal.partner_id is None:
        raise PermissionDenied(Action.CLAIM_REQUESTS, "only partner staff claim requests")
    return principal.partner_id


async def _approved_partner(partner_id: int) -> Partner:
    partner = await Partner.get(id=partner_id)
    if partner.status != PartnerStatus.APPROVED:
        raise PermissionDenied(Action.CLAIM_REQUESTS, "partner is not approved")
    return partner


@dataclass
class ClaimResult:
    request: ServiceRequest
    offering: Offering
    partner: Partner


async def claim_request(principal: Principal, request_id: int, offering_id: int | None = None) -> ClaimResult:
    """Claim an open request for the principal's partner with one of its matched offerings (the best
    with a place left, or `offering_id`). Raises ClaimConflict when another claim won and
    CapacityExhausted when every matched offering is full this month; NotFound when the request is
    not matched to this partner."""
    require(principal, Action.CLAIM_REQUESTS)
    partner_id = _partner_of(principal)
    request = await get_visible(principal, Action.CLAIM_REQUESTS, request_id)
    partner = await _approved_partner(partner_id)
    if partner.claims_paused_until is not None and partner.claims_paused_until > utc_now():
        raise ClaimsPaused(partner.claims_paused_until)
    # Courses and job fairs reach households by invitation (alliance/events/), never by a claim.
    candidates = Match.filter(
        request_id=request.id,
        partner_id=partner_id,
        offering__active=True,
        offering__delivery_mode=DeliveryMode.HOME_VISIT,
    )
    if offering_id is not None:
        candidates = candidates.filter(offering_id=offering_id)
    matches = await candidates.order_by("-score", "offering_id").prefetch_related("offering")
    # A household that withdrew its consent (or awaits verification where required) is not offered.
    if matches and not await Household.filter(id=request.household_id, matchable=True).exists():  # type: ignore[attr-defined]
        matches = []
    if not matches:
        if request.claimed_by_id is not None:  # type: ignore[attr-defined]
            raise ClaimConflict(*await _holder_name(request.id))
        raise NotFound(f"no offering of partner {partner_id} matches request {request.id}")
    now = utc_now()
    month = capacity_month(now)
    async with in_transaction():
        won = await ServiceRequest.filter(id=request.id, status=RequestStatus.OPEN).update(
            status=RequestStatus.CLAIMED,
            claimed_by_id=partner_id,
            claimed_at=now,
            claim_warned_at=None,
            updated_at=now,
        )
        if won:
            chosen = None
            for match in matches:
                if await _take_place(match.offering, month):
                    chosen = match.offering
                    break
            if chosen is None:
                # Raising rolls the claim back: the request stays open for a partner with room.
                raise CapacityExhausted(matches[0].offering.title)
            await ServiceRequest.filter(id=request.id).update(offering_id=chosen.id)
            await append_transition(
                request.id,
                RequestStatus.OPEN,
                RequestStatus.CLAIMED,
                principal.user_id,
                partner_id,
                transition_reason(TransitionKind.CLAIM),
            )
            await record(principal, "request.claim", "service_request", request.id, {"offering": chosen.id})
    if not won:
        raise ClaimConflict(*await _holder_name(request.id))
    claim_counted("claimed")
    await request.refresh_from_db()
    return ClaimResult(request=request, offering=chosen, partner=partner)


async def _deny_pending_transfers(request_id: int, note: str) -> None:
    await TransferRequest.filter(request_id=request_id, status=TransferStatus.PENDING).update(
        status=TransferStatus.DENIED, decision_note=note[:255], decided_at=utc_now()
    )


async def return_to_pool(
    request: ServiceRequest,
    actor_id: int | None,
    reason: str,
    *,
    expected_partner_id: int | None,
    from_status: RequestStatus = RequestStatus.CLAIMED,
) -> bool:
    """Claimed (or scheduled, when the household declines the visit) -> open, giving the place back.
    False when the request changed hands meanwhile. Call inside a transaction."""
    now = utc_now()
    query = ServiceRequest.filter(id=request.id, status=from_status)
    if expected_partner_id is not None:
        query = query.filter(claimed_by_id=expected_partner_id)
    returned = await query.update(
        status=RequestStatus.OPEN,
        claimed_by_id=None,
        offering_id=None,
        claimed_at=None,
        claim_warned_at=None,
        updated_at=now,
    )
    if not returned:
        return False
    await _give_place_back(request.offering_id, request.claimed_at)  # type: ignore[attr-defined]
    await append_transition(
        request.id,
        from_status,
        RequestStatus.OPEN,
        actor_id,
        request.claimed_by_id,  # type: ignore[attr-defined]
        reason,
    )
    await _deny_pending_transfers(request.id, "released to the pool")
    await tell_holder(request.claimed_by_id, request.id, "returned_to_pool", reason=reason.partition(":")[0])  # type: ignore[attr-defined]
    return True


async def tell_holder(partner_id: int | None, request_id: int, change: str, **details: Any) -> None:
    """The partner's systems hear of a change to a claim it held or now holds (a signed webhook,
    planned in the change's transaction; ids and codes only)."""
    await webhooks.emit(
        partner_id,
        webhooks.WebhookEvent.CLAIM_CHANGED,
        {"request_id": request_id, "change": change, **details},
    )


def _reason_text(reason: str, field_name: str = "reason") -> str:
    text = " ".join(reason.split())
    if not text:
        raise InvalidInput({field_name: _("Give a reason.")})
    if len(text) > MAX_REASON:
        raise InvalidInput({field_name: _("At most 200 characters.")})
    return text


async def release_claim(principal: Principal, request_id: int, reason: str) -> ServiceRequest:
    """The holder gives a claimed request back to the pool with a reason. The caller re-matches it
    (enqueue `match_requests`)."""
    require(principal, Action.HOLD_REQUESTS)
    text = _reason_text(reason)
    request = await get_visible(principal, Action.HOLD_REQUESTS, request_id)
    if request.status != RequestStatus.CLAIMED:
        raise InvalidTransition(_("Only a claimed request that has no visit yet can be released."))
    async with in_transaction():
        released = await return_to_pool(
            request,
            principal.user_id,
            transition_reason(TransitionKind.RELEASE, text),
            expected_partner_id=request.claimed_by_id,  # type: ignore[attr-defined]
        )
        if not released:
            raise InvalidTransition(_("This request changed hands meanwhile; reload the page."))
        await record(principal, "request.release", "service_request", request.id, {"reason": text})
        holder_id = request.claimed_by_id  # type: ignore[attr-defined]
        if principal.partner_id is not None and principal.partner_id == holder_id:
            # The partner's own release (board or API); an administrator's is not the partner's churn.
            await _pause_on_churn(principal, holder_id)
    claim_counted("released")
    await request.refresh_from_db()
    return request


async def recent_releases(partner_id: int, now: datetime | None = None) -> int:
    """How many requests the partner released itself within the churn window."""
    since = (now or utc_now()) - timedelta(minutes=churn_limits().window_minutes)
    return await RequestTransition.filter(
        partner_id=partner_id,
        at__gte=since,
        to_status=RequestStatus.OPEN,
        reason__startswith=str(TransitionKind.RELEASE),
    ).count()


async def _pause_on_churn(principal: Principal, partner_id: int) -> None:
    """Past the churn limit: pause the partner's claims, tell the coordinators over its region
    (in-app) and write an audit entry, all in the release's transaction. Only the release that
    starts a pause notifies (a conditional update decides), so a burst of releases notifies once."""
    limits = churn_limits()
    now = utc_now()
    releases = await recent_releases(partner_id, now)
    if releases <= limits.releases:
        return
    until = now + timedelta(minutes=limits.cooldown_minutes)
    started = await Partner.filter(
        Q(claims_paused_until__isnull=True) | Q(claims_paused_until__lte=now), id=partner_id
    ).update(claims_paused_until=until)
    if not started:
        return
    partner = await Partner.get(id=partner_id)
    region = await Region.get(code=partner.region_id)  # type: ignore[attr-defined]
    local_until = to_local(until)
    when = local_until.strftime("%Y-%m-%d %H:%M") if local_until else ""

    def message(_channel: object) -> str:
        return _(
            "{partner} released {count} claimed requests within {minutes} minutes: claiming and "
            "releasing shows households' contacts, so its claims are paused until {time}. Please "
            "check with the organisation."
        ).format(partner=partner.name, count=releases, minutes=limits.window_minutes, time=when)

    coordinators = await coordinators_over(region.path)
    notice_ids = await write_notices(
        to_users(coordinators, message),
        kind="claim_churn",
        dedupe_prefix=f"claim-churn:{partner_id}:{int(until.timestamp())}",
    )
    if notice_ids:
        await outbox.add_job(
            "deliver_notifications",
            notice_ids,
            job_id=f"claim-churn:{partner_id}:{int(until.timestamp())}",
        )
    await record(
        principal,
        "partner.claims_paused",
        "partner",
        partner_id,
        {
            "releases": releases,
            "window_minutes": limits.window_minutes,
            "until": until.isoformat(),
            "coordinators_told": len(notice_ids),
        },
    )


async def lift_claims_pause(principal: Principal, partner_id: int, reason: str) -> tuple[Partner, list[str]]:
    """A coordinator over the partner's region (or the admin) checked with the organisation and lets
    it claim again before the cool-down ends: with a reason, audited, its staff told in-app. Returns
    the partner and the outbox jobs to relay after the commit."""
    require(principal, Action.REVIEW_PARTNERS)
    partner = await get_visible(principal, Action.REVIEW_PARTNERS, partner_id)
    text = " ".join(reason.split())
    if not text:
        raise InvalidInput({"reason": _("Give a reason: it is kept in the organisation's history.")})
    if len(text) > 500:
        raise InvalidInput({"reason": _("At most {count} characters.").format(count=500)})
    now = utc_now()
    async with in_transaction():
        lifted = await Partner.filter(id=partner.id, claims_paused_until__gt=now).update(
            claims_paused_until=None
        )
        if not lifted:
            raise InvalidInput(
                {"reason": _("Its claims are not paused (the pause may have ended meanwhile).")}
            )

        def message(_channel: object) -> str:
            return _(
                "{reviewer} lifted the pause on your organisation's claims: you may claim requests again."
            ).format(reviewer=principal.display_name or principal.username)

        notice_ids = await write_notices(
            to_users(await partner_staff(partner.id), message),
            kind="claims_resumed",
            dedupe_prefix=f"claims-resumed:{partner.id}:{int(now.timestamp())}",
        )
        job_ids = []
        if notice_ids:
            job_ids.append(f"claims-resumed:{partner.id}:{int(now.timestamp())}")
            await outbox.add_job("deliver_notifications", notice_ids, job_id=job_ids[0])
        await record(principal, "partner.claims_resumed", "partner", partner.id, {"reason": text})
    await partner.refresh_from_db()
    return partner, job_ids


async def close_request(
    principal: Principal, request_id: int, reason: CloseReason | str, note: str = ""
) -> ServiceRequest:
    """Close an active request with a reason (completed, no help wanted, unreachable, duplicate, done
    by others, out of scope). The holder or a coordinator of the region may close it."""
    require(principal, Action.CLOSE_REQUESTS)
    if reason not in CloseReason.__members__.values():
        raise InvalidInput({"reason": _("Choose why the request is closed.")})
    close_reason = CloseReason(reason)
    request = await get_visible(principal, Action.CLOSE_REQUESTS, request_id)
    if request.status not in ACTIVE_REQUEST_STATUSES:
        raise InvalidTransition(_("This request is already closed."))
    async with in_transaction():
        await close_active_request(
            request, principal.user_id, close_reason, note, closer_partner_id=principal.partner_id
        )
        await record(principal, "request.close", "service_request", request.id, {"reason": str(close_reason)})
    claim_counted("closed")
    await request.refresh_from_db()
    return request


async def close_active_request(
    request: ServiceRequest,
    actor_id: int | None,
    close_reason: CloseReason,
    note: str = "",
    *,
    closer_partner_id: int | None = None,
) -> None:
    """The close itself, inside the caller's transaction (a coordinator's close, a household's "no
    help wanted", an assessment): status, history, pending transfers denied, and the holder's
    systems told (a webhook) unless the holder closed it itself."""
    to_status = RequestStatus.COMPLETED if close_reason == CloseReason.COMPLETED else RequestStatus.CANCELLED
    closed = await ServiceRequest.filter(id=request.id, status=request.status).update(
        status=to_status, close_reason=close_reason, active_key=None, updated_at=utc_now()
    )
    if not closed:
        raise InvalidTransition(_("This request changed hands meanwhile; reload the page."))
    await append_transition(
        request.id,
        request.status,
        to_status,
        actor_id,
        request.claimed_by_id,  # type: ignore[attr-defined]
        transition_reason(TransitionKind.CLOSE, f"{close_reason} {note}".strip()),
    )
    await _deny_pending_transfers(request.id, "request closed")
    holder = request.claimed_by_id  # type: ignore[attr-defined]
    if holder is not None and holder != closer_partner_id:
        await tell_holder(holder, request.id, "closed", reason=str(close_reason))


async def close_served(
    request_id: int, kind: TransitionKind, actor_id: int | None, served_by: int, note: str = ""
) -> bool:
    """Close an active request that an event of partner `served_by` served (a course completed, a
    hire at a job fair) as completed, inside the caller's transaction. Another partner holding the
    request is told in-app (its visits for it are its own to cancel). False when the request was no
    longer active."""
    request = await ServiceRequest.get_or_none(id=request_id)
    if request is None or request.status not in ACTIVE_REQUEST_STATUSES:
        return False
    closed = await ServiceRequest.filter(id=request.id, status=request.status).update(
        status=RequestStatus.COMPLETED,
        close_reason=CloseReason.COMPLETED,
        active_key=None,
        updated_at=utc_now(),
    )
    if not closed:
        return False
    holder = request.claimed_by_id  # type: ignore[attr-defined]
    await append_transition(
        request.id, request.status, RequestStatus.COMPLETED, actor_id, holder, transition_reason(kind, note)
    )
    await _deny_pending_transfers(request.id, "request closed")
    await tell_holder(holder, request.id, "closed", reason=str(kind))
    if holder is not None and holder != served_by:

        def message(_channel: object) -> str:
            what = (
                _("the household completed a course")
                if kind == TransitionKind.COURSE_COMPLETED
                else _("the household was hired at a job fair")
            )
            return _(
                "Request {request} you hold is closed as completed: {what}. Cancel any visit you planned for it."
            ).format(request=request.id, what=what)

        notice_ids = await write_notices(
            to_users(await partner_staff(holder), message),
            kind="request_served_by_event",
            dedupe_prefix=f"served:{request.id}",
        )
        if notice_ids:
            await outbox.add_job("deliver_notifications", notice_ids, job_id=f"served:{request.id}")
    return True
