"""Visit pages: the dispatcher's planner for a claimed request, the partner's visits and one visit
(move, restaff, cancel); the household's personal link; a community worker answering for a
household; a volunteer's calendar feed."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core import audit
from alliance.core.access import Action, require
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import to_local
from alliance.matching.claims import InvalidTransition
from alliance.visits import household_responses, scheduling, selectors
from alliance.visits.links import LinkExpired, LinkInvalid
from alliance.visits.scheduling import ScheduleError, VisitOutcome
from alliance.visits.volunteer_calendar import volunteer_calendar
from alliance.visits.windows import local_window
from web.auth import client_address, current_principal, require_principal
from web.flash import go, take_flash
from web.htmx_hooks import hx_retarget, is_htmx
from web.jobs import enqueue_quietly, relay_outbox
from web.params import bounded_int
from web.templating import render

DEFAULT_DURATION_MINUTES = 60
DURATIONS = (30, 60, 90, 120, 180, 240)


def _parse_window(values: QueryParams | FormData) -> tuple[datetime, datetime] | None:
    """(start, end) from the form's local date and times; None when the fields are empty. Raises
    InvalidInput naming the bad field."""
    day_text, start_text, end_text = (str(values.get(name, "")).strip() for name in ("date", "start", "end"))
    if not (day_text or start_text or end_text):
        return None
    errors = {}
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        errors["date"] = _("Enter a date.")
    try:
        start = time.fromisoformat(start_text)
    except ValueError:
        errors["start"] = _("Enter a start time.")
    try:
        end = time.fromisoformat(end_text)
    except ValueError:
        errors["end"] = _("Enter an end time.")
    if errors:
        raise InvalidInput(errors)
    return local_window(day, start, end)


def _duration(values: QueryParams) -> int:
    found = bounded_int(str(values.get("duration", "")))
    return found if found in DURATIONS else DEFAULT_DURATION_MINUTES


def _form_fields(window: tuple[datetime, datetime] | None) -> dict[str, str]:
    if window is None:
        return {"date": "", "start": "", "end": ""}
    start, end = (to_local(moment) for moment in window)
    return {"date": start.date().isoformat(), "start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}  # type: ignore[union-attr]


def _error_texts(error: Exception) -> dict[str, str]:
    if isinstance(error, InvalidInput):
        return dict(error.errors)
    return {"form": getattr(error, "message", str(error))}


async def _after_commit(request: Request, outcome: VisitOutcome) -> None:
    """Queue the change's outbox jobs now (Redis down: the worker's relay does it later), and send a
    request that went back to the pool through matching again."""
    if outcome.job_ids:
        await relay_outbox(request.app, outcome.job_ids)
    if outcome.released_request_id is not None:
        await enqueue_quietly(request.app, "match_requests_job", [outcome.released_request_id])


# --- the dispatcher's planner ---------------------------------------------------------------------


async def _planner_page(
    request: Request,
    window: tuple[datetime, datetime] | None,
    *,
    propose: bool = False,
    errors: dict[str, str] | None = None,
    chosen: list[int] | None = None,
    notes: str = "",
    status: int = 200,
) -> Response:
    principal = await require_principal(request)
    duration = _duration(request.query_params)
    planner = await selectors.schedule_planner(
        principal,
        request.path_params["request_id"],
        window,
        timedelta(minutes=duration) if propose else None,
    )
    # The planner shows the household's name and address, and the partner's volunteers.
    await audit.viewed(
        principal,
        "request.schedule_view",
        ("request", planner.request_id),
        requests=[planner.request_id],
        volunteers=[fit.volunteer_id for fit in planner.fits],
        address=client_address(request),
    )
    if chosen is None:
        chosen = [planner.fits[0].volunteer_id] if planner.fits and planner.fits[0].suitable else []
    fields = _form_fields((planner.window_start, planner.window_end) if planner.window_start else window)
    response = render(
        request,
        "visits/schedule.html",
        {
            "planner": planner,
            "fields": fields,
            "duration": duration,
            "durations": DURATIONS,
            "chosen": chosen,
            "notes": notes,
            "errors": errors or {},
        },
        block="planner",
        status_code=status,
    )
    if is_htmx(request) and status >= 400:
        # htmx swaps 4xx only when told to: the planner with its errors is the answer.
        response.status_code = 200
        hx_retarget(response, "#planner", "outerHTML")
    return response


async def schedule_form(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.SCHEDULE_VISITS)
    try:
        window = _parse_window(request.query_params)
    except InvalidInput as refused:
        return await _planner_page(request, None, errors=refused.errors, status=422)
    return await _planner_page(request, window, propose=request.query_params.get("propose") == "1")


async def schedule(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.SCHEDULE_VISITS)
    form = await request.form()
    chosen = [found for value in form.getlist("volunteer_ids") if (found := bounded_int(str(value)))]
    notes = str(form.get("notes", ""))
    window = None
    try:
        window = _parse_window(form)
        if window is None:
            raise InvalidInput({"date": _("Enter a date."), "start": _("Enter a start time.")})
        outcome = await scheduling.schedule_visit(
            principal, request.path_params["request_id"], window[0], window[1], chosen, notes
        )
    except (InvalidInput, ScheduleError, InvalidTransition) as refused:
        return await _planner_page(
            request, window, errors=_error_texts(refused), chosen=chosen, notes=notes, status=422
        )
    await _after_commit(request, outcome)
    return go(request, f"/visits/{outcome.visit.id}", _("The visit is scheduled."))


# --- the partner's visits -------------------------------------------------------------------------


async def visit_list(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.SCHEDULE_VISITS)
    include_past = request.query_params.get("past") == "1"
    rows = await selectors.partner_visits(principal, include_past=include_past)
    await audit.viewed(
        principal, "visits.list_view", visits=[row.visit_id for row in rows], address=client_address(request)
    )
    return render(request, "visits/list.html", {"rows": rows, "include_past": include_past})


async def _visit_detail(
    request: Request, *, errors: dict[str, str] | None = None, status: int = 200, message: str = ""
) -> Response:
    principal = await require_principal(request)
    page = await selectors.visit_page(
        principal, request.path_params["visit_id"], request.app.state.settings.secret_key
    )
    await audit.viewed(
        principal,
        "visit.view",
        ("visit", page.visit.id),
        visits=[page.visit.id],
        volunteers=[fit.volunteer_id for fit in page.fits] or page.volunteer_ids,
        address=client_address(request),
    )
    response = render(
        request,
        "visits/visit.html",
        {
            "page": page,
            "fields": _form_fields((page.visit.window_start, page.visit.window_end)),
            "response_url": str(request.base_url).rstrip("/") + page.response_path,
            "errors": errors or {},
            "message": message,
        },
        status_code=status,
    )
    if is_htmx(request) and status >= 400:
        response.status_code = 200
        hx_retarget(response, "main", "innerHTML")
    return response


async def visit_view(request: Request) -> Response:
    return await _visit_detail(request, message=take_flash(request))


async def _visit_change(request: Request, change) -> Response:
    principal = await require_principal(request)
    require(principal, Action.SCHEDULE_VISITS)
    form = await request.form()
    visit_id = request.path_params["visit_id"]
    try:
        outcome, message = await change(principal, visit_id, form)
    except (InvalidInput, ScheduleError, InvalidTransition) as refused:
        return await _visit_detail(request, errors=_error_texts(refused), status=422)
    await _after_commit(request, outcome)
    return go(request, f"/visits/{visit_id}", message)


async def reschedule(request: Request) -> Response:
    async def change(principal, visit_id, form):
        window = _parse_window(form)
        if window is None:
            raise InvalidInput({"date": _("Enter a date.")})
        return await scheduling.reschedule_visit(principal, visit_id, *window), _("The visit is moved.")

    return await _visit_change(request, change)


async def restaff(request: Request) -> Response:
    async def change(principal, visit_id, form):
        chosen = [found for value in form.getlist("volunteer_ids") if (found := bounded_int(str(value)))]
        return await scheduling.change_volunteers(principal, visit_id, chosen), _(
            "The volunteers are changed."
        )

    return await _visit_change(request, change)


async def cancel(request: Request) -> Response:
    async def change(principal, visit_id, form):
        outcome = await scheduling.cancel_visit(principal, visit_id, str(form.get("reason", "")))
        return outcome, _("The visit is cancelled; the request is yours to schedule again.")

    return await _visit_change(request, change)


# --- the household's personal link ----------------------------------------------------------------


async def _link_page(
    request: Request, *, errors: dict[str, str] | None = None, message: str = ""
) -> Response:
    # The link works without signing in; a signed-in household (or worker) keeps its navigation.
    await current_principal(request)
    secret = request.app.state.settings.secret_key
    token = request.path_params["token"]
    try:
        view = await selectors.visit_for_link(secret, token)
    except LinkExpired:
        return render(request, "visits/respond_gone.html", {"expired": True}, status_code=410)
    except (LinkInvalid, NotFound):
        return render(request, "visits/respond_gone.html", {"expired": False}, status_code=404)
    return render(
        request,
        "visits/respond.html",
        {"view": view, "action": f"/visit-response/{token}", "errors": errors or {}, "message": message},
        status_code=422 if errors else 200,
    )


async def respond_page(request: Request) -> Response:
    return await _link_page(request, message=take_flash(request))


def _answered_message(response: str) -> str:
    messages = {
        "confirmed": _("Thank you. We will come at that time."),
        "reschedule": _("Thank you. The organisation will call you to agree another time."),
        "declined": _("Thank you. The visit is called off."),
    }
    return messages.get(response, "")


async def respond(request: Request) -> Response:
    form = await request.form()
    answer = str(form.get("response", ""))
    try:
        outcome = await household_responses.respond_by_link(
            request.app.state.settings.secret_key,
            request.path_params["token"],
            answer,
            str(form.get("note", "")),
        )
    except (LinkExpired, LinkInvalid, NotFound):
        return await _link_page(request)
    except (InvalidInput, InvalidTransition) as refused:
        return await _link_page(request, errors=_error_texts(refused))
    await _after_commit(request, outcome)
    return go(request, f"/visit-response/{request.path_params['token']}", _answered_message(answer))


# --- a community worker answering for a household -------------------------------------------------


async def _household_page(
    request: Request, household_id: int, errors: dict[str, str] | None = None
) -> Response:
    principal = await require_principal(request)
    household, shown = await selectors.household_visits(principal, household_id)
    await audit.viewed(
        principal, "household.visits_view", households=[household.id], address=client_address(request)
    )
    return render(
        request,
        "visits/household_visits.html",
        {"household": household, "shown": shown, "errors": errors or {}, "message": take_flash(request)},
        status_code=422 if errors else 200,
    )


async def household_visits(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.RESPOND_FOR_HOUSEHOLDS)
    return await _household_page(request, request.path_params["household_id"])


async def respond_for_household(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.RESPOND_FOR_HOUSEHOLDS)
    form = await request.form()
    answer = str(form.get("response", ""))
    visit_id = request.path_params["visit_id"]
    household_id = await selectors.household_of_visit(principal, visit_id)
    try:
        outcome = await household_responses.respond_on_behalf(
            principal, visit_id, answer, str(form.get("note", ""))
        )
    except (InvalidInput, InvalidTransition) as refused:
        return await _household_page(request, household_id, _error_texts(refused))
    await _after_commit(request, outcome)
    return go(request, f"/households/{household_id}/visits", _answered_message(answer))


# --- the volunteer's calendar feed ----------------------------------------------------------------


async def calendar_feed(request: Request) -> Response:
    try:
        body = await volunteer_calendar(
            request.app.state.settings.secret_key,
            request.path_params["token"],
            address=client_address(request),
        )
    except LinkInvalid as error:
        raise NotFound("calendar") from error
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={
            # Households' addresses: kept nowhere on the way (and a replaced link shows nothing old).
            "Cache-Control": "no-store",
            "Content-Disposition": 'inline; filename="visits.ics"',
        },
    )


routes = [
    Route("/requests/{request_id:int}/schedule", schedule_form, methods=["GET"], name="visit_planner"),
    Route("/requests/{request_id:int}/schedule", schedule, methods=["POST"], name="visit_schedule"),
    Route("/visits", visit_list, methods=["GET"], name="visits"),
    Route("/visits/{visit_id:int}", visit_view, methods=["GET"], name="visit"),
    Route("/visits/{visit_id:int}/reschedule", reschedule, methods=["POST"], name="visit_reschedule"),
    Route("/visits/{visit_id:int}/volunteers", restaff, methods=["POST"], name="visit_volunteers"),
    Route("/visits/{visit_id:int}/cancel", cancel, methods=["POST"], name="visit_cancel"),
    Route("/visits/{visit_id:int}/respond", respond_for_household, methods=["POST"], name="visit_respond"),
    Route(
        "/households/{household_id:int}/visits", household_visits, methods=["GET"], name="household_visits"
    ),
    Route("/visit-response/{token}", respond_page, methods=["GET"], name="visit_response"),
    Route("/visit-response/{token}", respond, methods=["POST"], name="visit_response_post"),
    Route("/calendar/{token}.ics", calendar_feed, methods=["GET"], name="volunteer_calendar"),
]
