"""The public sign-up of a partner organisation (no login; limited per client address like logins)."""

from __future__ import annotations

from datetime import timedelta

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core.codes import NeedCode, PartnerKind
from alliance.core.errors import InvalidInput
from alliance.core.i18n import ngettext
from alliance.core.login_limits import admit_submission
from alliance.partners.applications import ApplicationForm, service_area_choices, submit_application
from web.auth import client_address
from web.templating import render


def application_form(form: FormData) -> ApplicationForm:
    return ApplicationForm(
        name=str(form.get("name", "")),
        kind=str(form.get("kind", "")),
        credit_code=str(form.get("credit_code", "")),
        contact_name=str(form.get("contact_name", "")),
        contact_phone=str(form.get("contact_phone", "")),
        contact_email=str(form.get("contact_email", "")),
        region_code=str(form.get("region_code", "")),
        service_region_codes=tuple(str(code) for code in form.getlist("service_region_codes")),
        needs=tuple(str(need) for need in form.getlist("needs")),
        description=str(form.get("description", "")),
        username=str(form.get("username", "")),
    )


async def form_choices() -> dict:
    return {"kinds": list(PartnerKind), "need_codes": list(NeedCode), "regions": await service_area_choices()}


async def join(request: Request) -> Response:
    context = {"values": ApplicationForm(), "errors": {}, **await form_choices()}
    if request.method == "GET":
        return render(request, "join/join.html", context)
    values = application_form(await request.form())
    context["values"] = values
    admission = await admit_submission("join", client_address(request))
    if not admission.admitted:
        seconds = admission.retry_after_seconds
        context["error"] = ngettext(
            "Too many applications from this address. Try again in {seconds} second.",
            "Too many applications from this address. Try again in {seconds} seconds.",
            seconds,
        ).format(seconds=seconds)
        response = render(request, "join/join.html", context, status_code=429)
        response.headers["Retry-After"] = str(seconds)
        return response
    settings = request.app.state.settings
    try:
        application = await submit_application(
            values,
            settings.secret_key,
            timedelta(seconds=settings.password_reset_seconds),
            address=client_address(request),
        )
    except InvalidInput as invalid:
        context["errors"] = invalid.errors
        return render(request, "join/join.html", context, status_code=422)
    response = render(
        request,
        "join/received.html",
        {
            "partner": application.partner,
            "user": application.user,
            "link": str(request.base_url).rstrip("/") + application.link.path,
            "expires_at": application.link.expires_at,
        },
    )
    # The link opens the account: keep it out of every cache.
    response.headers["Cache-Control"] = "no-store"
    return response


routes = [Route("/join", join, methods=["GET", "POST"], name="join")]
