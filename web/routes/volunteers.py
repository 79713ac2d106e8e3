"""Volunteer pages: the partner's list (dispatchers read, the admin manages: add, edit, import,
approve sign-ups, deactivate), the public sign-up page behind the partner's link, and the
volunteer's own profile with weekly availability and days off (alliance/visits/volunteers.py)."""

from __future__ import annotations

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core import audit
from alliance.core.access import Action, allows, require
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import LOCAL_TZ, utc_now
from alliance.households.intake_format import UnreadableFile
from alliance.visits import volunteers
from alliance.visits.volunteers import LANGUAGE_CODES, SKILL_CODES, SignupLinkInvalid, VolunteerForm
from web.auth import client_address, require_principal
from web.flash import go, take_flash
from web.templating import render

MAX_UPLOAD = 5 * 1024 * 1024


def _form(form: FormData) -> VolunteerForm:
    return VolunteerForm(
        name=str(form.get("name", "")),
        phone=str(form.get("phone", "")),
        skills=tuple(str(value) for value in form.getlist("skills")),
        languages=tuple(str(value) for value in form.getlist("languages")),
        max_travel_km=str(form.get("max_travel_km", "")),
        community=str(form.get("community", "")),
        lat=str(form.get("lat", "")),
        lon=str(form.get("lon", "")),
        availability=str(form.get("availability", "")),
    )


def _choices() -> dict:
    return {"skill_codes": list(SKILL_CODES), "language_codes": list(LANGUAGE_CODES)}


# --- the partner's list -------------------------------------------------------------------------------


async def _list_page(request: Request, *, report=None, upload_error: str = "", status: int = 200) -> Response:
    principal = await require_principal(request)
    require(principal, Action.VIEW_VOLUNTEERS)
    show = request.query_params.get("show", "active")
    show = show if show in ("active", "pending", "inactive") else "active"
    rows = await volunteers.volunteers_of(principal, show=show)
    await audit.viewed(
        principal,
        "volunteer.list_view",
        ("volunteer", "list"),
        volunteers=[row.id for row in rows],
        address=client_address(request),
    )
    manage = allows(principal, Action.MANAGE_VOLUNTEERS)
    link = await volunteers.current_signup_link(principal) if manage else None
    secret = request.app.state.settings.secret_key
    return render(
        request,
        "volunteers/list.html",
        {
            "rows": rows,
            "show": show,
            "manage": manage,
            "signup_url": str(request.base_url).rstrip("/") + volunteers.signup_path(secret, link)
            if link
            else "",
            "report": report,
            "upload_error": upload_error,
            "message": take_flash(request),
            "format_weekly": volunteers.format_weekly,
            "today": utc_now().astimezone(LOCAL_TZ).date(),
        },
        status_code=status,
    )


async def volunteer_list(request: Request) -> Response:
    return await _list_page(request)


async def _editor(request: Request, values: VolunteerForm, errors: dict, volunteer=None, status: int = 200):
    login = await volunteers.login_of(volunteer.id) if volunteer else None
    return render(
        request,
        "volunteers/form.html",
        {
            "values": values,
            "errors": errors,
            "volunteer": volunteer,
            "login": login,
            "message": take_flash(request),
            **_choices(),
        },
        status_code=status,
    )


async def volunteer_new(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_VOLUNTEERS)
    return await _editor(request, VolunteerForm(), {})


async def volunteer_create(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_VOLUNTEERS)
    values = _form(await request.form())
    try:
        volunteer = await volunteers.create_volunteer(principal, values, address=client_address(request))
    except InvalidInput as refused:
        return await _editor(request, values, refused.errors, status=422)
    return go(request, f"/partner/volunteers/{volunteer.id}", _("The volunteer is added."))


async def volunteer_edit(request: Request) -> Response:
    principal = await require_principal(request)
    volunteer = await volunteers.managed_volunteer(principal, request.path_params["volunteer_id"])
    await audit.viewed(
        principal,
        "volunteer.view",
        ("volunteer", volunteer.id),
        volunteers=[volunteer.id],
        address=client_address(request),
    )
    response = await _editor(request, VolunteerForm.of(volunteer), {}, volunteer)
    return response


