"""Transfers between partners: ask the holder for a claimed request, approve or deny, auto-approve."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, partner_in_good_standing, require
from alliance.core.audit import record
from alliance.core.codes import RequestStatus, TransferStatus
from alliance.core.config import default_transfer_auto_approve_hours
from alliance.core.errors import NotFound
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.regions import inherited_setting
from alliance.core.timeutil import utc_now
from alliance.households.models import Household
from alliance.matching.claims import (
    CapacityExhausted,
    ClaimError,
    InvalidTransition,
    TransitionKind,
    _approved_partner,
    _give_place_back,
    _partner_of,
    _reason_text,
    _take_place,
    append_transition,
    capacity_month,
    tell_holder,
    transition_reason,
)
from alliance.matching.models import Match, ServiceRequest, TransferRequest
from alliance.matching.notices import _notify, _staff_of, _when
from alliance.partners.models import Offering, Partner


async def auto_approve_hours(region_paths: Iterable[str]) -> dict[str, int]:
    """The hours a holder has to answer a transfer, for each region path: the region's own setting,
    else its nearest ancestor's, else TRANSFER_AUTO_APPROVE_HOURS (36). One query for any number."""
    return await inherited_setting(
        region_paths, "transfer_auto_approve_hours", default_transfer_auto_approve_hours()
    )


@dataclass
class TransferOutcome:
    transfer: TransferRequest
    notification_ids: list[int] = field(default_factory=list)


async def ask_transfer(
    principal: Principal,
    request_id: int,
    reason: str,
    *,
    answer_within: timedelta | None = None,
) -> TransferOutcome:
    """Ask the partner holding a request (matched to us) to hand it over. Without an answer in
    `answer_within` (by default the hours of the household's region, `auto_approve_hours`) it is
    approved automatically; the holder is told that moment, so a later change of the region's hours
    leaves it as it was."""
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
    if answer_within is None:
        household = request.household_id  # type: ignore[attr-defined]
        path = await Household.get(id=household).values_list("region__path", flat=True)
        answer_within = timedelta(hours=(await auto_approve_hours([path]))[path])
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
            kind="transfer",
        )
        await record(principal, "transfer.ask", "service_request", request.id, {"transfer": transfer.id})
    return TransferOutcome(transfer, notices)


async def _apply_transfer(transfer: TransferRequest, actor: Principal | None, auto: bool) -> list[int]:
    """Hand the request over (inside the caller's transaction). Raises InvalidTransition when the
    request is no longer held by the transfer's holder, CapacityExhausted when the asker is full."""
    now = utc_now()
    # The asker may have been suspended or closed since it asked: nothing is handed to it.
    if not await partner_in_good_standing(transfer.to_partner_id):  # type: ignore[attr-defined]
        raise InvalidTransition(_("The asking partner is no longer approved."))
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
    await tell_holder(transfer.from_partner_id, request.id, "transferred_away", transfer_id=transfer.id)  # type: ignore[attr-defined]
    await tell_holder(transfer.to_partner_id, request.id, "transferred_to_you", transfer_id=transfer.id)  # type: ignore[attr-defined]
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

    return await _notify(await _staff_of(transfer.to_partner_id), message, kind="transfer")  # type: ignore[attr-defined]


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
                kind="transfer",
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
