"""Reviewing partners: the list the bureau reviews, and a partner's lifecycle (approve, suspend,
reinstate, close) with its history.

Who: the coordinator of the partner's region (or of a region above it) and the admin
(`Action.REVIEW_PARTNERS`). What the partner's staff may do in each state is decided in
`alliance/core/access.py`; what a suspension or closure does to the partner's claims and visits is
`alliance/events/partner_lifecycle.py`, which calls `set_partner_status` inside its transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, require, visible
from alliance.core.audit import record
from alliance.core.codes import PartnerStatus, Role
from alliance.core.errors import InvalidInput
from alliance.core.i18n import DEFAULT_LANGUAGE, language
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.models import AuditEntry, User
from alliance.core.timeutil import utc_now
from alliance.notifications.models import Notification
from alliance.partners.models import Partner

MAX_REASON = 500
# Where a partner may go from each state. Closed is for good: nothing leaves it.
TRANSITIONS: dict[PartnerStatus, frozenset[PartnerStatus]] = {
    PartnerStatus.PENDING: frozenset({PartnerStatus.APPROVED, PartnerStatus.CLOSED}),
    PartnerStatus.APPROVED: frozenset({PartnerStatus.SUSPENDED, PartnerStatus.CLOSED}),
    PartnerStatus.SUSPENDED: frozenset({PartnerStatus.APPROVED, PartnerStatus.CLOSED}),
    PartnerStatus.CLOSED: frozenset(),
}
# The audit actions that make up a partner's history.
HISTORY_ACTIONS = tuple(f"partner.{status}" for status in PartnerStatus) + (
    "partner.reinstated",
    "partner.rejected",
    "partner.applied",
    "partner.changes_requested",
    "partner.resubmitted",
    "partner.claims_paused",
    "partner.claims_resumed",
)


async def partners_for_review(principal: Principal, status: str = "") -> list[Partner]:
    query = visible(principal, Action.REVIEW_PARTNERS)
    if status:
        query = query.filter(status=status)
    return await query.order_by("status", "name").prefetch_related("region")


def next_statuses(partner: Partner) -> list[PartnerStatus]:
    """The states a reviewer may move this partner to, in the order the page offers them."""
    allowed = TRANSITIONS[PartnerStatus(partner.status)]
    return [status for status in PartnerStatus if status in allowed]


def reason_required(current: PartnerStatus | str, wanted: PartnerStatus | str) -> bool:
    # Approving an application needs no words; suspending, reinstating and closing do.
    return not (current == PartnerStatus.PENDING and wanted == PartnerStatus.APPROVED)


@dataclass(frozen=True)
class StatusChange:
    partner: Partner
    previous: PartnerStatus
    notification_ids: list[int]
    first_approval: bool = False


def _staff_notice(status: PartnerStatus, previous: PartnerStatus, name: str, reason: str) -> str:
    if status == PartnerStatus.CLOSED and previous == PartnerStatus.PENDING:
        body = _("The application of {name} was rejected.")
    elif status == PartnerStatus.APPROVED and previous == PartnerStatus.SUSPENDED:
        body = _(
            "Your organisation {name} is reinstated: you can publish offerings and claim requests again."
        )
    elif status == PartnerStatus.APPROVED:
        body = _("Your organisation {name} is approved: you can publish offerings and claim requests.")
    elif status == PartnerStatus.SUSPENDED:
        body = _("Your organisation {name} has been suspended. Contact the civil-affairs bureau.")
    else:
        body = _("Your organisation {name} has been closed.")
    body = body.format(name=name)
    return f"{body} {_('Reason: {reason}').format(reason=reason)}" if reason else body


async def set_partner_status(
    principal: Principal, partner_id: int, status: PartnerStatus | str, reason: str = ""
) -> StatusChange:
    """Move a partner along its lifecycle with the reviewer's reason, recorded in its history (the
    audit log); its staff are told in-app. Refuses a move the lifecycle does not allow (a closed
    partner is never reinstated). Runs in the caller's transaction when there is one."""
    require(principal, Action.REVIEW_PARTNERS)
    partner = await get_visible(principal, Action.REVIEW_PARTNERS, partner_id)
    if status not in PartnerStatus.__members__.values():
        raise InvalidInput({"status": _("Choose approve, suspend, reinstate or close.")})
    wanted = PartnerStatus(status)
    previous = PartnerStatus(partner.status)
    text = " ".join(reason.split())
    if wanted not in TRANSITIONS[previous]:
        if previous == PartnerStatus.CLOSED:
            raise InvalidInput({"status": _("This organisation is closed: it cannot be reinstated.")})
        raise InvalidInput(
            {
                "status": _("An organisation that is {current} cannot be made {wanted}.").format(
                    current=label(previous), wanted=label(wanted)
                )
            }
        )
    if reason_required(previous, wanted) and not text:
        raise InvalidInput({"reason": _("Give a reason: it is kept in the organisation's history.")})
    if len(text) > MAX_REASON:
        raise InvalidInput({"reason": _("At most {count} characters.").format(count=MAX_REASON)})
    async with in_transaction():
        now = utc_now()
        first_approval = previous == PartnerStatus.PENDING and wanted == PartnerStatus.APPROVED
        changed = await Partner.filter(id=partner.id, status=previous).update(
            status=wanted,
            status_changed_at=now,
            **({"approved_at": now, "changes_requested": ""} if first_approval else {}),
        )
        if not changed:
            raise InvalidInput({"status": _("This organisation changed meanwhile; reload the page.")})
        await partner.refresh_from_db()
        reinstated = previous == PartnerStatus.SUSPENDED and wanted == PartnerStatus.APPROVED
        rejected = previous == PartnerStatus.PENDING and wanted == PartnerStatus.CLOSED
        action = (
            "partner.reinstated" if reinstated else "partner.rejected" if rejected else f"partner.{wanted}"
        )
        await record(
            principal,
            action,
            "partner",
            partner.id,
            {"from": str(previous), "to": str(wanted), "reason": text},
        )
        staff = await User.filter(
            partner_id=partner.id, role__in=[Role.PARTNER_ADMIN, Role.DISPATCHER], is_active=True
        )
        created = []
        for user in staff:
            # Each person is told in their own language, not the reviewer's.
            with language(user.language or DEFAULT_LANGUAGE):
                body = _staff_notice(wanted, previous, partner.name, text)
            created.append(
                await Notification.create(
                    user_id=user.id,
                    channel="in_app",
                    kind="partner_status",
                    body=body,
                    language=user.language or DEFAULT_LANGUAGE,
                )
            )
    return StatusChange(partner, previous, [notification.id for notification in created], first_approval)