async def volunteer_update(request: Request) -> Response:
    principal = await require_principal(request)
    volunteer = await volunteers.managed_volunteer(principal, request.path_params["volunteer_id"])
    values = _form(await request.form())
    try:
        await volunteers.update_volunteer(principal, volunteer.id, values, address=client_address(request))
    except InvalidInput as refused:
        return await _editor(request, values, refused.errors, volunteer, status=422)
    return go(request, f"/partner/volunteers/{volunteer.id}", _("The volunteer is saved."))


async def volunteer_active(request: Request) -> Response:
    principal = await require_principal(request)
    volunteer_id = request.path_params["volunteer_id"]
    active = str((await request.form()).get("active", "")) == "1"
    outcome = await volunteers.set_volunteer_active(
        principal, volunteer_id, active, address=client_address(request)
    )
    if active:
        message = _("The volunteer is active again.")
    elif outcome.freed_visits:
        message = _(
            "The volunteer is deactivated and freed from {count} coming visit(s); your dispatchers are told."
        ).format(count=len(outcome.freed_visits))
    else:
        message = _("The volunteer is deactivated.")
    return go(request, f"/partner/volunteers/{volunteer_id}", message)


async def volunteer_decide(request: Request) -> Response:
    principal = await require_principal(request)
    volunteer_id = request.path_params["volunteer_id"]
    approve = str((await request.form()).get("decision", "")) == "approve"
    try:
        await volunteers.decide_signup(principal, volunteer_id, approve, address=client_address(request))
    except InvalidInput as refused:
        return go(request, "/partner/volunteers?show=pending", next(iter(refused.errors.values())))
    return go(
        request,
        "/partner/volunteers?show=pending",
        _("The volunteer is approved.") if approve else _("The sign-up is rejected."),
    )


async def volunteer_login(request: Request) -> Response:
    principal = await require_principal(request)
    volunteer_id = request.path_params["volunteer_id"]
    try:
        issued = await volunteers.give_login(
            principal, volunteer_id, request.app.state.settings.secret_key, address=client_address(request)
        )
    except InvalidInput as refused:
        return go(request, f"/partner/volunteers/{volunteer_id}", next(iter(refused.errors.values())))
    volunteer = await volunteers.managed_volunteer(principal, volunteer_id)
    return render(
        request,
        "volunteers/login_issued.html",
        {
            "volunteer": volunteer,
            "user": issued.user,
            "url": str(request.base_url).rstrip("/") + issued.path,
            "expires_at": issued.expires_at,
        },
    )


async def volunteer_import(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_VOLUNTEERS)
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _list_page(request, upload_error=_("Choose a CSV or XLSX file."), status=422)
    data = await upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return await _list_page(request, upload_error=_("The file is larger than 5 MB."), status=422)
    try:
        report = await volunteers.import_volunteers(
            principal, data, upload.filename, address=client_address(request)
        )
    except UnreadableFile as error:
        return await _list_page(request, upload_error=str(error), status=422)
    return await _list_page(request, report=report)


async def signup_link_new(request: Request) -> Response:
    principal = await require_principal(request)
    await volunteers.new_signup_link(principal, address=client_address(request))
    return go(
        request,
        "/partner/volunteers#signup",
        _("A new sign-up link is ready; any older link no longer works."),
    )


async def signup_link_revoke(request: Request) -> Response:
    principal = await require_principal(request)
    await volunteers.revoke_signup_link(principal, address=client_address(request))
    return go(request, "/partner/volunteers#signup", _("The sign-up link no longer works."))


# --- the public sign-up page ---------------------------------------------------------------------------


async def _join_page(
    request: Request, values: VolunteerForm, errors: dict, *, done: bool = False, status: int = 200
):
    try:
        partner = await volunteers.partner_of_link(
            request.app.state.settings.secret_key, request.path_params["token"]
        )
    except SignupLinkInvalid:
        return render(request, "volunteers/join_gone.html", {}, status_code=404)
    return render(
        request,
        "volunteers/join.html",
        {
            "partner": partner,
            "values": values,
            "errors": errors,
            "done": done,
            "action": request.url.path,
            **_choices(),
        },
        status_code=status,
    )


async def join_page(request: Request) -> Response:
    return await _join_page(request, VolunteerForm(), {})


async def join(request: Request) -> Response:
    values = _form(await request.form())
    try:
        await volunteers.sign_up(
            request.app.state.settings.secret_key,
            request.path_params["token"],
            values,
            address=client_address(request),
        )
    except SignupLinkInvalid:
        return render(request, "volunteers/join_gone.html", {}, status_code=404)
    except InvalidInput as refused:
        return await _join_page(request, values, refused.errors, status=422)
    return await _join_page(request, VolunteerForm(), {}, done=True)


