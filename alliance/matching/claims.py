"""Claims: a partner takes an open request, gives it back, or hands it to another partner; a
coordinator assigns, moves and closes; a claim that does not turn into a visit goes back to the pool.

Every change of hands is one conditional UPDATE inside a transaction, so of any number of
simultaneous attempts exactly one wins, and one appended row of the request's history
(RequestTransition), which is never rewritten. Capacity (OfferingMonth) is taken and given back in
the same transaction as the change it belongs to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, require
from alliance.core.audit import record
from alliance.core.codes import (
    ACTIVE_REQUEST_STATUSES,
    CloseReason,
    NotificationChannel,
    PartnerStatus,
    RequestStatus,
    Role,
    TransferStatus,
)
from alliance.core.errors import AllianceError, InvalidInput, NotFound, PermissionDenied
from alliance.core.i18n import DEFAULT_LANGUAGE, language
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.models import User
from alliance.core.regions import inherited_setting
from alliance.core.timeutil import to_local, utc_now
from alliance.households.models import Household
from alliance.matching.matching import month_key
from alliance.matching.models import Match, OfferingMonth, RequestTransition, ServiceRequest, TransferRequest
from alliance.notifications.models import Notification
from alliance.partners.models import Offering, Partner

DEFAULT_SCHEDULE_WITHIN_DAYS = 6
# After the warning, the holder has this long to schedule before the request goes back to the pool.
DEFAULT_RELEASE_GRACE = timedelta(days=1)
DEFAULT_TRANSFER_ANSWER_WITHIN = timedelta(hours=36)
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
    # Visits (alliance/visits/visits.py).
    SCHEDULE = "schedule"
    VISIT_CANCELLED = "visit_cancelled"
    HOUSEHOLD_DECLINED = "household_declined"
    # Check-in and service records (alliance/visits/checkins.py, alliance/visits/service_records.py).
    CHECK_IN = "check_in"
    SERVICE_RECORDED = "service_recorded"
    FOLLOW_UP = "follow_up"
    RISK_RESOLVED = "risk_resolved"
    # The cockpit's unserved list (alliance/targets/targets.py): a coordinator escalates a household's requests.
    ESCALATE = "escalate"


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
    """One line of a request's history (areas that move a request call it inside their transaction)."""
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
    candidates = Match.filter(request_id=request.id, partner_id=partner_id, offering__active=True)
    if offering_id is not None:
        candidates = candidates.filter(offering_id=offering_id)
    matches = await candidates.order_by("-score", "offering_id").prefetch_related("offering")
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
    return True


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
    await request.refresh_from_db()
    return request


async def assignable_offerings(request: ServiceRequest) -> list[Offering]:
    """Offerings a coordinator may assign the request to: active offerings of approved partners for
    its need; the matched ones first (best score first), then the rest by partner name."""
    offerings = await Offering.filter(
        need_id=request.need_id,  # type: ignore[attr-defined]
        active=True,
        partner__status=PartnerStatus.APPROVED,
    ).prefetch_related("partner")
    scores = dict(
        await Match.filter(request_id=request.id).values_list("offering_id", "score")  # type: ignore[arg-type]
    )
    return sorted(
        offerings,
        key=lambda offering: (
            offering.id not in scores,
            -scores.get(offering.id, 0.0),
            offering.partner.name,
            offering.title,
        ),
    )


