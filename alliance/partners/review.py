"""Reviewing partners: the list the bureau reviews, and approving or suspending a partner."""

from __future__ import annotations

from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, require, visible
from alliance.core.audit import record
from alliance.core.codes import PartnerStatus, Role
from alliance.core.i18n import DEFAULT_LANGUAGE, language
from alliance.core.i18n import gettext as _
from alliance.core.models import User
from alliance.core.timeutil import utc_now
from alliance.notifications.models import Notification
from alliance.partners.models import Partner


async def partners_for_review(principal: Principal, status: str = "") -> list[Partner]:
    query = visible(principal, Action.REVIEW_PARTNERS)
    if status:
        query = query.filter(status=status)
    return await query.order_by("status", "name").prefetch_related("region")


async def set_partner_status(principal: Principal, partner_id: int, status: PartnerStatus) -> list[int]:
    """Approve or suspend a partner; its staff are told in-app. Returns the notification ids to deliver."""
    require(principal, Action.REVIEW_PARTNERS)
    partner = await get_visible(principal, Action.REVIEW_PARTNERS, partner_id)
    if partner.status == status:
        return []
    async with in_transaction():
        previous = partner.status
        partner.status = status
        partner.status_changed_at = utc_now()
        await partner.save(update_fields=["status", "status_changed_at"])
        await record(principal, f"partner.{status}", "partner", partner.id, {"from": str(previous)})
        staff = await User.filter(partner_id=partner.id, role__in=[Role.PARTNER_ADMIN, Role.DISPATCHER])
        created = []
        for user in staff:
            # Each person is told in their own language, not the reviewer's.
            with language(user.language or DEFAULT_LANGUAGE):
                body = (
                    _("Your organisation {name} is approved: you can publish offerings and claim requests.")
                    if status == PartnerStatus.APPROVED
                    else _("Your organisation {name} has been suspended. Contact the civil-affairs bureau.")
                ).format(name=partner.name)
            created.append(
                await Notification.create(
                    user_id=user.id, channel="in_app", body=body, language=user.language or DEFAULT_LANGUAGE
                )
            )
    return [notification.id for notification in created]