# --- the volunteer's own profile -----------------------------------------------------------------------


async def _profile_page(
    request: Request, values: VolunteerForm | None = None, errors: dict | None = None, status: int = 200
):
    principal = await require_principal(request)
    volunteer = await volunteers.own_profile(principal)
    await audit.viewed(
        principal,
        "volunteer.profile_view",
        ("volunteer", volunteer.id),
        volunteers=[volunteer.id],
        address=client_address(request),
    )
    return render(
        request,
        "volunteers/profile.html",
        {
            "volunteer": volunteer,
            "values": values or VolunteerForm.of(volunteer),
            "errors": errors or {},
            "time_off": await volunteers.coming_time_off(volunteer.id),
            "message": take_flash(request),
            **_choices(),
        },
        status_code=status,
    )


async def profile(request: Request) -> Response:
    return await _profile_page(request)


async def profile_save(request: Request) -> Response:
    principal = await require_principal(request)
    values = _form(await request.form())
    try:
        await volunteers.update_own_profile(principal, values, address=client_address(request))
    except InvalidInput as refused:
        return await _profile_page(request, values, refused.errors, status=422)
    return go(request, "/volunteer/profile", _("Your profile is saved."))


async def time_off_add(request: Request) -> Response:
    principal = await require_principal(request)
    form = await request.form()
    try:
        await volunteers.add_time_off(
            principal,
            str(form.get("first_day", "")),
            str(form.get("last_day", "")),
            str(form.get("reason", "")),
            address=client_address(request),
        )
    except InvalidInput as refused:
        return await _profile_page(request, None, refused.errors, status=422)
    return go(
        request, "/volunteer/profile#time-off", _("Your days off are saved: you will not be suggested then.")
    )


async def time_off_remove(request: Request) -> Response:
    principal = await require_principal(request)
    value = str((await request.form()).get("time_off_id", ""))
    await volunteers.remove_time_off(
        principal, int(value) if value.isdigit() else 0, address=client_address(request)
    )
    return go(request, "/volunteer/profile#time-off", _("The days off are removed."))


routes = [
    Route("/partner/volunteers", volunteer_list, methods=["GET"], name="volunteers"),
    Route("/partner/volunteers/new", volunteer_new, methods=["GET"], name="volunteer_new"),
    Route("/partner/volunteers/new", volunteer_create, methods=["POST"], name="volunteer_create"),
    Route("/partner/volunteers/import", volunteer_import, methods=["POST"], name="volunteer_import"),
    Route("/partner/volunteers/signup-link", signup_link_new, methods=["POST"], name="volunteer_signup_link"),
    Route(
        "/partner/volunteers/signup-link/revoke",
        signup_link_revoke,
        methods=["POST"],
        name="volunteer_signup_link_revoke",
    ),
    Route("/partner/volunteers/{volunteer_id:int}", volunteer_edit, methods=["GET"], name="volunteer"),
    Route(
        "/partner/volunteers/{volunteer_id:int}", volunteer_update, methods=["POST"], name="volunteer_update"
    ),
    Route(
        "/partner/volunteers/{volunteer_id:int}/active",
        volunteer_active,
        methods=["POST"],
        name="volunteer_active",
    ),
    Route(
        "/partner/volunteers/{volunteer_id:int}/decide",
        volunteer_decide,
        methods=["POST"],
        name="volunteer_decide",
    ),
    Route(
        "/partner/volunteers/{volunteer_id:int}/login",
        volunteer_login,
        methods=["POST"],
        name="volunteer_login",
    ),
    Route("/join/{token}", join_page, methods=["GET"], name="volunteer_join"),
    Route("/join/{token}", join, methods=["POST"], name="volunteer_join_post"),
    Route("/volunteer/profile", profile, methods=["GET"], name="volunteer_profile"),
    Route("/volunteer/profile", profile_save, methods=["POST"], name="volunteer_profile_save"),
    Route("/volunteer/time-off", time_off_add, methods=["POST"], name="volunteer_time_off"),
    Route("/volunteer/time-off/remove", time_off_remove, methods=["POST"], name="volunteer_time_off_remove"),
]