async def assign_request(
    principal: Principal, request_id: int, offering_id: int, reason: str = ""
) -> ServiceRequest:
    """A coordinator gives an open request to a partner's offering, or moves a claimed one to
    another offering (of the same or another partner). Capacity moves with it."""
    require(principal, Action.ASSIGN_REQUESTS)
    request = await get_visible(principal, Action.ASSIGN_REQUESTS, request_id)
    offering = await Offering.get_or_none(
        id=offering_id,
        need_id=request.need_id,  # type: ignore[attr-defined]
        active=True,
        partner__status=PartnerStatus.APPROVED,
    )
    if offering is None:
        raise InvalidInput(
            {"offering_id": _("Choose an active offering of an approved partner for this need.")}
        )
    if request.status not in (RequestStatus.OPEN, RequestStatus.CLAIMED):
        raise InvalidTransition(_("Only an open or claimed request can be assigned or moved."))
    if request.offering_id == offering.id:  # type: ignore[attr-defined]
        raise InvalidTransition(_("The request is already with this offering."))
    now = utc_now()
    moving = request.status == RequestStatus.CLAIMED
    kind = TransitionKind.MOVE if moving else TransitionKind.ASSIGN
    async with in_transaction():
        # Conditional on what the coordinator saw: a claim that landed meanwhile is not overwritten.
        changed = await ServiceRequest.filter(
            id=request.id,
            status=request.status,
            claimed_by_id=request.claimed_by_id,  # type: ignore[attr-defined]
            offering_id=request.offering_id,  # type: ignore[attr-defined]
        ).update(
            status=RequestStatus.CLAIMED,
            claimed_by_id=offering.partner_id,  # type: ignore[attr-defined]
            offering_id=offering.id,
            claimed_at=now,
            claim_warned_at=None,
            updated_at=now,
        )
        if not changed:
            raise InvalidTransition(_("This request changed hands meanwhile; reload the page."))
        if moving:
            await _give_place_back(request.offering_id, request.claimed_at)  # type: ignore[attr-defined]
            await _deny_pending_transfers(request.id, "moved by a coordinator")
        if not await _take_place(offering, capacity_month(now)):
            raise CapacityExhausted(offering.title)
        await append_transition(
            request.id,
            request.status,
            RequestStatus.CLAIMED,
            principal.user_id,
            offering.partner_id,  # type: ignore[attr-defined]
            transition_reason(kind, reason),
        )
        await record(
            principal,
            f"request.{kind}",
            "service_request",
            request.id,
            {"offering": offering.id, "from_partner": request.claimed_by_id},  # type: ignore[attr-defined]
        )
    await request.refresh_from_db()
    return request


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
    to_status = RequestStatus.COMPLETED if close_reason == CloseReason.COMPLETED else RequestStatus.CANCELLED
    now = utc_now()
    async with in_transaction():
        closed = await ServiceRequest.filter(id=request.id, status=request.status).update(
            status=to_status, close_reason=close_reason, active_key=None, updated_at=now
        )
        if not closed:
            raise InvalidTransition(_("This request changed hands meanwhile; reload the page."))
        await append_transition(
            request.id,
            request.status,
            to_status,
            principal.user_id,
            request.claimed_by_id,  # type: ignore[attr-defined]
            transition_reason(TransitionKind.CLOSE, f"{close_reason} {note}".strip()),
        )
        await _deny_pending_transfers(request.id, "request closed")
        await record(principal, "request.close", "service_request", request.id, {"reason": str(close_reason)})
    await request.refresh_from_db()
    return request


# --- transfers -------------------------------------------------------------------------------------


async def _staff_of(partner_id: int) -> list[User]:
    return await User.filter(
        partner_id=partner_id, role__in=[Role.PARTNER_ADMIN, Role.DISPATCHER], is_active=True
    )


async def _coordinators_over(region_path: str) -> list[User]:
    """Coordinators whose region contains this one (the community's own chain up to the city)."""
    codes = [code for code in region_path.strip("/").split("/") if code]
    prefixes = ["/" + "/".join(codes[: depth + 1]) + "/" for depth in range(len(codes))]
    return await User.filter(role=Role.COORDINATOR, is_active=True, region__path__in=prefixes)


async def _notify(users: Iterable[User], message: Callable[[], str]) -> list[int]:
    """One in-app notice per user, in the user's own language: `message` is called (and its _()
    translated) with the reader's language active."""
    created = []
    for user in users:
        reader_language = user.language or DEFAULT_LANGUAGE
        with language(reader_language):
            body = message()
        notice = await Notification.create(
            user_id=user.id, channel=NotificationChannel.IN_APP, body=body, language=reader_language
        )
        created.append(notice.id)
    return created


@dataclass
class TransferOutcome:
    transfer: TransferRequest
    notification_ids: list[int] = field(default_factory=list)


