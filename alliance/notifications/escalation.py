"""What did not happen in time is raised to someone who can act: a request nobody claimed within the
region's days goes to the region's coordinators; a visit nobody checked in at is marked missed and
the partner's dispatchers are told. Both run as arq crons and are safe to run twice or on two
workers at once: each step is one conditional update, and only its winner writes the notices."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from alliance.core.audit import record
from alliance.core.codes import RequestStatus, VisitStatus
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.models import Region
from alliance.core.regions import inherited_setting
from alliance.core.timeutil import utc_now
from alliance.matching.models import ServiceRequest
from alliance.notifications.notifications import (
    NotificationChannel,
    coordinators_over,
    partner_staff,
    to_users,
    write_notices,
)
from alliance.notifications.speech import written_window
from alliance.visits.models import CheckIn, Visit

DEFAULT_ESCALATE_AFTER_DAYS = 3
# A visit with no check-in this long after its window ends is missed.
MISSED_AFTER = timedelta(hours=2)


async def escalate_after_days(region_paths: Iterable[str]) -> dict[str, int]:
    """The escalation days of each region path: the region's own setting, else its nearest
    ancestor's, else the default (3). One query for any number of paths."""
    return await inherited_setting(region_paths, "escalate_unclaimed_after_days", DEFAULT_ESCALATE_AFTER_DAYS)


@dataclass
class EscalationSweep:
    escalated: list[int] = field(default_factory=list)
    notification_ids: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, int]:
        return {"escalated": len(self.escalated), "notifications": len(self.notification_ids)}


async def escalate_unclaimed_requests(now: datetime | None = None) -> EscalationSweep:
    """Open requests unclaimed N days after they were raised (N: the region's setting) are marked
    escalated, once, and the coordinators over the household's region are told. The caller
    delivers the notifications."""
    now = now or utc_now()
    sweep = EscalationSweep()
    configured = await Region.filter(escalate_unclaimed_after_days__isnull=False).values_list(
        "escalate_unclaimed_after_days", flat=True
    )
    shortest = min([DEFAULT_ESCALATE_AFTER_DAYS, *(int(days) for days in configured)])
    rows = await ServiceRequest.filter(
        status=RequestStatus.OPEN, escalated=False, created_at__lte=now - timedelta(days=shortest)
    ).values("id", "need_id", "created_at", "household__region__path", "household__region__name")
    days_by_path = await escalate_after_days(row["household__region__path"] for row in rows)
    for row in rows:
        days = days_by_path[row["household__region__path"]]
        if row["created_at"] > now - timedelta(days=days):
            continue
        async with in_transaction():
            won = await ServiceRequest.filter(
                id=row["id"], status=RequestStatus.OPEN, escalated=False
            ).update(escalated=True, escalated_at=now)
            if not won:
                continue
            sweep.escalated.append(row["id"])

            def message(_channel: NotificationChannel, row: dict = row, days: int = days) -> str:
                return _(
                    "Request #{request} ({need}) in {community} has not been claimed in {days} days. "
                    "Assign it to a partner or find one."
                ).format(
                    request=row["id"],
                    need=label(row["need_id"]),
                    community=row["household__region__name"],
                    days=days,
                )

            sweep.notification_ids += await write_notices(
                to_users(await coordinators_over(row["household__region__path"]), message),
                kind="request_escalated",
                dedupe_prefix=f"escalated:{row['id']}",
            )
            await record(None, "request.escalated", "service_request", row["id"], {"days": days})
    return sweep


@dataclass
class MissedSweep:
    missed: list[int] = field(default_factory=list)
    notification_ids: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, int]:
        return {"missed": len(self.missed), "notifications": len(self.notification_ids)}


async def mark_missed_visits(now: datetime | None = None, grace: timedelta = MISSED_AFTER) -> MissedSweep:
    """Scheduled visits with no check-in `grace` after their window ended are marked missed, once,
    and the partner's dispatchers are told to schedule again or close the request."""
    now = now or utc_now()
    sweep = MissedSweep()
    visits = await Visit.filter(status=VisitStatus.SCHEDULED, window_end__lte=now - grace).prefetch_related(
        "request__household"
    )
    for visit in visits:
        if await CheckIn.exists(visit_id=visit.id):
            continue
        async with in_transaction():
            won = await Visit.filter(id=visit.id, status=VisitStatus.SCHEDULED).update(
                status=VisitStatus.MISSED, updated_at=now
            )
            if not won:
                continue
            sweep.missed.append(visit.id)
            household = visit.request.household

            def message(
                _channel: NotificationChannel, visit: Visit = visit, name: str = household.head_name
            ) -> str:
                return _(
                    "Nobody checked in at the visit to {name} ({window}, request #{request}); it is "
                    "marked missed. Schedule it again or close the request."
                ).format(
                    name=name,
                    window=written_window(visit.window_start, visit.window_end),
                    request=visit.request_id,  # type: ignore[attr-defined]
                )

            sweep.notification_ids += await write_notices(
                to_users(await partner_staff(visit.partner_id), message),  # type: ignore[attr-defined]
                kind="visit_missed",
                visit_id=visit.id,
                dedupe_prefix=f"missed:{visit.id}",
            )
            await record(None, "visit.missed", "visit", visit.id, {})
    return sweep
