"""The matching area's in-app notices: new matches, transfers and unscheduled claims."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from tortoise.transactions import in_transaction

from alliance.core.codes import NotificationChannel, Role
from alliance.core.i18n import DEFAULT_LANGUAGE, language, ngettext
from alliance.core.i18n import gettext as _
from alliance.core.models import User
from alliance.core.timeutil import LOCAL_TZ, to_local, utc_now
from alliance.notifications.models import Notification
from alliance.notifications.notifications import claim_keys
from alliance.partners import webhooks


async def notify_partners_of_new_matches(
    new_by_partner: dict[int, int], *, now: datetime | None = None
) -> list[int]:
    """Tell each partner's staff in-app that good new matches arrived, at most once a day per
    partner (the dedupe key carries the local date). Returns the ids of the notices to deliver."""
    day = (now or utc_now()).astimezone(LOCAL_TZ).date().isoformat()
    staff = await User.filter(
        partner_id__in=list(new_by_partner), role__in=[Role.PARTNER_ADMIN, Role.DISPATCHER], is_active=True
    ).values_list("id", "partner_id", "language")
    keys = {user_id: f"new-matches:{partner_id}:{day}:{user_id}" for user_id, partner_id, _language in staff}
    taken = set(
        await Notification.filter(dedupe_key__in=list(keys.values())).values_list("dedupe_key", flat=True)
    )
    # Each partner's systems hear of every run's new matches (signed webhooks: a count, no households).
    async with in_transaction():
        for partner_id, count in sorted(new_by_partner.items()):
            await webhooks.emit(
                partner_id, webhooks.WebhookEvent.MATCH_NEW, {"new_matches": count, "board": "/board"}
            )
    created: list[int] = []
    for user_id, partner_id, user_language in staff:
        if keys[user_id] in taken:
            continue
        chosen = user_language or DEFAULT_LANGUAGE
        with language(chosen):
            count = new_by_partner[partner_id]
            body = ngettext(
                "{count} new request in your service area matches your offerings. Open the claim board to see it.",
                "{count} new requests in your service area match your offerings. Open the claim board to see them.",
                count,
            ).format(count=count)
            subject = _("New matches in your area")
        # The key and the message commit together; a key a concurrent run took means this person
        # was told today already.
        async with in_transaction():
            if not await claim_keys([keys[user_id]]):
                continue
            notification = await Notification.create(
                user_id=user_id,
                channel=NotificationChannel.IN_APP,
                kind="new_matches",
                language=chosen,
                subject=subject,
                body=body,
                dedupe_key=keys[user_id],
            )
        created.append(notification.id)
    return created


async def _staff_of(partner_id: int) -> list[User]:
    return await User.filter(
        partner_id=partner_id, role__in=[Role.PARTNER_ADMIN, Role.DISPATCHER], is_active=True
    )


async def _coordinators_over(region_path: str) -> list[User]:
    """Coordinators whose region contains this one (the community's own chain up to the city)."""
    codes = [code for code in region_path.strip("/").split("/") if code]
    prefixes = ["/" + "/".join(codes[: depth + 1]) + "/" for depth in range(len(codes))]
    return await User.filter(role=Role.COORDINATOR, is_active=True, region__path__in=prefixes)


async def _notify(users: Iterable[User], message: Callable[[], str], kind: str = "") -> list[int]:
    """One in-app notice per user, in the user's own language: `message` is called (and its _()
    translated) with the reader's language active."""
    created = []
    for user in users:
        reader_language = user.language or DEFAULT_LANGUAGE
        with language(reader_language):
            body = message()
        notice = await Notification.create(
            user_id=user.id,
            channel=NotificationChannel.IN_APP,
            kind=kind,
            body=body,
            language=reader_language,
        )
        created.append(notice.id)
    return created


def _when(moment: datetime) -> str:
    local = to_local(moment)
    return local.strftime("%Y-%m-%d %H:%M") if local else ""
