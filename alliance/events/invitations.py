"""Invitations to an event: the job planned on publishing, inviting again, inviting the best matches.

The best-matching households (alliance/events/matching.py) are each told in their own channel.
`invite_households` is safe to run twice (one invitation per event and household; notices
deduplicated) and runs in an arq job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, partner_in_good_standing, require
from alliance.core.audit import record
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import utc_now
from alliance.events import notices as event_notices
from alliance.events.codes import EventError, EventStatus
from alliance.events.matching import matching_households
from alliance.events.models import Event, EventInvitation, Registration
from alliance.events.registrations import _first_start, _last_end, registration_open, registration_path
from alliance.notifications import outbox


def invitation_job_id(event: Event) -> str:
    # A new job when the number to invite changes (seats or margin edited); the same otherwise.
    return f"event-invite:{event.id}:{event.seats + event.waitlist_margin}"


async def _plan_invitations(event: Event) -> list[str]:
    job = await outbox.add_job("invite_event_households", event.id, job_id=invitation_job_id(event))
    return [job.job_id]


async def queue_invitations(principal: Principal, event_id: int) -> list[str]:
    """Invite again now (households flagged since, or declined places to fill): a fresh job."""
    require(principal, Action.MANAGE_EVENTS)
    event = await get_visible(principal, Action.MANAGE_EVENTS, event_id)
    if event.status != EventStatus.PUBLISHED:
        raise EventError(_("This event is cancelled."))
    stamp = int(utc_now().timestamp()) // 60
    async with in_transaction():
        job = await outbox.add_job(
            "invite_event_households", event.id, job_id=f"{invitation_job_id(event)}:{stamp}"
        )
        await record(principal, "event.invite", "event", event.id)
    return [job.job_id]


@dataclass
class InvitationRun:
    invited: int = 0
    job_ids: list[str] = field(default_factory=list)
    notification_ids: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"invited": self.invited, "notifications": len(self.notification_ids)}


async def invite_households(event_id: int, secret_key: str, *, now: datetime | None = None) -> InvitationRun:
    """Invite the best-matching households not yet invited, up to seats + waitlist margin in all,
    and tell each in its channel. Safe to run twice: nobody is invited or told twice."""
    now = now or utc_now()
    run = InvitationRun()
    event = await Event.get_or_none(id=event_id)
    if event is None or not registration_open(event, await _first_start(event.id), now):
        return run
    # The job acts for the partner: one pending, suspended or closed reaches no household.
    if not await partner_in_good_standing(event.partner_id):  # type: ignore[attr-defined]
        return run
    already = set(await EventInvitation.filter(event_id=event.id).values_list("household_id", flat=True))
    already |= set(await Registration.filter(event_id=event.id).values_list("household_id", flat=True))
    room = event.seats + event.waitlist_margin - await EventInvitation.filter(event_id=event.id).count()
    if room > 0:
        chosen = [
            fit for fit in await matching_households(event, now=now) if fit.household_id not in already
        ][:room]
        last_rank = (
            await EventInvitation.filter(event_id=event.id).order_by("-rank").values_list("rank", flat=True)
        )
        start = (last_rank[0] if last_rank else 0) + 1
        await EventInvitation.bulk_create(
            [
                EventInvitation(
                    event_id=event.id,
                    household_id=fit.household_id,
                    request_id=fit.request_id,
                    rank=start + index,
                    score=fit.score,
                    distance_km=None if fit.distance_km is None else round(fit.distance_km, 3),
                    reasons=fit.reasons,
                )
                for index, fit in enumerate(chosen)
            ],
            ignore_conflicts=True,
        )
        run.invited = len(chosen)
    # Tell whoever is invited and not yet told (also those of an earlier run that stopped midway).
    facts = await event_notices.event_facts(event)
    last_end = await _last_end(event.id)
    untold = (
        await EventInvitation.filter(event_id=event.id, notified_at__isnull=True)
        .order_by("rank")
        .prefetch_related("household")
    )
    for invitation in untold:
        async with in_transaction():
            link = event_notices.public_url(
                registration_path(secret_key, event.id, invitation.household.id, last_end)
            )
            written = await event_notices.tell_household(
                facts,
                invitation.household,
                event_notices.INVITATION,
                link=link,
                dedupe_prefix=f"event:{event.id}:invite",
            )
            await EventInvitation.filter(id=invitation.id).update(notified_at=utc_now())
            run.notification_ids += written
    return run
