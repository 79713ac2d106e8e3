"""What happens around a visit besides the visit itself: the household and the volunteers are told
(in their channel and language), and reminders are planned 24 h and 2 h before the window.

`visit_changed` is called by the scheduling services INSIDE their transaction, so the notices and
the reminder jobs are written together with the change (the transactional outbox) or not at all.
"""

from __future__ import annotations

from enum import StrEnum

from alliance.models import Visit


class VisitChange(StrEnum):
    SCHEDULED = "scheduled"
    MOVED = "moved"
    CANCELLED = "cancelled"
    VOLUNTEERS_CHANGED = "volunteers_changed"
    HOUSEHOLD_CONFIRMED = "household_confirmed"
    HOUSEHOLD_RESCHEDULE = "household_reschedule"
    HOUSEHOLD_DECLINED = "household_declined"


async def visit_changed(visit: Visit, change: VisitChange) -> list[str]:
    """Write the notices and plan (or retire) the reminders for this change. Returns the outbox
    job ids written, for the caller to relay right after its commit.

    TODO(helper B): fill in; until then scheduling writes no notices."""
    return []
