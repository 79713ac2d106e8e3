"""Growth counts: organisations that joined the alliance (first approved) and volunteers recruited
(active, working for an approved partner) in a year, per region and project, against the yearly
targets of 100 organisations and 1,000 volunteers.

Each member is one `GrowthEntry` row per year it joined (plus one per project it works for), written
in the same transaction as the approval that makes it count (`alliance/events/partner_lifecycle.py`
calls `organisation_joined`). `rebuild_growth` recounts from the partners and volunteers; tests check
the running entries equal that recount."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.expressions import Q

from alliance.core.codes import PartnerStatus
from alliance.core.models import Region
from alliance.core.timeutil import LOCAL_TZ, utc_now
from alliance.partners.models import Offering, Partner, Volunteer
from alliance.targets.models import GrowthEntry
from alliance.targets.scopes import Scope

ORGANISATION = "organisation"
VOLUNTEER = "volunteer"


def _year(moment: datetime) -> int:
    return moment.astimezone(LOCAL_TZ).year


async def _projects_of(partner_ids: list[int]) -> list[int]:
    rows = await Offering.filter(partner_id__in=partner_ids, project_id__isnull=False).values_list(
        "project_id", flat=True
    )
    return sorted(set(rows))


async def _entries(
    kind: str, ref_id: int, region: Region, projects: list[int], at: datetime
) -> list[GrowthEntry]:
    return [
        GrowthEntry(
            key=f"{kind}:{ref_id}:{project_id or 0}",
            kind=kind,
            ref_id=ref_id,
            year=_year(at),
            region_id=region.code,
            region_path=region.path,
            project_id=project_id,
            joined_at=at,
        )
        for project_id in [None, *projects]
    ]


async def organisation_joined(partner_id: int, at: datetime | None = None) -> int:
    """Count a partner at its first approval, and the active volunteers it brings. Safe to call
    twice: a member is counted once. Call inside the approval's transaction."""
    at = at or utc_now()
    partner = await Partner.get(id=partner_id).select_related("region")
    rows = await _entries(ORGANISATION, partner.id, partner.region, await _projects_of([partner.id]), at)
    for volunteer in await Volunteer.filter(partners__id=partner.id, active=True).select_related("region"):
        rows += await _volunteer_rows(volunteer, at)
    await GrowthEntry.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


async def _volunteer_rows(volunteer: Volunteer, at: datetime) -> list[GrowthEntry]:
    partner_ids = await Partner.filter(
        volunteers__id=volunteer.id, status=PartnerStatus.APPROVED
    ).values_list("id", flat=True)
    if not partner_ids:
        return []
    return await _entries(
        VOLUNTEER, volunteer.id, volunteer.region, await _projects_of(list(partner_ids)), at
    )


async def volunteer_joined(volunteer_id: int, at: datetime | None = None) -> int:
    """Count a volunteer once active with an approved partner (call where volunteers are added or
    approved, in that transaction). Nothing when the volunteer is inactive or its partners are not approved."""
    volunteer = await Volunteer.get(id=volunteer_id).select_related("region")
    if not volunteer.active:
        return 0
    rows = await _volunteer_rows(volunteer, at or utc_now())
    await GrowthEntry.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


async def volunteer_left(volunteer_id: int) -> int:
    """A deactivated volunteer is no longer counted as recruited."""
    return await GrowthEntry.filter(kind=VOLUNTEER, ref_id=volunteer_id).delete()


@dataclass(frozen=True)
class Growth:
    organisations: int
    volunteers: int


async def growth_in(scope: Scope, year: int, project_id: int | None = None) -> Growth:
    """Organisations joined and volunteers recruited in the scope's subtree that year (one project's when given)."""
    query = GrowthEntry.filter(year=year, region_path__startswith=scope.region_path)
    query = query.filter(project_id=project_id) if project_id else query.filter(project_id__isnull=True)
    return Growth(
        organisations=await query.filter(kind=ORGANISATION).count(),
        volunteers=await query.filter(kind=VOLUNTEER).count(),
    )


async def growth_by_project(scope: Scope, year: int) -> dict[int, Growth]:
    rows = await GrowthEntry.filter(
        year=year, region_path__startswith=scope.region_path, project_id__isnull=False
    ).values_list("project_id", "kind")
    counts: dict[int, list[int]] = {}
    for project_id, kind in rows:
        pair = counts.setdefault(project_id, [0, 0])
        pair[0 if kind == ORGANISATION else 1] += 1
    return {project_id: Growth(*pair) for project_id, pair in counts.items()}


async def recount_growth() -> list[GrowthEntry]:
    """Every member's entries, counted from scratch: approved (or later withdrawn) organisations in the
    year of their first approval; active volunteers of an approved partner in the later of the year
    they were added and the year their first partner was approved."""
    rows: list[GrowthEntry] = []
    joined: dict[int, datetime] = {}
    for partner in await Partner.filter(approved_at__isnull=False).select_related("region"):
        joined[partner.id] = partner.approved_at
        rows += await _entries(
            ORGANISATION, partner.id, partner.region, await _projects_of([partner.id]), partner.approved_at
        )
    approved = Q(partners__status=PartnerStatus.APPROVED)
    for volunteer in await Volunteer.filter(approved, active=True).distinct().select_related("region"):
        partner_ids = await Partner.filter(
            volunteers__id=volunteer.id, status=PartnerStatus.APPROVED
        ).values_list("id", flat=True)
        dates = [joined[pid] for pid in partner_ids if pid in joined] or [volunteer.created_at]
        at = max(volunteer.created_at, min(dates))
        rows += await _volunteer_rows(volunteer, at)
    return rows


async def rebuild_growth() -> int:
    """Replace the growth entries by a recount (after a bulk load such as the demo city)."""
    rows = await recount_growth()
    await GrowthEntry.all().delete()
    await GrowthEntry.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)