# Steps of an application that are not a status of their own: shown by their name.
_NAMED_STEPS = (
    "partner.rejected",
    "partner.changes_requested",
    "partner.resubmitted",
    "partner.claims_paused",
    "partner.claims_resumed",
)


def _history_step(entry: AuditEntry) -> str:
    if entry.action in _NAMED_STEPS:
        return entry.action.removeprefix("partner.")
    return str(entry.details.get("to", entry.action.removeprefix("partner.")))


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    action: str
    from_status: str
    to_status: str
    reason: str
    actor_name: str


async def partner_history(principal: Principal, partner_id: int) -> list[HistoryEntry]:
    """The partner's lifecycle, newest first: who approved, suspended, reinstated or closed it, when and why."""
    partner = await get_visible(principal, Action.VIEW_PARTNER, partner_id)
    entries = (
        await AuditEntry.filter(object_type="partner", object_id=str(partner.id), action__in=HISTORY_ACTIONS)
        .order_by("-at", "-id")
        .prefetch_related("actor")
    )
    return [
        HistoryEntry(
            at=entry.at,
            action=entry.action.removeprefix("partner."),
            from_status=str(entry.details.get("from", "")),
            to_status=_history_step(entry),
            reason=str(entry.details.get("reason", "")),
            actor_name=entry.actor.display_name if entry.actor else "",
        )
        for entry in entries
    ]
