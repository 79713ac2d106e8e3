"""Claims that do not turn into visits: the holder is warned, then the request goes back to the pool."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from alliance.core.audit import record
from alliance.core.codes import RequestStatus
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.metrics import claim_counted
from alliance.core.regions import inherited_setting
from alliance.core.timeutil import utc_now
from alliance.households.models import Household
from alliance.matching.claims import TransitionKind, return_to_pool, transition_reason
from alliance.matching.models import ServiceRequest
from alliance.matching.notices import _coordinators_over, _notify, _staff_of, _when
from alliance.partners.models import Partner

DEFAULT_SCHEDULE_WITHIN_DAYS = 6
# After the warning, the holder has this long to schedule before the request goes back to the pool.
DEFAULT_RELEASE_GRACE = timedelta(days=1)


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
            kind="unscheduled_claim",
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
            kind="unscheduled_claim",
        )
        result.notification_ids += await _notify(
            await _staff_of(row["claimed_by_id"]),
            lambda: _("Request #{request} was not scheduled in time and has gone back to the pool.").format(
                request=row["id"]
            ),
            kind="unscheduled_claim",
        )
        await record(None, "request.unscheduled_release", "service_request", request.id, {"days": days})
    claim_counted("released_unscheduled")
