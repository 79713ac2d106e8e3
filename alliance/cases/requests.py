"""Opening and closing a household's service requests from casework: an assessment, the household's
own request for help, its "no help wanted". Matching picks new requests up like intake's (the
`match_requests_job` outbox job); closing goes through the claims close and tells the holder."""

from __future__ import annotations

from dataclasses import dataclass, field

from alliance.core.access import Principal
from alliance.core.codes import ACTIVE_REQUEST_STATUSES, CloseReason, RequestStatus, VisitStatus
from alliance.core.i18n import gettext as _
from alliance.households.models import Flag, Household
from alliance.households.needs import active_key, request_priority
from alliance.matching.claims import (
    TransitionKind,
    append_transition,
    close_active_request,
    transition_reason,
)
from alliance.matching.models import ServiceRequest
from alliance.notifications import outbox
from alliance.notifications.notifications import partner_staff, to_users, write_notices
from alliance.visits.models import Visit
from alliance.visits.scheduling import call_off_visit


@dataclass
class RequestChange:
    request: ServiceRequest
    created: bool
    # Outbox job ids to relay after the commit (web.jobs.relay_outbox).
    job_ids: list[str] = field(default_factory=list)


async def open_request(
    household: Household, need: str, actor_id: int | None, kind: TransitionKind, note: str
) -> RequestChange:
    """The household's active request for `need`, or a new open one, queued for matching. Runs in the
    caller's transaction."""
    existing = await ServiceRequest.get_or_none(active_key=active_key(household.id, need))
    if existing is not None:
        return RequestChange(existing, created=False)
    flags = await Flag.filter(household_id=household.id, active=True).values_list("code", flat=True)
    request = await ServiceRequest.create(
        household_id=household.id,
        need_id=need,
        status=RequestStatus.OPEN,
        active_key=active_key(household.id, need),
        priority=request_priority(flags, household.accessibility or [], household.member_count),
    )
    await append_transition(
        request.id, None, RequestStatus.OPEN, actor_id, None, transition_reason(kind, note)
    )
    job = await outbox.add_job("match_requests_job", [request.id], job_id=f"match:case-request:{request.id}")
    return RequestChange(request, created=True, job_ids=[job.job_id])


async def close_for_household(
    principal: Principal, request: ServiceRequest, reason: CloseReason, note: str
) -> list[str]:
    """Close an active request for casework reasons, inside the caller's transaction: scheduled
    visits are called off (household and volunteers told), the request closed through the claims
    close, and the partner holding it told in-app. Returns outbox job ids."""
    job_ids: list[str] = []
    holder = request.claimed_by_id  # type: ignore[attr-defined]
    for visit in await Visit.filter(request_id=request.id, status=VisitStatus.SCHEDULED):
        outcome = await call_off_visit(principal, visit, note or str(reason))
        job_ids += outcome.job_ids
    await request.refresh_from_db()
    if request.status not in ACTIVE_REQUEST_STATUSES:
        return job_ids
    await close_active_request(request, principal.user_id, reason, note)
    if holder is not None:

        def message(_channel: object) -> str:
            return (
                _("Request {request} you hold is closed: {reason}. {note}")
                .format(request=request.id, reason=close_reason_text(reason), note=note)
                .strip()
            )

        notice_ids = await write_notices(
            to_users(await partner_staff(holder), message),
            kind="request_closed_casework",
            dedupe_prefix=f"case-close:{request.id}",
        )
        if notice_ids:
            job = await outbox.add_job("deliver_notifications", notice_ids, job_id=f"case-close:{request.id}")
            job_ids.append(job.job_id)
    return job_ids


def close_reason_text(reason: CloseReason | str) -> str:
    return {
        CloseReason.COMPLETED: _("completed"),
        CloseReason.NO_HELP_WANTED: _("the household wants no help"),
        CloseReason.UNREACHABLE: _("the household cannot be reached"),
        CloseReason.DUPLICATE: _("a duplicate"),
        CloseReason.DONE_BY_OTHERS: _("done by others"),
        CloseReason.OUT_OF_SCOPE: _("out of scope"),
    }.get(reason, str(reason))  # type: ignore[call-overload]
