"""Event pages: the partner's events (publish, edit, cancel), one event (invitations, registrations,
waiting list, outcomes), attendance per session (tick list and card scan); the household's personal
registration link and its own events; a community worker registering on a household's behalf; the
coordinator's hires in the region."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core import audit
from alliance.core.access import Action, get_visible, require
from alliance.core.codes import EventKind, FlagCode
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import to_local, utc_now
from alliance.events import attendance, forms, invitations, outcomes, publishing, registrations, selectors
from alliance.events.codes import EventError, EventOutcome, OutcomeKind, VenueFeature
from alliance.events.forms import EventForm
from alliance.events.models import EventSession, Registration
from alliance.visits.cards import CardRefused
from alliance.visits.links import LinkExpired, LinkInvalid
from web.auth import client_address, current_principal, require_principal
from web.flash import go, take_flash
from web.htmx_hooks import hx_retarget, is_htmx
from web.jobs import relay_outbox
from web.params import bounded_int, int_param
from web.templating import render


def _refusal(error: Exception) -> dict[str, str]:
    if isinstance(error, InvalidInput):
        return dict(error.errors)
    if isinstance(error, CardRefused):
        return {"code": error.message}
    return {"form": getattr(error, "message", str(error))}


async def _relay(request: Request, job_ids: list[str]) -> None:
    if job_ids:
        await relay_outbox(request.app, job_ids)


def _int(value: object) -> int:
    text = str(value or "").strip()
    return bounded_int(text) or 0


# --- the partner's events -------------------------------------------------------------------------


async def event_list(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_EVENTS)
    include_past = request.query_params.get("past") == "1"
    rows = await selectors.partner_events(principal, include_past=include_past)
    return render(
        request,
        "events/list.html",
        {"rows": rows, "include_past": include_past, "message": take_flash(request)},
    )


def _event_form(form: FormData) -> EventForm:
    return EventForm(
        offering_id=str(form.get("offering_id", "")),
        kind=str(form.get("kind", EventKind.TRAINING)),
        title=str(form.get("title", "")),
        description=str(form.get("description", "")),
        venue=str(form.get("venue", "")),
        venue_lat=str(form.get("venue_lat", "")),
        venue_lon=str(form.get("venue_lon", "")),
        seats=str(form.get("seats", "")),
        waitlist_margin=str(form.get("waitlist_margin", "")),
        eligibility_flags=tuple(str(value) for value in form.getlist("eligibility_flags")),
        venue_accessibility=tuple(str(value) for value in form.getlist("venue_accessibility")),
        deadline_date=str(form.get("deadline_date", "")),
        deadline_time=str(form.get("deadline_time", "")),
        sessions=str(form.get("sessions", "")),
        employers=str(form.get("employers", "")),
    )


async def _editor(
    request: Request, values: EventForm, *, event_id: int | None = None, errors: dict[str, str] | None = None
) -> Response:
    principal = await require_principal(request)
    response = render(
        request,
        "events/form.html",
        {
            "values": values,
            "event_id": event_id,
            "errors": errors or {},
            "offerings": await forms.venue_offerings(principal),
            "kinds": list(EventKind),
            "flag_codes": list(FlagCode),
            "features": list(VenueFeature),
        },
        block="form",
        status_code=422 if errors else 200,
    )
    if errors and is_htmx(request):
        response.status_code = 200  # htmx swaps the form with its messages in place
    return response


async def event_new(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_EVENTS)
    return await _editor(request, EventForm(offering_id=request.query_params.get("offering", "")))


async def event_create(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_EVENTS)
    values = _event_form(await request.form())
    try:
        outcome = await publishing.publish_event(principal, values)
    except InvalidInput as invalid:
        return await _editor(request, values, errors=invalid.errors)
    await _relay(request, outcome.job_ids)
    return go(
        request,
        f"/partner/events/{outcome.event.id}",
        _("The event is published. Matching households are being invited."),
    )


async def event_edit(request: Request) -> Response:
    principal = await require_principal(request)
    event = await get_visible(principal, Action.MANAGE_EVENTS, request.path_params["event_id"])
    sessions = await EventSession.filter(event_id=event.id).order_by("starts_at")
    return await _editor(request, forms.event_form_of(event, sessions), event_id=event.id)


async def event_update(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_EVENTS)
    event_id = request.path_params["event_id"]
    values = _event_form(await request.form())
    try:
        outcome = await publishing.update_event(principal, event_id, values)
    except (InvalidInput, EventError) as refused:
        return await _editor(request, values, event_id=event_id, errors=_refusal(refused))
    await _relay(request, outcome.job_ids)
    return go(request, f"/partner/events/{event_id}", _("The event is saved."))


async def _event_detail(
    request: Request, *, errors: dict[str, str] | None = None, message: str = ""
) -> Response:
    principal = await require_principal(request)
    page = await selectors.event_page(principal, request.path_params["event_id"], client_address(request))
    # Registrants' names and phones, invitees' names once registered, the hired.
    await audit.viewed(
        principal,
        "event.view",
        ("event", page.event.id),
        households=[
            *(row.household_id for rows in (page.registered, page.waitlist, page.cancelled) for row in rows),
            *(row.household_id for row in page.invitations if row.name),
            *(outcome.household_id for outcome in page.outcomes),
        ],
        address=client_address(request),
    )
    response = render(
        request,
        "events/event.html",
        {
            "page": page,
            "errors": errors or {},
            "message": message,
            "outcome_kinds": list(OutcomeKind),
            "employers": page.event.employers or [],
            "asked_vias": list(registrations.AskedVia),
        },
        status_code=422 if errors else 200,
    )
    if errors and is_htmx(request):
        response.status_code = 200
        hx_retarget(response, "main", "innerHTML")
    return response


async def event_view(request: Request) -> Response:
    return await _event_detail(request, message=take_flash(request))


async def _event_change(request: Request, change) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_EVENTS)
    event_id = request.path_params["event_id"]
    form = await request.form()
    try:
        job_ids, message = await change(principal, event_id, form)
    except (InvalidInput, EventError) as refused:
        return await _event_detail(request, errors=_refusal(refused))
    await _relay(request, job_ids)
    return go(request, f"/partner/events/{event_id}", message)


async def event_cancel(request: Request) -> Response:
    async def change(principal, event_id, form):
        outcome = await publishing.cancel_event(principal, event_id, str(form.get("reason", "")))
        return outcome.job_ids, _("The event is cancelled; everyone registered is told.")

    return await _event_change(request, change)


async def event_invite(request: Request) -> Response:
    async def change(principal, event_id, _form):
        return await invitations.queue_invitations(principal, event_id), _("Invitations are being sent.")

    return await _event_change(request, change)


def _registered_message(outcome: EventOutcome) -> str:
    registration = outcome.registration
    if registration is not None and registration.confirmed_at is None:
        return _(
            "The place is held, awaiting the household's confirmation: we sent it a message with its "
            "link. Its name and phone show here once it confirms."
        )
    if registration is not None and registration.status == "waitlisted":
        return _("The event is full: the household is on the waiting list.")
    return _("The household is registered.")


async def event_register(request: Request) -> Response:
    async def change(principal, event_id, form):
        asked = registrations.parse_asked(
            str(form.get("asked_via", "")), str(form.get("asked_at", "")), str(form.get("asked_note", ""))
        )
        outcome = await registrations.register_by_partner(
            principal,
            event_id,
            _int(form.get("household_id")),
            asked,
            request.app.state.settings.secret_key,
        )
        return outcome.job_ids, _registered_message(outcome)

    return await _event_change(request, change)


async def event_outcome(request: Request) -> Response:
    async def change(principal, event_id, form):
        await outcomes.record_outcome(
            principal,
            event_id,
            _int(form.get("household_id")),
            str(form.get("kind", "")),
            str(form.get("employer", "")),
            str(form.get("job", "")),
            str(form.get("note", "")),
        )
        return [], _("The outcome is recorded.")

    return await _event_change(request, change)


async def registration_cancel(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_EVENTS)
    form = await request.form()
    outcome = await registrations.cancel_registration(
        principal, request.path_params["registration_id"], str(form.get("reason", ""))
    )
    await _relay(request, outcome.job_ids)
    return go(
        request,
        f"/partner/events/{outcome.event.id}",
        _("The registration is cancelled; the first on the waiting list moves up."),
    )


# --- attendance per session -----------------------------------------------------------------------


async def _session(
    request: Request, *, errors: dict[str, str] | None = None, message: str = "", status: int = 200
) -> Response:
    principal = await require_principal(request)
    page = await selectors.session_page(principal, request.path_params["session_id"], client_address(request))
    await audit.viewed(
        principal,
        "event_session.view",
        ("event_session", page.session.id),
        registrations=[row.registration_id for row in page.rows],
        address=client_address(request),
    )
    response = render(
        request,
        "events/attendance.html",
        {"page": page, "errors": errors or {}, "message": message},
        block="attendance",
        status_code=status,
    )
    if is_htmx(request):
        response.status_code = 200
    return response


async def session_view(request: Request) -> Response:
    return await _session(request, message=take_flash(request))


async def session_tick(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_EVENTS)
    form = await request.form()
    ids = [found for value in form.getlist("registration_ids") if (found := bounded_int(str(value)))]
    try:
        outcome = await attendance.record_attendance(principal, request.path_params["session_id"], ids)
    except (InvalidInput, EventError) as refused:
        return await _session(request, errors=_refusal(refused), status=422)
    message = _("Attendance recorded: {count}.").format(count=len(outcome.recorded))
    if is_htmx(request):
        return await _session(request, message=message)
    return go(request, f"/partner/sessions/{request.path_params['session_id']}", message)


async def session_scan(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.MANAGE_EVENTS)
    form = await request.form()
    try:
        outcome = await attendance.record_attendance_by_card(
            principal,
            request.path_params["session_id"],
            request.app.state.settings.secret_key,
            token=str(form.get("token", "")),
            code=str(form.get("code", "")),
        )
    except (InvalidInput, EventError, CardRefused) as refused:
        return await _session(request, errors=_refusal(refused), status=422)
    if outcome.recorded:
        message = _("{name} is here: attendance recorded.").format(name=outcome.household_name)
    else:
        message = _("{name} was already recorded for this session.").format(name=outcome.household_name)
    if is_htmx(request):
        return await _session(request, message=message)
    return go(request, f"/partner/sessions/{request.path_params['session_id']}", message)


# --- the household's personal link ----------------------------------------------------------------


async def _link_page(
    request: Request, *, errors: dict[str, str] | None = None, message: str = ""
) -> Response:
    # The link works without signing in; a signed-in household (or worker) keeps its navigation.
    await current_principal(request)
    token = request.path_params["token"]
    try:
        view = await registrations.event_for_link(request.app.state.settings.secret_key, token)
    except LinkExpired:
        return render(request, "events/register_gone.html", {"expired": True}, status_code=410)
    except (LinkInvalid, NotFound):
        return render(request, "events/register_gone.html", {"expired": False}, status_code=404)
    return render(
        request,
        "events/register.html",
        {"view": view, "action": f"/event-registration/{token}", "errors": errors or {}, "message": message},
        status_code=422 if errors else 200,
    )


async def link_page(request: Request) -> Response:
    return await _link_page(request, message=take_flash(request))


async def link_answer(request: Request) -> Response:
    form = await request.form()
    secret = request.app.state.settings.secret_key
    token = request.path_params["token"]
    try:
        if form.get("answer") == "cancel":
            outcome = await registrations.cancel_by_link(secret, token)
            message = _("Your place is given up. Thank you for telling us.")
        else:
            outcome = await registrations.register_by_link(secret, token)
            message = (
                _("The event is full. You are on the waiting list; we will tell you when a place is free.")
                if outcome.registration and outcome.registration.status == "waitlisted"
                else _("You are registered. We will remind you before each session.")
            )
    except (LinkExpired, LinkInvalid, NotFound):
        return await _link_page(request)
    except EventError as refused:
        return await _link_page(request, errors=_refusal(refused))
    await _relay(request, outcome.job_ids)
    return go(request, f"/event-registration/{token}", message)


async def own_events(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.VIEW_OWN_HOUSEHOLD)
    found = await selectors.own_events(principal, request.app.state.settings.secret_key)
    return render(request, "events/my_events.html", {"found": found})


# --- a community worker for a household -------------------------------------------------------------


async def _household_page(request: Request, *, errors: dict[str, str] | None = None) -> Response:
    principal = await require_principal(request)
    page = await selectors.household_events(principal, request.path_params["household_id"])
    await audit.viewed(
        principal, "household.events_view", households=[page.household.id], address=client_address(request)
    )
    return render(
        request,
        "events/household.html",
        {
            "page": page,
            "errors": errors or {},
            "message": take_flash(request),
            "outcome_kinds": list(OutcomeKind),
        },
        status_code=422 if errors else 200,
    )


async def household_events(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.REGISTER_FOR_HOUSEHOLDS)
    return await _household_page(request)


async def _for_household(request: Request, change) -> Response:
    principal = await require_principal(request)
    require(principal, Action.REGISTER_FOR_HOUSEHOLDS)
    household_id = request.path_params["household_id"]
    form = await request.form()
    try:
        job_ids, message = await change(principal, household_id, form)
    except (InvalidInput, EventError) as refused:
        return await _household_page(request, errors=_refusal(refused))
    await _relay(request, job_ids)
    return go(request, f"/households/{household_id}/events", message)


async def household_register(request: Request) -> Response:
    async def change(principal, household_id, _form):
        outcome = await registrations.register_on_behalf(
            principal, household_id, request.path_params["event_id"]
        )
        return outcome.job_ids, _registered_message(outcome)

    return await _for_household(request, change)


async def household_cancel(request: Request) -> Response:
    async def change(principal, household_id, form):
        registration_id = request.path_params["registration_id"]
        registration = await Registration.get_or_none(id=registration_id, household_id=household_id)
        if registration is None:
            raise NotFound(f"registration {registration_id}")
        outcome = await registrations.cancel_registration(
            principal, registration.id, str(form.get("reason", ""))
        )
        return outcome.job_ids, _("The registration is cancelled.")

    return await _for_household(request, change)


async def household_outcome(request: Request) -> Response:
    async def change(principal, household_id, form):
        await outcomes.record_outcome(
            principal,
            request.path_params["event_id"],
            household_id,
            str(form.get("kind", "")),
            str(form.get("employer", "")),
            str(form.get("job", "")),
            str(form.get("note", "")),
        )
        return [], _("The outcome is recorded.")

    return await _for_household(request, change)


# --- coordinators: hires in the region ----------------------------------------------------------------


async def hires(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.VIEW_EVENT_HIRES)
    this_year = to_local(utc_now()).year  # type: ignore[union-attr]
    year = int_param(request.query_params, "year", this_year, minimum=2000, maximum=2100)
    report = await outcomes.hires_in_region(principal, year)
    await audit.viewed(
        principal,
        "event_hires.view",
        households=[row.household_id for row in report.rows],
        address=client_address(request),
    )
    return render(
        request,
        "events/hires.html",
        {"report": report, "year": year, "years": list(range(this_year, this_year - 5, -1))},
    )


routes = [
    Route("/partner/events", event_list, methods=["GET"], name="events"),
    Route("/partner/events/new", event_new, methods=["GET"], name="event_new"),
    Route("/partner/events/new", event_create, methods=["POST"], name="event_create"),
    Route("/partner/events/{event_id:int}", event_view, methods=["GET"], name="event"),
    Route("/partner/events/{event_id:int}/edit", event_edit, methods=["GET"], name="event_edit"),
    Route("/partner/events/{event_id:int}/edit", event_update, methods=["POST"], name="event_update"),
    Route("/partner/events/{event_id:int}/cancel", event_cancel, methods=["POST"], name="event_cancel"),
    Route("/partner/events/{event_id:int}/invite", event_invite, methods=["POST"], name="event_invite"),
    Route("/partner/events/{event_id:int}/register", event_register, methods=["POST"], name="event_register"),
    Route("/partner/events/{event_id:int}/outcomes", event_outcome, methods=["POST"], name="event_outcome"),
    Route(
        "/partner/registrations/{registration_id:int}/cancel",
        registration_cancel,
        methods=["POST"],
        name="registration_cancel",
    ),
    Route("/partner/sessions/{session_id:int}", session_view, methods=["GET"], name="event_session"),
    Route(
        "/partner/sessions/{session_id:int}/attendance", session_tick, methods=["POST"], name="session_tick"
    ),
    Route("/partner/sessions/{session_id:int}/scan", session_scan, methods=["POST"], name="session_scan"),
    Route("/event-registration/{token}", link_page, methods=["GET"], name="event_link"),
    Route("/event-registration/{token}", link_answer, methods=["POST"], name="event_link_answer"),
    Route("/my-household/events", own_events, methods=["GET"], name="own_events"),
    Route(
        "/households/{household_id:int}/events", household_events, methods=["GET"], name="household_events"
    ),
    Route(
        "/households/{household_id:int}/events/{event_id:int}/register",
        household_register,
        methods=["POST"],
        name="household_event_register",
    ),
    Route(
        "/households/{household_id:int}/registrations/{registration_id:int}/cancel",
        household_cancel,
        methods=["POST"],
        name="household_registration_cancel",
    ),
    Route(
        "/households/{household_id:int}/events/{event_id:int}/outcomes",
        household_outcome,
        methods=["POST"],
        name="household_event_outcome",
    ),
    Route("/events/hires", hires, methods=["GET"], name="event_hires"),
]
