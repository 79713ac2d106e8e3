"""The audit log: append-only entries of who did or saw what."""

from __future__ import annotations

from typing import Any

from alliance.core.access import Principal
from alliance.core.models import AuditEntry


async def record(
    principal: Principal | None,
    action: str,
    object_type: str,
    object_id: object,
    details: dict[str, Any] | None = None,
    address: str = "",
) -> AuditEntry:
    return await AuditEntry.create(
        actor_id=principal.user_id if principal else None,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        details=details or {},
        address=address,
    )
