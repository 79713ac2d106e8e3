"""Replies to visit notices from households without a smartphone: the SMS or voice gateway posts,
signed like intake (alliance/households/sources.py: a gateway is an intake source with its secret),
what the household texted back ("1" confirm, "2" another time, "3" decline; full-width digits and
Chinese words too) or which key it pressed in the call. The answer is applied exactly like the
answer through the household's personal link; each gateway message id is applied once. A reply we
cannot act on becomes an in-app notice, with its text, to the household's community workers."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from alliance.cases.models import InboundReply
from alliance.core.audit import record
from alliance.core.codes import HouseholdResponse, InboundOutcome, Role, VisitStatus
from alliance.core.errors import AllianceError, InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.models import User
from alliance.core.timeutil import utc_now
from alliance.households.intake_format import normalise_phone
from alliance.households.models import Household, IntakeSource
from alliance.households.selectors import find_by_phone
from alliance.notifications import outbox
from alliance.notifications.notifications import community_workers_of, to_users, write_notices
from alliance.visits.household_responses import respond_by_reply
from alliance.visits.models import Visit

CHANNELS = ("sms", "voice")
MAX_TEXT = 500

# Words households text back, after NFKC (full-width "１" becomes "1") and without spaces or
# punctuation, lower case.
_WORDS: dict[HouseholdResponse, tuple[str, ...]] = {
    HouseholdResponse.CONFIRMED: (
        "1",
        "确认",
        "确定",
        "好",
        "好的",
        "是",
        "可以",
        "confirm",
        "yes",
        "y",
        "ok",
    ),
    HouseholdResponse.RESCHEDULE_REQUESTED: ("2", "改期", "改时间", "换时间", "另约", "reschedule", "move"),
    HouseholdResponse.DECLINED: ("3", "取消", "拒绝", "不要", "不需要", "decline", "no", "cancel"),
}
_LOOKUP = {word: answer for answer, words in _WORDS.items() for word in words}
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


def understand(text: str, channel: str = "sms") -> HouseholdResponse | None:
    """The answer a reply carries, or None. Voice: the DTMF key (1, 2, 3)."""
    compact = _NOISE.sub("", unicodedata.normalize("NFKC", text or "")).lower()
    if channel == "voice":
        return _LOOKUP.get(compact) if compact in ("1", "2", "3") else None
    return _LOOKUP.get(compact)


@dataclass
class InboundResult:
    reply: InboundReply
    duplicate: bool = False
    job_ids: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.reply.id,
            "message_id": self.reply.message_id,
            "outcome": str(self.reply.outcome),
            "visit": self.reply.visit_id,  # type: ignore[attr-defined]
            "duplicate": self.duplicate,
        }


def _check(message_id: str, channel: str, sender: str, text: str) -> dict[str, str]:
    errors = {}
    if not message_id or len(message_id) > 64:
        errors["message_id"] = _("Required: the gateway's id of the message, at most 64 characters.")
    if channel not in CHANNELS:
        errors["channel"] = _("Either sms or voice.")
    if not sender or len(sender) > 32:
        errors["from"] = _("Required: the phone number the reply came from.")
    if len(text) > MAX_TEXT:
        errors["text"] = _("At most {most} characters.").format(most=MAX_TEXT)
    return errors


async def _pending_visit(households: list[Household]) -> Visit | None:
    # The reply answers the household's next scheduled visit that has not ended yet.
    if not households:
        return None
    return (
        await Visit.filter(
            request__household_id__in=[household.id for household in households],
            status=VisitStatus.SCHEDULED,
            window_end__gt=utc_now(),
        )
        .order_by("window_start", "id")
        .first()
    )


async def receive_reply(
    gateway: IntakeSource, message_id: str, channel: str, sender: str, text: str
) -> InboundResult:
    """Apply one reply the gateway posted; a second post of the same message id changes nothing."""
    message_id, channel, sender, text = (
        message_id.strip(),
        channel.strip().lower(),
        sender.strip(),
        text.strip(),
    )
    errors = _check(message_id, channel, sender, text)
    if errors:
        raise InvalidInput(errors)
    earlier = await InboundReply.get_or_none(gateway_id=gateway.id, message_id=message_id)
    if earlier is not None:
        return InboundResult(earlier, duplicate=True)
    phone = normalise_phone(sender)
    households = await find_by_phone(phone).order_by("id") if phone else []
    visit = await _pending_visit(households)
    household = households[0] if households else None
    if visit is not None:
        # Two households may share a phone: the reply belongs to the one whose visit waits.
        visit_household = (
            await Visit.filter(id=visit.id).first().values_list("request__household_id", flat=True)
        )
        household = next(found for found in households if found.id == visit_household)
    answer = understand(text, channel)
    row = {
        "gateway_id": gateway.id,
        "message_id": message_id,
        "channel": channel,
        "sender": sender[:32],
        "text": text[:MAX_TEXT],
        "household_id": household.id if household else None,
        "visit_id": visit.id if visit else None,
    }
    if household is None:
        outcome = InboundOutcome.UNKNOWN_SENDER
    elif visit is None:
        outcome = InboundOutcome.NO_PENDING_VISIT
    elif answer is None:
        outcome = InboundOutcome.NOT_UNDERSTOOD
    else:
        try:
            return await _apply(row, visit, answer, channel, text)
        except IntegrityError:
            return await _earlier(gateway, message_id)
        except AllianceError:
            # The visit can no longer be answered (moved meanwhile, already over): a person looks at it.
            outcome = InboundOutcome.REFUSED
    try:
        async with in_transaction():
            reply = await InboundReply.create(**row, outcome=outcome)
            job_ids = await _tell_workers(reply, household)
    except IntegrityError:
        return await _earlier(gateway, message_id)
    return InboundResult(reply, job_ids=job_ids)


async def _earlier(gateway: IntakeSource, message_id: str) -> InboundResult:
    # Two posts of one message at once: the other one won and applied it.
    return InboundResult(await InboundReply.get(gateway_id=gateway.id, message_id=message_id), duplicate=True)


async def _apply(
    row: dict[str, object], visit: Visit, answer: HouseholdResponse, channel: str, text: str
) -> InboundResult:
    note = (
        _("Replied by text message: {text}").format(text=text)
        if channel == "sms"
        else _("Pressed {key} in the voice call").format(key=text)
    )
    async with in_transaction():
        # The reply row first: its unique (gateway, message id) makes a concurrent twin fail here.
        reply = await InboundReply.create(**row, outcome=InboundOutcome.APPLIED)
        outcome = await respond_by_reply(visit, answer, note)
        await record(
            None,
            "visit.inbound_reply",
            "visit",
            visit.id,
            {"response": str(answer), "channel": channel, "message_id": reply.message_id},
        )
    return InboundResult(reply, job_ids=list(outcome.job_ids))


def _outcome_text(outcome: InboundOutcome) -> str:
    return {
        InboundOutcome.NOT_UNDERSTOOD: _("the reply could not be understood"),
        InboundOutcome.UNKNOWN_SENDER: _("the number belongs to no household"),
        InboundOutcome.NO_PENDING_VISIT: _("the household has no visit waiting for an answer"),
        InboundOutcome.REFUSED: _("the visit can no longer be answered"),
    }.get(outcome, str(outcome))


async def _tell_workers(reply: InboundReply, household: Household | None) -> list[str]:
    """The reply's text to the household's community workers (no household: the administrators,
    who can find whose number it is), so a person calls back."""
    if household is not None:
        readers = await community_workers_of(household)
    else:
        readers = await User.filter(role=Role.ADMIN, is_active=True).order_by("id")

    def message(_channel: object) -> str:
        who = (
            _("{name} ({phone})").format(name=household.head_name, phone=reply.sender)
            if household is not None
            else reply.sender
        )
        return _(
            "A reply from {who} by {channel} needs a person: {why}. It said: \u201c{text}\u201d. Please call back."
        ).format(
            who=who,
            channel=reply.channel,
            why=_outcome_text(InboundOutcome(reply.outcome)),
            text=reply.text or "—",
        )

    outgoing = to_users(readers, message)
    if household is not None:
        # The same notices, tied to the household so its timeline and the inbox can link to it.
        outgoing = [replace(item, household_id=household.id) for item in outgoing]
    notice_ids = await write_notices(outgoing, kind="inbound_reply", dedupe_prefix=f"inbound:{reply.id}")
    if not notice_ids:
        return []
    job = await outbox.add_job("deliver_notifications", notice_ids, job_id=f"inbound:{reply.id}")
    return [job.job_id]