async def ask_transfer(
    principal: Principal,
    request_id: int,
    reason: str,
    *,
    answer_within: timedelta = DEFAULT_TRANSFER_ANSWER_WITHIN,
) -> TransferOutcome:
    """Ask the partner holding a request (matched to us) to hand it over. Without an answer in
    `answer_within` it is approved automatically."""
    require(principal, Action.CLAIM_REQUESTS)
    partner_id = _partner_of(principal)
    text = _reason_text(reason)
    request = await get_visible(principal, Action.CLAIM_REQUESTS, request_id)
    await _approved_partner(partner_id)
    holder_id = request.claimed_by_id  # type: ignore[attr-defined]
    if request.status != RequestStatus.CLAIMED or holder_id is None:
        raise InvalidTransition(_("Only a claimed request that has no visit yet can be transferred."))
    if holder_id == partner_id:
        raise InvalidTransition(_("Your organisation already holds this request."))
    best = (
        await Match.filter(request_id=request.id, partner_id=partner_id, offering__active=True)
        .order_by("-score")
        .first()
    )
    if best is None:
        raise NotFound(f"no offering of partner {partner_id} matches request {request.id}")
    if await TransferRequest.exists(
        request_id=request.id, to_partner_id=partner_id, status=TransferStatus.PENDING
    ):
        raise InvalidTransition(_("Your organisation has already asked for this request."))
    now = utc_now()
    async with in_transaction():
        transfer = await TransferRequest.create(
            request_id=request.id,
            from_partner_id=holder_id,
            to_partner_id=partner_id,
            to_offering_id=best.offering_id,  # type: ignore[attr-defined]
            requested_by_id=principal.user_id,
            reason=text,
            due_at=now + answer_within,
        )
        asker = await Partner.get(id=partner_id)
        notices = await _notify(
            await _staff_of(holder_id),
            lambda: _(
                "{partner} asks to take over request #{request} ({need}): {reason}. "
                "Approve or deny it; without an answer it is handed over on {due}."
            ).format(
                partner=asker.name,
                request=request.id,
                need=label(request.need_id),  # type: ignore[attr-defined]
                reason=text,
                due=_when(transfer.due_at),
            ),
        )
        await record(principal, "transfer.ask", "service_request", request.id, {"transfer": transfer.id})
    return TransferOutcome(transfer, notices)


def _when(moment: datetime) -> str:
    local = to_local(moment)
    return local.strftime("%Y-%m-%d %H:%M") if local else ""


async def _apply_transfer(transfer: TransferRequest, actor: Principal | None, auto: bool) -> list[int]:
    """Hand the request over (inside the caller's transaction). Raises InvalidTransition when the
    request is no longer held by the transfer's holder, CapacityExhausted when the asker is full."""
    now = utc_now()
    status = TransferStatus.AUTO_APPROVED if auto else TransferStatus.APPROVED
    decided = await TransferRequest.filter(id=transfer.id, status=TransferStatus.PENDING).update(
        status=status, decided_by_id=actor.user_id if actor else None, decided_at=now
    )
    if not decided:
        raise InvalidTransition(_("This transfer has already been decided."))
    request = await ServiceRequest.get(id=transfer.request_id)  # type: ignore[attr-defined]
    offering = None
    if transfer.to_offering_id is not None:  # type: ignore[attr-defined]
        offering = await Offering.get_or_none(id=transfer.to_offering_id, active=True)  # type: ignore[attr-defined]
    if offering is None:
        offering = await Offering.filter(
            partner_id=transfer.to_partner_id,  # type: ignore[attr-defined]
            need_id=request.need_id,  # type: ignore[attr-defined]
            active=True,
        ).first()
    if offering is None:
        raise InvalidTransition(_("The asking partner no longer has an active offering for this need."))
    moved = await ServiceRequest.filter(
        id=request.id,
        status=RequestStatus.CLAIMED,
        claimed_by_id=transfer.from_partner_id,  # type: ignore[attr-defined]
    ).update(
        claimed_by_id=transfer.to_partner_id,  # type: ignore[attr-defined]
        offering_id=offering.id,
        claimed_at=now,
        claim_warned_at=None,
        updated_at=now,
    )
    if not moved:
        raise InvalidTransition(_("The request is no longer held by the partner asked."))
    await _give_place_back(request.offering_id, request.claimed_at)  # type: ignore[attr-defined]
    if not await _take_place(offering, capacity_month(now)):
        raise CapacityExhausted(offering.title)
    kind = TransitionKind.TRANSFER_AUTO if auto else TransitionKind.TRANSFER
    await append_transition(
        request.id,
        RequestStatus.CLAIMED,
        RequestStatus.CLAIMED,
        actor.user_id if actor else None,
        transfer.to_partner_id,  # type: ignore[attr-defined]
        transition_reason(kind, transfer.reason),
    )
    # Other partners' pending asks for the same request are answered: it has a new holder now.
    await (
        TransferRequest.filter(request_id=request.id, status=TransferStatus.PENDING)
        .exclude(id=transfer.id)
        .update(status=TransferStatus.DENIED, decision_note="handed to another partner", decided_at=now)
    )
    await record(actor, f"transfer.{status}", "service_request", request.id, {"transfer": transfer.id})
    holder = await Partner.get(id=transfer.from_partner_id)  # type: ignore[attr-defined]

    def message() -> str:
        if auto:
            text = _(
                "Request #{request} was handed over to you automatically: {holder} did not answer in time."
            )
        else:
            text = _("{holder} approved your request: request #{request} is now yours.")
        return text.format(holder=holder.name, request=request.id)

    return await _notify(await _staff_of(transfer.to_partner_id), message)  # type: ignore[attr-defined]


