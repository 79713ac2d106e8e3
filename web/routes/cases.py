"""Casework pages: register a household found offline, the case timeline with notes and needs
assessments, and what a household starts (ask for help, report a change, no help wanted), by its
worker on its behalf or by the household itself on /my-household."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.cases.assessments import ASSESSMENT_CLOSE_REASONS, AssessmentForm, add_case_note, assess_need
from alliance.cases.eligibility import checks_of_household
from alliance.cases.household_actions import ask_for_help, decline_help, report_change, verify_change
from alliance.cases.household_edit import (
    EditForm,
    edit_household,
    editable_household,
    field_names,
    pending_change,
)
from alliance.cases.offline import (
    OfflineForm,
    PossibleDuplicates,
    link_referral,
    regions_for_registration,
    register_offline,
)
from alliance.cases.timeline import case_timeline
from alliance.core.access import Action, get_visible, require
from alliance.core.audit import viewed
from alliance.core.codes import (
    Accessibility,
    CaseNoteKind,
    ChangeKind,
    ContactPreference,
    FlagCode,
    NeedCode,
    ReferralSource,
    Role,
)
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.privacy import mask_phone
from alliance.households.geocoding import geocode_job_id
from alliance.matching.matching import match_job_id
from web.auth import client_address, require_principal
from web.flash import go, take_flash
from web.jobs import enqueue_quietly, relay_outbox
from web.templating import render

_CHOICES = {
    "flag_codes": list(FlagCode),
    "need_codes": list(NeedCode),
    "accessibility_codes": list(Accessibility),
    "contact_codes": list(ContactPreference),
    "referral_sources": list(ReferralSource),
    "note_kinds": list(CaseNoteKind),
    "change_kinds": list(ChangeKind),
    "close_reasons": list(ASSESSMENT_CLOSE_REASONS),
}


def _offline_form(form) -> OfflineForm:  # noqa: ANN001 - starlette's FormData
    return OfflineForm(
        head_name=str(form.get("head_name", "")).strip(),
        id_number=str(form.get("id_number", "")).strip(),
        phone=str(form.get("phone", "")).strip(),
        address=str(form.get("address", "")).strip(),
        region_code=str(form.get("region_code", "")).strip(),
        member_count=str(form.get("member_count", "1")).strip(),
        flags=[str(value) for value in form.getlist("flags")],
        needs=[str(value) for value in form.getlist("needs")],
        accessibility=[str(value) for value in form.getlist("accessibility")],
        contact_preference=str(form.get("contact_preference", "SMS")),
        source=str(form.get("source", "")),
        referrer_name=str(form.get("referrer_name", "")),
        referrer_agency=str(form.get("referrer_agency", "")),
    )


async def register(request: Request) -> Response:
    """The form; on POST the possible duplicates first (link or confirm new), then the household."""
    principal = await require_principal(request)
    require(principal, Action.CASEWORK)
    form, errors, duplicates, status_code = OfflineForm(), {}, [], 200
    if request.method == "POST":
        submitted = await request.form()
        form = _offline_form(submitted)
        try:
            registered = await register_offline(
                principal, form, confirmed_new=submitted.get("confirmed_new") == "1"
            )
        except PossibleDuplicates as found:
            duplicates, status_code = found.duplicates, 409
        except InvalidInput as invalid:
            errors, status_code = invalid.errors, 422
        else:
            batch = registered.result.batch
            await enqueue_quietly(
                request.app, "match_intake_batch", batch, job_id=match_job_id("batch", batch)
            )
            if registered.result.geocoding_pending:
                await enqueue_quietly(
                    request.app, "geocode_intake_batch", batch, job_id=geocode_job_id(batch)
                )
            return go(
                request,
                f"/households/{registered.household.id}/case",
                _("{name} is registered, unverified. Assess the needs and verify the household.").format(
                    name=registered.household.head_name
                ),
            )
    return render(
        request,
        "cases/register.html",
        {
            "form": form,
            "errors": errors,
            "duplicates": duplicates,
            "regions": await regions_for_registration(principal),
            **_CHOICES,
        },
        status_code=status_code,
    )


async def link(request: Request) -> Response:
    principal = await require_principal(request)
    form = _offline_form(await request.form())
    try:
        household = await link_referral(principal, request.path_params["household_id"], form)
    except InvalidInput as invalid:
        return render(
            request,
            "cases/register.html",
            {
                "form": form,
                "errors": invalid.errors,
                "duplicates": [],
                "regions": await regions_for_registration(principal),
                **_CHOICES,
            },
            status_code=422,
        )
    return go(
        request,
        f"/households/{household.id}/case",
        _("The referral is kept as a note on {name}'s case.").format(name=household.head_name),
    )


async def _case_page(
    request: Request,
    household_id: int,
    errors: dict[str, str] | None = None,
    form: str = "",
    status_code: int = 200,
) -> Response:
    principal = await require_principal(request)
    timeline = await case_timeline(principal, household_id, client_address(request))
    return render(
        request,
        "cases/case.html",
        {
            "timeline": timeline,
            "household": timeline.household,
            "errors": errors or {},
            "failed_form": form,
            "act_base": f"/households/{household_id}/case",
            "eligibility_checks": await checks_of_household(timeline.household.id),
            "message": take_flash(request),
            **_CHOICES,
        },
        status_code=status_code,
    )


async def case(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.CASEWORK)
    return await _case_page(request, request.path_params["household_id"])


async def _act(request: Request, form_name: str, act) -> Response:  # noqa: ANN001 - a coroutine function
    """Run one casework write for the household of the path; errors re-render the case page."""
    principal = await require_principal(request)
    require(principal, Action.CASEWORK)
    household_id = request.path_params["household_id"]
    await get_visible(principal, Action.CASEWORK, household_id)
    submitted = await request.form()
    try:
        message, job_ids = await act(principal, household_id, submitted)
    except InvalidInput as invalid:
        return await _case_page(request, household_id, invalid.errors, form_name, 422)
    if job_ids:
        await relay_outbox(request.app, job_ids)
    return go(request, f"/households/{household_id}/case#{form_name}", message)


async def add_note(request: Request) -> Response:
    async def act(principal, household_id, form):  # noqa: ANN001, ANN202
        await add_case_note(principal, household_id, str(form.get("kind", "")), str(form.get("text", "")))
        return _("Note saved."), []

    return await _act(request, "note-form", act)


async def assess(request: Request) -> Response:
    async def act(principal, household_id, form):  # noqa: ANN001, ANN202
        outcome = await assess_need(
            principal,
            household_id,
            AssessmentForm(
                need=str(form.get("need", "")),
                description=str(form.get("description", "")),
                severity=str(form.get("severity", "")),
                since=str(form.get("since", "")),
                action=str(form.get("action", "open")),
                close_reason=str(form.get("close_reason", "")),
                close_note=str(form.get("close_note", "")),
            ),
        )
        return _("Assessment saved."), outcome.job_ids

    return await _act(request, "assessment-form", act)


async def _help(principal, household_id, form):  # noqa: ANN001, ANN202
    outcome = await ask_for_help(
        principal, household_id, str(form.get("need", "")), str(form.get("text", ""))
    )
    message = (
        _("The request for help is open.")
        if outcome.created
        else _("A request for this need is open already.")
    )
    return message, outcome.job_ids


async def _change(principal, household_id, form):  # noqa: ANN001, ANN202
    outcome = await report_change(
        principal, household_id, str(form.get("kind", "")), str(form.get("details", ""))
    )
    return _("The change is recorded; the community worker will verify it."), outcome.job_ids


async def _decline(principal, household_id, form):  # noqa: ANN001, ANN202
    if form.get("confirm") != "1":
        raise InvalidInput({"confirm": _("Tick the box to confirm that no help is wanted.")})
    outcome = await decline_help(principal, household_id, str(form.get("note", "")))
    return _("No help wanted: {count} open request(s) closed.").format(
        count=len(outcome.requests)
    ), outcome.job_ids


async def help_on_behalf(request: Request) -> Response:
    return await _act(request, "help-form", _help)


async def change_on_behalf(request: Request) -> Response:
    return await _act(request, "change-form", _change)


async def decline_on_behalf(request: Request) -> Response:
    return await _act(request, "decline-form", _decline)


async def verify(request: Request) -> Response:
    principal = await require_principal(request)
    change = await verify_change(principal, request.path_params["change_id"])
    return go(request, f"/households/{change.household_id}/case", _("The change is marked verified."))  # type: ignore[attr-defined]


def _change_id(value: object) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


async def edit(request: Request) -> Response:
    """Edit a household's details; with change_id, apply a reported change and mark it verified."""
    principal = await require_principal(request)
    household_id = request.path_params["household_id"]
    household = await editable_household(principal, household_id)
    errors: dict[str, str] = {}
    status_code = 200
    if request.method == "POST":
        submitted = await request.form()
        form = EditForm(
            phone=str(submitted.get("phone", "")),
            change_phone=submitted.get("change_phone") == "1",
            address=str(submitted.get("address", "")),
            region_code=str(submitted.get("region_code", "")).strip(),
            accessibility=[str(value) for value in submitted.getlist("accessibility")],
            contact_preference=str(submitted.get("contact_preference", "")),
            member_count=str(submitted.get("member_count", "")),
            change_id=_change_id(submitted.get("change_id")),
        )
        try:
            outcome = await edit_household(principal, household_id, form, client_address(request))
        except InvalidInput as invalid:
            errors, status_code = invalid.errors, 422
        else:
            if outcome.job_ids:
                await relay_outbox(request.app, outcome.job_ids)
            message = (
                _("Saved: {fields}.").format(fields=field_names(outcome.changed))
                if outcome.changed
                else _("Nothing changed.")
            )
            if outcome.change is not None:
                message += " " + _("The change is marked verified.")
            return go(request, f"/households/{household_id}/case", message)
    else:
        form = EditForm.of(household)
        form.change_phone = request.query_params.get("change_phone") == "1"
        form.change_id = _change_id(request.query_params.get("change_id"))
    change = await pending_change(principal, household, form.change_id)
    await viewed(principal, "household.edit_view", households=[household.id], address=client_address(request))
    return render(
        request,
        "cases/edit_household.html",
        {
            "household": household,
            "form": form,
            "errors": errors,
            "change": change,
            "phone_masked": mask_phone(household.phone),
            "regions": await regions_for_registration(principal),
            **_CHOICES,
        },
        status_code=status_code,
    )


