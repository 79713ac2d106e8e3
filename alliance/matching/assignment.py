"""A coordinator assigns an open request to an offering or moves a claimed one, capacity with it."""

from __future__ import annotations

from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, require
from alliance.core.audit import record
from alliance.core.codes import PartnerStatus, RequestStatus
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.metrics import claim_counted
from alliance.core.timeutil import utc_now
from alliance.matching.claims import (
    CapacityExhausted,
    InvalidTransition,
    TransitionKind,
    _deny_pending_transfers,
    _give_place_back,
    _take_place,
    append_transition,
    capacity_month,
    tell_holder,
    transition_reason,
)
from alliance.matching.models import Match, ServiceRequest
from alliance.partners.models import Offering


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
        if moving:
            await tell_holder(request.claimed_by_id, request.id, "moved_away")  # type: ignore[attr-defined]
        await tell_holder(offering.partner_id, request.id, "assigned_to_you", offering_id=offering.id)  # type: ignore[attr-defined]
        await record(
            principal,
            f"request.{kind}",
            "service_request",
            request.id,
            {"offering": offering.id, "from_partner": request.claimed_by_id},  # type: ignore[attr-defined]
        )
    claim_counted(str(kind))  # a coordinator's assign or move
    await request.refresh_from_db()
    return request
