"""The case timeline of one household: notes, calls, visits, assessments, reported changes, the
referral, request history (claims, closes), visits, event registrations, messages and replies,
newest first. Read from the tables each area already keeps; visible to the household's
coordinator and community worker only (Action.CASEWORK); every view is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from alliance.cases.household_actions import change_kind_label
from alliance.cases.household_edit import EDIT_ACTION, field_names
from alliance.cases.models import CaseNote, HouseholdChange, InboundReply, NeedsAssessment, Referral
from alliance.cases.offline import referral_source_label
from alliance.core.access import Action, Principal, get_visible
from alliance.core.audit import viewed
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.models import AuditEntry
from alliance.events.models import Registration
from alliance.households.models import Household
from alliance.matching.claims import describe_transition, transition_label
from alliance.matching.models import RequestTransition
from alliance.notifications.models import Notification
from alliance.visits.models import Visit

LIMIT = 200


@dataclass
class TimelineEntry:
    at: datetime
    kind: str  # note, call, visit, assessment, change, edit, referral, request, event, message, reply
    title: str
    text: str
    who: str = ""
    link: str = ""
    change_id: int | None = None
    verified: bool = True


@dataclass
class Timeline:
    household: Household
    entries: list[TimelineEntry]
    pending_changes: list[HouseholdChange]


def _name(user: object) -> str:
    return getattr(user, "display_name", "") or getattr(user, "username", "") if user else ""


async def case_timeline(principal: Principal, household_id: int, address: str = "") -> Timeline:
    household = await get_visible(principal, Action.CASEWORK, household_id)
    entries: list[TimelineEntry] = []
    for note in (
        await CaseNote.filter(household_id=household.id)
        .order_by("-created_at")
        .limit(LIMIT)
        .prefetch_related("author")
    ):
        titles = {"note": _("Note"), "call": _("Call"), "visit": _("Home visit by the worker")}
        entries.append(
            TimelineEntry(
                note.created_at, str(note.kind), titles[str(note.kind)], note.text, _name(note.author)
            )
        )
    for assessment in (
        await NeedsAssessment.filter(household_id=household.id)
        .order_by("-created_at")
        .limit(LIMIT)
        .prefetch_related("assessed_by")
    ):
        outcome = {
            "opened": _("request opened"),
            "closed": _("request closed"),
            "kept": _("request unchanged"),
        }[str(assessment.outcome)]
        entries.append(
            TimelineEntry(
                assessment.created_at,
                "assessment",
                _("Needs assessment: {need} (severity {severity}), {outcome}").format(
                    need=label(assessment.need), severity=assessment.severity, outcome=outcome
                ),
                assessment.description
                + (_(" Since {day}.").format(day=assessment.since.isoformat()) if assessment.since else ""),
                _name(assessment.assessed_by),
            )
        )
    changes = (
        await HouseholdChange.filter(household_id=household.id)
        .order_by("-created_at")
        .limit(LIMIT)
        .prefetch_related("reported_by")
    )
    for change in changes:
        who = _name(change.reported_by)
        entries.append(
            TimelineEntry(
                change.created_at,
                "change",
                _("Change reported: {kind}").format(kind=change_kind_label(str(change.kind)))
                + (" " + _("(by the worker on the household's behalf)") if change.on_behalf else ""),
                change.details,
                who,
                change_id=change.id,
                verified=change.verified_at is not None,
            )
        )
    referral = await Referral.get_or_none(household_id=household.id).prefetch_related("registered_by")
    if referral is not None:
        who = " / ".join(part for part in (referral.referrer_name, referral.referrer_agency) if part)
        entries.append(
            TimelineEntry(
                referral.created_at,
                "referral",
                _("Registered offline ({source})").format(source=referral_source_label(str(referral.source))),
                _("Referred by {who}.").format(who=who) if who else "",
                _name(referral.registered_by),
            )
        )
    for step in (
        await RequestTransition.filter(request__household_id=household.id)
        .order_by("-at")
        .limit(LIMIT)
        .prefetch_related("request", "actor", "partner")
    ):
        kind, note = describe_transition(step)
        entries.append(
            TimelineEntry(
                step.at,
                "request",
                _("Request #{id} ({need}): {what} → {status}").format(
                    id=step.request_id,  # type: ignore[attr-defined]
                    need=label(step.request.need_id),  # type: ignore[attr-defined]
                    what=transition_label(kind),
                    status=label(step.to_status),
                ),
                note,
                _name(step.actor) or (step.partner.name if step.partner else ""),
            )
        )
    for visit in (
        await Visit.filter(request__household_id=household.id)
        .order_by("-created_at")
        .limit(LIMIT)
        .prefetch_related("partner")
    ):
        entries.append(
            TimelineEntry(
                visit.created_at,
                "visit",
                _("Visit by {partner}: {status}").format(
                    partner=visit.partner.name, status=label(visit.status)
                ),
                visit.household_response_note,
                link=f"/households/{household.id}/visits",
            )
        )
    for registration in (
        await Registration.filter(household_id=household.id)
        .order_by("-created_at")
        .limit(LIMIT)
        .prefetch_related("event")
    ):
        entries.append(
            TimelineEntry(
                registration.created_at,
                "event",
                _("Event: {title} ({status})").format(
                    title=registration.event.title, status=label(registration.status)
                ),
                "",
                link=f"/households/{household.id}/events",
            )
        )
    messages = await Notification.filter(household_id=household.id).order_by("-created_at").limit(LIMIT)
    for message in messages:
        entries.append(
            TimelineEntry(
                message.created_at,
                "message",
                _("Message ({channel}, {kind})").format(channel=label(message.channel), kind=message.kind),
                message.body,
                message.recipient,
            )
        )
    for edit in (
        await AuditEntry.filter(household_id=household.id, action=EDIT_ACTION).order_by("-id").limit(LIMIT)
    ):
        names = [str(name) for name in (edit.details or {}).get("fields", [])]
        if not names:
            continue
        entries.append(
            TimelineEntry(
                edit.at,
                "edit",
                _("Details edited ({fields})").format(fields=field_names(names)),
                "",
                edit.actor_name,
            )
        )
    for reply in await InboundReply.filter(household_id=household.id).order_by("-received_at").limit(LIMIT):
        entries.append(
            TimelineEntry(
                reply.received_at,
                "reply",
                _("Reply by {channel}: {outcome}").format(
                    channel=reply.channel, outcome=label(reply.outcome)
                ),
                reply.text,
            )
        )
    entries.sort(key=lambda entry: entry.at, reverse=True)
    await viewed(
        principal,
        "household.timeline_view",
        households=[household.id],
        notifications=[m.id for m in messages],
        address=address,
    )
    return Timeline(household, entries[:LIMIT], [change for change in changes if change.verified_at is None])