async def _own_act(request: Request, form_name: str, act) -> Response:  # noqa: ANN001
    """The household's own action from /my-household; errors re-render its form page."""
    principal = await require_principal(request)
    require(principal, Action.ACT_AS_HOUSEHOLD)
    household = await get_visible(principal, Action.ACT_AS_HOUSEHOLD, principal.household_id or 0)
    submitted = await request.form()
    try:
        message, job_ids = await act(principal, None, submitted)
    except InvalidInput as invalid:
        return render(
            request,
            "cases/household_act.html",
            {
                "household": household,
                "errors": invalid.errors,
                "failed_form": form_name,
                "act_base": "/my-household",
                **_CHOICES,
            },
            status_code=422,
        )
    if job_ids:
        await relay_outbox(request.app, job_ids)
    return go(request, "/my-household", message)


async def own_act_page(request: Request) -> Response:
    principal = await require_principal(request)
    if principal.role != Role.HOUSEHOLD:
        require(principal, Action.ACT_AS_HOUSEHOLD)
    household = await get_visible(principal, Action.ACT_AS_HOUSEHOLD, principal.household_id or 0)
    return render(
        request,
        "cases/household_act.html",
        {"household": household, "errors": {}, "failed_form": "", "act_base": "/my-household", **_CHOICES},
    )