async def decide_transfer(
    principal: Principal, transfer_id: int, approve: bool, note: str = ""
) -> TransferOutcome:
    """The holder approves (the request changes hands, capacity with it) or denies a transfer."""
    require(principal, Action.DECIDE_TRANSFERS)
    transfer = await get_visible(principal, Action.DECIDE_TRANSFERS, transfer_id)
    if transfer.status != TransferStatus.PENDING:
        raise InvalidTransition(_("This transfer has already been decided."))
    note = " ".join(note.split())[:255]
    if approve:
        async with in_transaction():
            notices = await _apply_transfer(transfer, principal, auto=False)
            if note:
                await TransferRequest.filter(id=transfer.id).update(decision_note=note)
    else:
        async with in_transaction():
            denied = await TransferRequest.filter(id=transfer.id, status=TransferStatus.PENDING).update(
                status=TransferStatus.DENIED,
                decided_by_id=principal.user_id,
                decided_at=utc_now(),
                decision_note=note,
            )
            if not denied:
                raise InvalidTransition(_("This transfer has already been decided."))
            holder = await Partner.get(id=transfer.from_partner_id)  # type: ignore[attr-defined]
            notices = await _notify(
                await _staff_of(transfer.to_partner_id),  # type: ignore[attr-defined]
                lambda: _("{holder} keeps request #{request}: {note}").format(
                    holder=holder.name,
                    request=transfer.request_id,  # type: ignore[attr-defined]
                    note=note or "—",
                ),
            )
            await record(
                principal,
                "transfer.denied",
                "service_request",
                transfer.request_id,
                {"transfer": transfer.id},  # type: ignore[attr-defined]
            )
    await transfer.refresh_from_db()
    return TransferOutcome(transfer, notices)


@dataclass
class TransferSweep:
    approved: list[int] = field(default_factory=list)
    denied: list[int] = field(default_factory=list)
    notification_ids: list[int] = field(default_factory=list)


async def auto_approve_due_transfers(now: datetime | None = None) -> TransferSweep:
    """Approve every pending transfer whose holder did not answer in time (an arq cron calls this).
    One that can no longer happen (released, closed, the asker full) is denied with the cause.
    Safe to run twice or on two workers at once: each transfer is decided by a conditional update."""
    now = now or utc_now()
    sweep = TransferSweep()
    for transfer in await TransferRequest.filter(status=TransferStatus.PENDING, due_at__lte=now).order_by(
        "id"
    ):
        try:
            async with in_transaction():
                sweep.notification_ids += await _apply_transfer(transfer, None, auto=True)
            sweep.approved.append(transfer.id)
        except ClaimError as failed:
            denied = await TransferRequest.filter(id=transfer.id, status=TransferStatus.PENDING).update(
                status=TransferStatus.DENIED, decided_at=now, decision_note=str(failed)[:255]
            )
            if denied:
                sweep.denied.append(transfer.id)
    return sweep


