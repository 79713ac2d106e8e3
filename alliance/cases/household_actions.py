"""What a household starts: ask for help with a need, report a change (a new difficulty, a move, a
new phone), or say "no help wanted". A household account does it for itself (/my-household); its
community worker or coordinator does it for it, recorded as on behalf (the audit entry names the
worker, and `on_behalf` is set). A change is kept as reported and its community workers are told
to verify it; "no help wanted" closes every open request through the casework close (visits
called off, partners told)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tortoise.transactions import in_transaction

from alliance.cases.models import HouseholdChange
from alliance.cases.requests import close_for_household, open_request
from alliance.core.access import Action, Principal, get_visible, require
from alliance.core.audit import record
from alliance.core.codes import ACTIVE_REQUEST_STATUSES, ChangeKind, CloseReason, NeedCode, Role
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.timeutil import utc_now
from alliance.households.models import Household
from alliance.matching.claims import TransitionKind
from alliance.matching.models import ServiceRequest
from alliance.notifications import outbox
from alliance.notifications.notifications import community_workers_of, to_users, write_notices

MAX_TEXT = 1000


@dataclass
class ActionOutcome:
    household: Household
    requests: list[int] = field(default_factory=list)
    created: bool = False
    change: HouseholdChange | None = None
    job_ids: list[str] = field(default_factory=list)


async def _household(principal: Principal, household_id: int | None) -> tuple[Household, bool]:
    """The household acted on, and whether a worker acts for it."""
    if principal.role == Role.HOUSEHOLD:
        require(principal, Action.ACT_AS_HOUSEHOLD)
        return await get_visible(principal, Action.ACT_AS_HOUSEHOLD, principal.household_id or 0), False
    require(principal, Action.CASEWORK)
    return await get_visible(principal, Action.CASEWORK, household_id or 0), True


async def _tell_workers(household: Household, kind: str, message_for, key: str) -> list[str]:  # type: ignore[no-untyped-def]
    outgoing = [
        replace(item, household_id=household.id)
        for item in to_users(await community_workers_of(household), message_for)
    ]
    notice_ids = await write_notices(outgoing, kind=kind, dedupe_prefix=key)
    if not notice_ids:
        return []
    return [(await outbox.add_job("deliver_notifications", notice_ids, job_id=key)).job_id]


async def ask_for_help(principal: Principal, household_id: int | None, need: str, text: str) -> ActionOutcome:
    household, on_behalf = await _household(principal, household_id)
    errors = {}
    if need not in NeedCode.__members__.values():
        errors["need"] = _("Choose what the household needs help with.")
    if len(text) > MAX_TEXT:
        errors["text"] = _("At most {most} characters.").format(most=MAX_TEXT)
    if errors:
        raise InvalidInput(errors)
    async with in_transaction():
        change = await open_request(household, need, principal.user_id, TransitionKind.ASKED, text.strip())
        job_ids = list(change.job_ids)
        if change.created and not on_behalf:

            def message(_channel: object) -> str:
                return (
                    _("{name} asked for help: {need}. {text}")
                    .format(name=household.head_name, need=label(NeedCode(need)), text=text.strip())
                    .strip()
                )

            job_ids += await _tell_workers(
                household, "household_asked", message, f"asked:{change.request.id}"
            )
        await record(
            principal,
            "household.ask_for_help",
            "household",
            household.id,
            {"need": need, "on_behalf": on_behalf, "request": change.request.id, "created": change.created},
            households=[household.id],
        )
    return ActionOutcome(household, [change.request.id], change.created, job_ids=job_ids)


async def report_change(
    principal: Principal, household_id: int | None, kind: str, details: str
) -> ActionOutcome:
    household, on_behalf = await _household(principal, household_id)
    errors = {}
    if kind not in ChangeKind.__members__.values():
        errors["kind"] = _("Choose what changed.")
    if not details.strip():
        errors["details"] = _("Required: what changed (the new difficulty, the new address, the new phone).")
    elif len(details) > MAX_TEXT:
        errors["details"] = _("At most {most} characters.").format(most=MAX_TEXT)
    if errors:
        raise InvalidInput(errors)
    async with in_transaction():
        change = await HouseholdChange.create(
            household_id=household.id,
            kind=ChangeKind(kind),
            details=details.strip(),
            reported_by_id=principal.user_id,
            on_behalf=on_behalf,
        )

        def message(_channel: object) -> str:
            return _("{name} reported a change ({kind}): {details}. Please verify it.").format(
                name=household.head_name, kind=change_kind_label(kind), details=details.strip()
            )

        job_ids = await _tell_workers(household, "household_change", message, f"change:{change.id}")
        await record(
            principal,
            "household.report_change",
            "household",
            household.id,
            {"kind": kind, "on_behalf": on_behalf, "change": change.id},
            households=[household.id],
        )
    return ActionOutcome(household, change=change, job_ids=job_ids)


async def verify_change(principal: Principal, change_id: int) -> HouseholdChange:
    """The worker checked the reported change (and updated what needs updating)."""
    require(principal, Action.CASEWORK)
    change = await HouseholdChange.get_or_none(id=change_id)
    if change is None:
        raise InvalidInput({"change": _("No such change.")})
    await get_visible(principal, Action.CASEWORK, change.household_id)  # type: ignore[attr-defined]
    if change.verified_at is not None:
        return change
    async with in_transaction():
        change.verified_by_id = principal.user_id  # type: ignore[attr-defined]
        change.verified_at = utc_now()
        await change.save(update_fields=["verified_by_id", "verified_at"])
        await record(
            principal, "household.change_verified", "household", change.household_id, {"change": change.id}
        )  # type: ignore[attr-defined]
    return change


async def decline_help(principal: Principal, household_id: int | None, note: str) -> ActionOutcome:
    """ "No help wanted": every active request closed with that reason; its partners told."""
    household, on_behalf = await _household(principal, household_id)
    if len(note) > 255:
        raise InvalidInput({"note": _("At most {most} characters.").format(most=255)})
    job_ids: list[str] = []
    closed: list[int] = []
    async with in_transaction():
        for request in await ServiceRequest.filter(
            household_id=household.id, status__in=list(ACTIVE_REQUEST_STATUSES)
        ).order_by("id"):
            job_ids += await close_for_household(principal, request, CloseReason.NO_HELP_WANTED, note.strip())
            closed.append(request.id)
        if not on_behalf:

            def message(_channel: object) -> str:
                return (
                    _("{name} says no help is wanted; {count} open request(s) closed. {note}")
                    .format(name=household.head_name, count=len(closed), note=note.strip())
                    .strip()
                )

            job_ids += await _tell_workers(
                household,
                "household_declined_help",
                message,
                f"no-help:{household.id}:{utc_now().timestamp():.0f}",
            )
        await record(
            principal,
            "household.decline_help",
            "household",
            household.id,
            {"on_behalf": on_behalf, "requests": closed, "note": note.strip()},
            households=[household.id],
        )
    return ActionOutcome(household, closed, job_ids=job_ids)


def change_kind_label(kind: str) -> str:
    return {
        ChangeKind.NEW_DIFFICULTY: _("new difficulty"),
        ChangeKind.MOVED: _("moved"),
        ChangeKind.PHONE_CHANGED: _("phone changed"),
    }.get(kind, kind)  # type: ignore[call-overload]
