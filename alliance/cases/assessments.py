"""Needs assessments and case notes, written by the household's community worker or coordinator.

An assessment is structured: one need, what the difficulty is, how severe (1 mild, 2 serious,
3 urgent), since when, who assessed. It opens a service request for the need (matching picks it
up like an intake request), closes the open one with a reason, or leaves it as it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from tortoise.transactions import in_transaction

from alliance.cases.models import CaseNote, NeedsAssessment
from alliance.cases.requests import close_for_household, open_request
from alliance.core.access import Action, Principal, get_visible, require
from alliance.core.audit import record
from alliance.core.codes import AssessmentOutcome, CaseNoteKind, CloseReason, NeedCode
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import to_local, utc_now
from alliance.households.needs import active_key
from alliance.matching.claims import TransitionKind
from alliance.matching.models import ServiceRequest

SEVERITIES = (1, 2, 3)
MAX_TEXT = 2000
# Why an assessment closes a request: the household's situation, not a partner's delivery.
ASSESSMENT_CLOSE_REASONS = (
    CloseReason.NO_HELP_WANTED,
    CloseReason.DONE_BY_OTHERS,
    CloseReason.OUT_OF_SCOPE,
    CloseReason.UNREACHABLE,
)


@dataclass
class AssessmentForm:
    need: str = ""
    description: str = ""
    severity: str = ""
    since: str = ""
    action: str = "open"  # open | close | keep
    close_reason: str = ""
    close_note: str = ""


@dataclass
class AssessmentOutcomeView:
    assessment: NeedsAssessment
    job_ids: list[str] = field(default_factory=list)


def _check(form: AssessmentForm, today: date) -> tuple[int, date | None]:
    errors: dict[str, str] = {}
    if form.need not in NeedCode.__members__.values():
        errors["need"] = _("Choose the need assessed.")
    if not form.description.strip():
        errors["description"] = _("Required: what the difficulty is.")
    elif len(form.description) > MAX_TEXT:
        errors["description"] = _("At most {most} characters.").format(most=MAX_TEXT)
    severity = int(form.severity) if form.severity.isdigit() else 0
    if severity not in SEVERITIES:
        errors["severity"] = _("Choose how severe: mild, serious or urgent.")
    since = None
    if form.since.strip():
        try:
            since = date.fromisoformat(form.since.strip())
        except ValueError:
            errors["since"] = _("A date as YYYY-MM-DD.")
        else:
            if since > today:
                errors["since"] = _("The date is in the future.")
    if form.action not in ("open", "close", "keep"):
        errors["action"] = _("Choose what to do with the request for this need.")
    if form.action == "close":
        if form.close_reason not in [str(reason) for reason in ASSESSMENT_CLOSE_REASONS]:
            errors["close_reason"] = _("Choose why the request is closed.")
        if len(form.close_note) > 255:
            errors["close_note"] = _("At most {most} characters.").format(most=255)
    if errors:
        raise InvalidInput(errors)
    return severity, since


async def assess_need(principal: Principal, household_id: int, form: AssessmentForm) -> AssessmentOutcomeView:
    require(principal, Action.CASEWORK)
    household = await get_visible(principal, Action.CASEWORK, household_id)
    severity, since = _check(form, to_local(utc_now()).date())  # type: ignore[union-attr]
    job_ids: list[str] = []
    async with in_transaction():
        current = await ServiceRequest.get_or_none(active_key=active_key(household.id, form.need))
        request = current
        outcome = AssessmentOutcome.KEPT
        if form.action == "open":
            change = await open_request(
                household, form.need, principal.user_id, TransitionKind.ASSESSMENT, form.description
            )
            request, job_ids = change.request, change.job_ids
            outcome = AssessmentOutcome.OPENED if change.created else AssessmentOutcome.KEPT
        elif form.action == "close":
            if current is None:
                raise InvalidInput({"action": _("The household has no open request for this need to close.")})
            job_ids = await close_for_household(
                principal, current, CloseReason(form.close_reason), form.close_note.strip()
            )
            outcome = AssessmentOutcome.CLOSED
        assessment = await NeedsAssessment.create(
            household_id=household.id,
            need=form.need,
            description=form.description.strip(),
            severity=severity,
            since=since,
            assessed_by_id=principal.user_id,
            outcome=outcome,
            request_id=request.id if request else None,
            close_note=(
                f"{form.close_reason} {form.close_note.strip()}".strip() if form.action == "close" else ""
            )[:255],
        )
        await record(
            principal,
            "household.assessment",
            "household",
            household.id,
            {
                "need": form.need,
                "severity": severity,
                "outcome": str(outcome),
                "request": request.id if request else None,
            },
            households=[household.id],
        )
    return AssessmentOutcomeView(assessment, job_ids)


async def add_case_note(principal: Principal, household_id: int, kind: str, text: str) -> CaseNote:
    require(principal, Action.CASEWORK)
    household = await get_visible(principal, Action.CASEWORK, household_id)
    errors = {}
    if kind not in CaseNoteKind.__members__.values():
        errors["kind"] = _("Choose a note, a call or a visit.")
    if not text.strip():
        errors["text"] = _("Required: what was said or done.")
    elif len(text) > MAX_TEXT:
        errors["text"] = _("At most {most} characters.").format(most=MAX_TEXT)
    if errors:
        raise InvalidInput(errors)
    async with in_transaction():
        note = await CaseNote.create(
            household_id=household.id, kind=CaseNoteKind(kind), text=text.strip(), author_id=principal.user_id
        )
        await record(
            principal,
            "household.case_note",
            "household",
            household.id,
            {"kind": kind, "note": note.id},
            households=[household.id],
        )
    return note
