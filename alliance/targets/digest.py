"""The coordinators' daily digest: what changed in their region in the last day, in one in-app
notice each, once per coordinator and local day (a cron run twice writes one digest)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from alliance.core.codes import RequestStatus, Role, VisitStatus
from alliance.core.i18n import gettext as _
from alliance.core.models import User
from alliance.core.timeutil import to_local, utc_now
from alliance.households.models import Flag
from alliance.matching.models import ServiceRequest
from alliance.notifications.notifications import NotificationChannel, to_users, write_notices
from alliance.visits.models import Visit


@dataclass(frozen=True)
class RegionDigest:
    new_flags: int
    open_requests: int
    escalated: int
    scheduled: int
    missed: int


async def region_digest(region_path: str, now: datetime | None = None) -> RegionDigest:
    """Counts for one region subtree: flags raised and visits missed in the last 24 h, requests open
    (and escalated among them) now, visits scheduled for the next 24 h."""
    now = now or utc_now()
    since, until = now - timedelta(days=1), now + timedelta(days=1)
    in_region = {"household__region__path__startswith": region_path}
    open_requests = ServiceRequest.filter(status=RequestStatus.OPEN, **in_region)
    visits = Visit.filter(request__household__region__path__startswith=region_path)
    return RegionDigest(
        new_flags=await Flag.filter(active=True, detected_at__gte=since, **in_region).count(),
        open_requests=await open_requests.count(),
        escalated=await open_requests.filter(escalated=True).count(),
        scheduled=await visits.filter(
            status=VisitStatus.SCHEDULED, window_start__gte=now, window_start__lt=until
        ).count(),
        missed=await visits.filter(
            status=VisitStatus.MISSED, window_end__gte=since - timedelta(hours=2)
        ).count(),
    )


async def send_daily_digest(now: datetime | None = None) -> list[int]:
    """Write each active coordinator's digest for today (Asia/Shanghai). Returns the notification ids
    (also those written by an earlier run today), for the caller to deliver."""
    now = now or utc_now()
    local_day = to_local(now).date().isoformat()  # type: ignore[union-attr]
    written: list[int] = []
    coordinators = await User.filter(role=Role.COORDINATOR, is_active=True).prefetch_related("region")
    for coordinator in coordinators:
        if coordinator.region is None:
            continue
        counts = await region_digest(coordinator.region.path, now)
        region_name = coordinator.region.name

        def message(
            _channel: NotificationChannel, counts: RegionDigest = counts, region: str = region_name
        ) -> str:
            return _(
                "Daily digest for {region}: {new_flags} newly flagged, {open} requests open "
                "({escalated} escalated), {scheduled} visits in the next 24 hours, {missed} missed."
            ).format(
                region=region,
                new_flags=counts.new_flags,
                open=counts.open_requests,
                escalated=counts.escalated,
                scheduled=counts.scheduled,
                missed=counts.missed,
            )

        written += await write_notices(
            to_users([coordinator], message), kind="daily_digest", dedupe_prefix=f"digest:{local_day}"
        )
    return written
