"""Intake conflicts: a source's row for a household another source sent first.

A registered intake source may update only the households it sent (the source on the household's
IntakeRecord, kept from the first sending). Import holds its rows for any other household as an
IntakeConflict instead of applying them (alliance.households.intake). A coordinator of the
household's area sees them at /intake/conflicts, side by side with what the household holds now,
and accepts (the row is imported then, through the same import service; the first source stays
the owner) or rejects it (discarded). Both are audited; seeing the list is audited too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from tortoise.expressions import Subquery

from alliance.core.access import Action, Principal, require, visible
from alliance.core.audit import record, viewed
from alliance.core.codes import ConflictStatus
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.core.privacy import mask_id_number, mask_phone
from alliance.core.timeutil import utc_now
from alliance.households.intake import ImportResult, import_households
from alliance.households.intake_format import FIELDS, records_from_json
from alliance.households.models import Flag, Household, IntakeConflict, IntakeRecord

PAGE_SIZE = 20
# Shown masked on the page, like everywhere else.
MASKED = {"id_number": mask_id_number, "phone": mask_phone}
LIST_FIELDS = ("flags", "needs", "accessibility")


@dataclass
class FieldChange:
    field: str
    now: str
    sent: str


@dataclass
class ConflictView:
    id: int
    external_id: str
    household_id: int
    head_name: str
    region_name: str
    sent_by: str
    owner: str
    batch_id: int
    row: int
    received_at: datetime
    changes: list[FieldChange]


@dataclass
class ConflictPage:
    conflicts: list[ConflictView]
    total: int
    page: int
    pages: int


def _in_area(principal: Principal):
    """The viewer's pending and decided conflicts: those of households in their area."""
    households = visible(principal, Action.MERGE_HOUSEHOLDS).values("id")
    return IntakeConflict.filter(household_id__in=Subquery(households))


def _cell(field: str, value: str) -> str:
    value = value.strip()
    if field in LIST_FIELDS:
        # Codes compare without their detection dates and order: "A@2026-01-02;B" is "A;B".
        return ";".join(
            sorted(item.split("@")[0].strip().upper() for item in value.split(";") if item.strip())
        )
    return value


async def _holds_now(household: Household) -> dict[str, str]:
    """What the household holds now, as intake cells."""
    intake = await IntakeRecord.get_or_none(household_id=household.id)
    flags = await Flag.filter(household_id=household.id, active=True).values_list("code", flat=True)
    return {
        "external_id": household.external_id,
        "head_name": household.head_name,
        "id_number": household.id_number or "",
        "phone": household.phone or "",
        "address": household.address,
        "region_code": household.region_id,  # type: ignore[attr-defined]
        "lat": "" if household.lat is None else str(household.lat),
        "lon": "" if household.lon is None else str(household.lon),
        "member_count": str(household.member_count),
        "flags": ";".join(str(code) for code in flags),
        "needs": ";".join(intake.explicit_needs if intake else []),
        "accessibility": ";".join(household.accessibility or []),
        "contact_preference": str(household.contact_preference),
    }


def _same_number(before: str, after: str) -> bool:
    try:
        return abs(float(before) - float(after)) < 1e-7
    except ValueError:
        return False


def _changes(now: dict[str, str], sent: dict[str, str]) -> list[FieldChange]:
    changes = []
    for field in FIELDS:
        before, after = _cell(field, now.get(field, "")), _cell(field, str(sent.get(field, "") or ""))
        if field in ("lat", "lon"):
            if not after:
                continue  # not sent: the household keeps its place or is geocoded again
            if before and _same_number(before, after):
                continue
        if before == after:
            continue
        mask = MASKED.get(field)
        changes.append(
            FieldChange(field, mask(before) if mask else before, mask(after) if mask and after else after)
        )
    return changes


async def pending_conflicts(principal: Principal, page: int = 1, address: str = "") -> ConflictPage:
    """The pending conflicts of the principal's area, oldest first, each with what it would change."""
    require(principal, Action.MERGE_HOUSEHOLDS)
    query = _in_area(principal).filter(status=ConflictStatus.PENDING)
    total = await query.count()
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    page = min(max(1, page), pages)
    rows = (
        await query.order_by("created_at", "id")
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
        .prefetch_related("household__region", "source")
    )
    views = []
    for conflict in rows:
        household = conflict.household
        intake = await IntakeRecord.get_or_none(household_id=household.id).prefetch_related("source")
        views.append(
            ConflictView(
                id=conflict.id,
                external_id=conflict.external_id,
                household_id=household.id,
                head_name=household.head_name,
                region_name=household.region.name,
                sent_by=conflict.source.name if conflict.source else "—",
                owner=intake.source.name if intake and intake.source else _("entered here"),
                batch_id=conflict.batch_id,  # type: ignore[attr-defined]
                row=conflict.row,
                received_at=conflict.created_at,
                changes=_changes(await _holds_now(household), conflict.record),
            )
        )
    if views:
        await viewed(
            principal,
            "intake_conflict.view",
            households=[view.household_id for view in views],
            address=address,
            details={"conflicts": [view.id for view in views]},
        )
    return ConflictPage(conflicts=views, total=total, page=page, pages=pages)


async def _decide(principal: Principal, conflict_id: int, status: ConflictStatus) -> IntakeConflict:
    """Mark a pending conflict of the principal's area decided; one decision wins."""
    require(principal, Action.MERGE_HOUSEHOLDS)
    conflict = await _in_area(principal).get_or_none(id=conflict_id)
    if conflict is None:
        raise NotFound(f"intake conflict {conflict_id}")
    decided = await IntakeConflict.filter(id=conflict.id, status=ConflictStatus.PENDING).update(
        status=status, resolved_at=utc_now(), resolved_by_id=principal.user_id
    )
    if not decided:
        raise InvalidInput({"conflict": _("Someone else decided this conflict already; reload the page.")})
    await conflict.refresh_from_db()
    return conflict


async def accept_conflict(principal: Principal, conflict_id: int, address: str = "") -> ImportResult:
    """Apply the held row through the import service, as its source sent it. When the row no longer
    passes the checks (its region was removed, say), nothing is applied and it stays pending."""
    conflict = await _decide(principal, conflict_id, ConflictStatus.ACCEPTED)
    await conflict.fetch_related("source", "batch")
    result = await import_households(
        records_from_json(json.dumps([conflict.record], ensure_ascii=False).encode()),
        source=conflict.source,
        channel=conflict.batch.channel,
        filename=f"intake conflict {conflict.id}",
        resolving_conflict=True,
    )
    if result.rejected:
        await IntakeConflict.filter(id=conflict.id).update(
            status=ConflictStatus.PENDING, resolved_at=None, resolved_by_id=None
        )
        errors = result.rejected[0].errors
        raise InvalidInput({error.field: error.message for error in errors})
    await record(
        principal,
        "intake_conflict.accept",
        "household",
        conflict.household_id,  # type: ignore[attr-defined]
        {"conflict": conflict.id, "batch": conflict.batch_id, "applied_batch": result.batch},  # type: ignore[attr-defined]
        address,
    )
    return result


async def reject_conflict(principal: Principal, conflict_id: int, address: str = "") -> IntakeConflict:
    """Discard the held row: the household keeps what its own source sent."""
    conflict = await _decide(principal, conflict_id, ConflictStatus.REJECTED)
    await record(
        principal,
        "intake_conflict.reject",
        "household",
        conflict.household_id,  # type: ignore[attr-defined]
        {"conflict": conflict.id, "batch": conflict.batch_id},  # type: ignore[attr-defined]
        address,
    )
    return conflict