async def own_help(request: Request) -> Response:
    return await _own_act(request, "help-form", _help)


async def own_change(request: Request) -> Response:
    return await _own_act(request, "change-form", _change)


async def own_decline(request: Request) -> Response:
    return await _own_act(request, "decline-form", _decline)


routes = [
    Route("/households/register", register, methods=["GET", "POST"], name="register_household"),
    Route("/households/register/link/{household_id:int}", link, methods=["POST"], name="link_referral"),
    Route("/households/{household_id:int}/case", case, methods=["GET"], name="case"),
    Route("/households/{household_id:int}/case/notes", add_note, methods=["POST"], name="case_note"),
    Route(
        "/households/{household_id:int}/case/assessments", assess, methods=["POST"], name="case_assessment"
    ),
    Route("/households/{household_id:int}/case/help", help_on_behalf, methods=["POST"], name="case_help"),
    Route(
        "/households/{household_id:int}/case/change", change_on_behalf, methods=["POST"], name="case_change"
    ),
    Route(
        "/households/{household_id:int}/case/decline",
        decline_on_behalf,
        methods=["POST"],
        name="case_decline",
    ),
    Route("/households/{household_id:int}/edit", edit, methods=["GET", "POST"], name="household_edit"),
    Route("/case/changes/{change_id:int}/verify", verify, methods=["POST"], name="case_verify_change"),
    Route("/my-household/act", own_act_page, methods=["GET"], name="own_act"),
    Route("/my-household/help", own_help, methods=["POST"], name="own_help"),
    Route("/my-household/change", own_change, methods=["POST"], name="own_change"),
    Route("/my-household/decline", own_decline, methods=["POST"], name="own_decline"),
]
