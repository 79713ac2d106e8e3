"""The regular-visit worklist seen by a responsible partner (issue 18): the households whose home-service
requests a partner holds, and whose regular visit (alliance/visits/regular.py, RegularDue) is due or
overdue, so that its dispatchers can coordinate their own visits with the community worker's. Personal
data kept to what coordinating needs: the head's name, the community, dates and the worker's name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from alliance.core.access import Action, Principal, visible
from alliance.core.audit import viewed
from alliance.core.timeutil import LOCAL_TZ, utc_now


@dataclass(frozen=True)
class PartnerDueRow:
    household_id: int
    head_name: str
    community: str
    worker_name: str
    last_visit_at: datetime | None
    due_on: date
    overdue: bool


async def partner_regular_visits(
    principal: Principal, now: datetime | None = None, address: str = ""
) -> list[PartnerDueRow]:
    """The responsible partner's households due today or overdue, most overdue first; audited."""
    today = (now or utc_now()).astimezone(LOCAL_TZ).date()
    dues = (
        await visible(principal, Action.VIEW_PARTNER_REGULAR_VISITS)
        .filter(due_on__lte=today)
        .order_by("due_on", "household_id")
        .prefetch_related("household__region", "worker")
    )
    rows = [
        PartnerDueRow(
            household_id=due.household_id,  # type: ignore[attr-defined]
            head_name=due.household.head_name,
            community=due.household.region.name,
            worker_name=due.worker.display_name,
            last_visit_at=due.last_visit_at.astimezone(LOCAL_TZ) if due.last_visit_at else None,
            due_on=due.due_on,
            overdue=due.due_on < today,
        )
        for due in dues
    ]
    if rows:
        await viewed(
            principal,
            "partner_regular_visits.view",
            households=sorted({row.household_id for row in rows}),
            address=address,
        )
    return rows
