"""What a household's consent does to the work around it. Withdrawing consent to share (or letting it
expire) takes the household off every claim board at once (its stored matches go; matching no longer
offers it, `Household.matchable`), calls off its scheduled visits through the visits' own service
(household and volunteers told) and tells each partner's staff why. Claims and history are kept.

It lives in `visits`, the highest area it reaches."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from alliance.core.access import Principal
from alliance.core.codes import RequestStatus, Role, VisitStatus
from alliance.core.i18n import gettext as _
from alliance.core.models import Region
from alliance.core.timeutil import utc_now
from alliance.households import consent
from alliance.households.models import Household
from alliance.matching.models import Match, ServiceRequest
from alliance.notifications import outbox
from alliance.notifications.notifications import NotificationChannel, partner_staff, to_users, write_notices
from alliance.visits.models import Visit
from alliance.visits.scheduling import call_off_visit


@dataclass
class ConsentOutcome:
    household: Household | None = None
    cancelled_visit_ids: list[int] = field(default_factory=list)
    # Outbox jobs (visit notices, partner notices): relay them after the commit.
    job_ids: list[str] = field(default_factory=list)
    # Open requests whose matches changed: re-match them (they may be offered again).
    request_ids: list[int] = field(default_factory=list)


async def record_consent(principal: Principal, household_id: int, **answers: object) -> ConsentOutcome:
    """Record consent (alliance/households/consent.py) and, when sharing stopped, take the household
    off the boards and call off its visits, in one transaction."""
    async with in_transaction():
        change = await consent.record_consent(principal, household_id, **answers)  # type: ignore[arg-type]
        outcome = ConsentOutcome(change.household)
        if change.sharing_stopped:
            await _stop_sharing(principal, change.household.id, outcome)
        outcome.request_ids = await _open_requests(change.household.id)
    return outcome


async def verify_household(
    principal: Principal, household_id: int, method: str, note: str = "", address: str = ""
) -> ConsentOutcome:
    async with in_transaction():
        household = await consent.verify_household(principal, household_id, method, note, address)
    return ConsentOutcome(household, request_ids=await _open_requests(household.id))


async def expire_consents(now: datetime | None = None) -> ConsentOutcome:
    """The cron: expired consents stop sharing, like a withdrawal."""
    outcome = ConsentOutcome()
    async with in_transaction():
        for household_id in await consent.expire_consents(now):
            await _stop_sharing(None, household_id, outcome)
    return outcome


async def set_verification_required(
    principal: Principal, region_code: str, value: bool | None, address: str = ""
) -> tuple[Region, list[int]]:
    """Set the region's policy (alliance/households/consent.py); households it now holds back leave
    the boards at once. Returns the region and the open requests of the subtree's households that
    matching may offer, to be matched again."""
    async with in_transaction():
        region = await consent.set_verification_required(principal, region_code, value, address)
        held_back = await consent.unmatchable_household_ids(region.path)
        for start in range(0, len(held_back), 1000):
            part = held_back[start : start + 1000]
            await Match.filter(
                request_id__in=Subquery(ServiceRequest.filter(household_id__in=part).values("id"))
            ).delete()
    offered = await ServiceRequest.filter(
        status=RequestStatus.OPEN,
        household__matchable=True,
        household__region__path__startswith=region.path,
    ).values_list("id", flat=True)
    return region, list(offered)


async def _open_requests(household_id: int) -> list[int]:
    return list(
        await ServiceRequest.filter(household_id=household_id, status=RequestStatus.OPEN).values_list(
            "id", flat=True
        )
    )


async def _stop_sharing(principal: Principal | None, household_id: int, outcome: ConsentOutcome) -> None:
    # Off every board now: the stored matches of its requests go (matching will not store new ones).
    await Match.filter(
        request_id__in=Subquery(ServiceRequest.filter(household_id=household_id).values("id"))
    ).delete()
    visits = await Visit.filter(
        request__household_id=household_id, status=VisitStatus.SCHEDULED, window_end__gt=utc_now()
    ).order_by("id")
    reason = _("The household withdrew its consent to share its details.")
    notice_ids: list[int] = []
    for visit in visits:
        called_off = await call_off_visit(principal or _SYSTEM, visit, reason)
        outcome.job_ids += called_off.job_ids
        outcome.cancelled_visit_ids.append(visit.id)
        staff = await partner_staff(visit.partner_id)  # type: ignore[attr-defined]

        def message(_channel: NotificationChannel, visit: Visit = visit) -> str:
            return _(
                "Visit #{visit} is cancelled: the household withdrew its consent to share its details. "
                "Do not contact it; its history is kept."
            ).format(visit=visit.id)

        notice_ids += await write_notices(
            to_users(staff, message), kind="consent_withdrawn", visit_id=visit.id
        )
    if notice_ids:
        job = await outbox.add_job(
            "deliver_notifications",
            notice_ids,
            job_id=f"consent:{household_id}:{notice_ids[0]}-{notice_ids[-1]}",
        )
        outcome.job_ids.append(job.job_id)


# The platform itself acting (the expiry cron): the audit entries name no person.
_SYSTEM = Principal(user_id=None, username="system", display_name="system", role=Role.ADMIN)  # type: ignore[arg-type]


def operator_principal() -> Principal:
    """The operator at the command line (`alliance region-policy`): an administrator's powers, named
    "cli" in the audit trail."""
    return Principal(user_id=None, username="cli", display_name="cli", role=Role.ADMIN)  # type: ignore[arg-type]