# --- claims that do not turn into visits -----------------------------------------------------------


async def schedule_within_days(region_paths: Iterable[str]) -> dict[str, int]:
    """The schedule-within days of each region path: the region's own setting, else its nearest
    ancestor's, else the default (6). One query for any number of paths."""
    return await inherited_setting(region_paths, "schedule_claim_within_days", DEFAULT_SCHEDULE_WITHIN_DAYS)


@dataclass
class SweepResult:
    warned: list[int] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    notification_ids: list[int] = field(default_factory=list)


async def sweep_unscheduled_claims(
    now: datetime | None = None, grace: timedelta = DEFAULT_RELEASE_GRACE
) -> SweepResult:
    """Claims must turn into visits. A claim still unscheduled N days after it was made (N: the
    region's setting) is flagged to the holder; one still unscheduled `grace` after that warning goes
    back to the pool and the region's coordinators are told. Safe to run twice: each step is a
    conditional update. The caller re-matches `released` and delivers the notifications."""
    now = now or utc_now()
    result = SweepResult()
    rows = await ServiceRequest.filter(
        status=RequestStatus.CLAIMED, claimed_at__lte=now - timedelta(days=1)
    ).values("id", "need_id", "claimed_at", "claim_warned_at", "claimed_by_id", "household__region__path")
    days_by_path = await schedule_within_days(row["household__region__path"] for row in rows)
    for row in rows:
        days = days_by_path[row["household__region__path"]]
        if row["claim_warned_at"] is None:
            if row["claimed_at"] <= now - timedelta(days=days):
                await _warn_holder(row, days, now, grace, result)
        elif row["claim_warned_at"] <= now - grace:
            await _release_unscheduled(row, days, now, result)
    return result


async def _warn_holder(row: dict, days: int, now: datetime, grace: timedelta, result: SweepResult) -> None:
    async with in_transaction():
        warned = await ServiceRequest.filter(
            id=row["id"], status=RequestStatus.CLAIMED, claim_warned_at__isnull=True
        ).update(claim_warned_at=now)
        if not warned:
            return
        result.warned.append(row["id"])
        result.notification_ids += await _notify(
            await _staff_of(row["claimed_by_id"]),
            lambda: _(
                "Request #{request} ({need}) was claimed {days} days ago and has no visit yet. "
                "Schedule it by {deadline} or it goes back to the pool."
            ).format(request=row["id"], need=label(row["need_id"]), days=days, deadline=_when(now + grace)),
        )


async def _release_unscheduled(row: dict, days: int, now: datetime, result: SweepResult) -> None:
    request = await ServiceRequest.get(id=row["id"])
    async with in_transaction():
        released = await return_to_pool(
            request,
            None,
            transition_reason(TransitionKind.UNSCHEDULED),
            expected_partner_id=row["claimed_by_id"],
        )
        if not released:
            return
        result.released.append(row["id"])
        household = await Household.get(id=request.household_id).prefetch_related("region")  # type: ignore[attr-defined]
        holder = await Partner.get(id=row["claimed_by_id"])
        result.notification_ids += await _notify(
            await _coordinators_over(household.region.path),
            lambda: _(
                "Request #{request} ({need}) in {community} was not scheduled by {partner} within "
                "{days} days and is back in the pool."
            ).format(
                request=row["id"],
                need=label(row["need_id"]),
                community=household.region.name,
                partner=holder.name,
                days=days,
            ),
        )
        result.notification_ids += await _notify(
            await _staff_of(row["claimed_by_id"]),
            lambda: _("Request #{request} was not scheduled in time and has gone back to the pool.").format(
                request=row["id"]
            ),
        )
        await record(None, "request.unscheduled_release", "service_request", request.id, {"days": days})
