"""The working calendar (alliance/targets/holidays.py): public holidays and adjusted working days that
the response promises count with; admins add, change and remove days."""

from __future__ import annotations

from datetime import date

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core.access import Action, require
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import LOCAL_TZ, utc_now
from alliance.targets import holidays
from web.auth import client_address, require_principal
from web.flash import go, take_flash
from web.templating import render


def _year(request: Request) -> int:
    text = request.query_params.get("year", "")
    return int(text) if text.isdigit() and 2000 <= int(text) <= 2100 else utc_now().astimezone(LOCAL_TZ).year


def _weekday(day: date) -> str:
    names = (
        _("Monday"),
        _("Tuesday"),
        _("Wednesday"),
        _("Thursday"),
        _("Friday"),
        _("Saturday"),
        _("Sunday"),
    )
    return names[day.weekday()]


async def _page(
    request: Request,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    editing: int | None = None,
    status: int = 200,
) -> Response:
    year = _year(request)
    return render(
        request,
        "admin/holidays.html",
        {
            "year": year,
            "days": await holidays.calendar_days(year),
            "kinds": list(holidays.DayKind),
            "kind_label": holidays.day_kind_label,
            "weekday": _weekday,
            "errors": errors or {},
            "values": values or {},
            "editing": editing,
            "flash": take_flash(request),
        },
        status_code=status,
    )


async def calendar(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.EDIT_HOLIDAYS)
    if request.method == "POST":
        form = await request.form()
        values = {key: str(form.get(key, "")) for key in ("day", "kind", "name", "day_id")}
        day_id = int(values["day_id"]) if values["day_id"].isdigit() else None
        try:
            row = await holidays.save_calendar_day(
                principal, values["day"], values["kind"], values["name"], day_id, client_address(request)
            )
        except InvalidInput as invalid:
            return await _page(request, errors=invalid.errors, values=values, editing=day_id, status=422)
        return go(request, f"/admin/holidays?year={row.day.year}", _("{day} is saved.").format(day=row.day))
    editing = request.query_params.get("edit", "")
    return await _page(request, editing=int(editing) if editing.isdigit() else None)


async def remove(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.EDIT_HOLIDAYS)
    form = await request.form()
    day_id = str(form.get("day_id", ""))
    if not day_id.isdigit():
        raise NotFound("calendar_day", day_id)
    row = await holidays.remove_calendar_day(principal, int(day_id), client_address(request))
    return go(request, f"/admin/holidays?year={row.day.year}", _("{day} is removed.").format(day=row.day))


routes = [
    Route("/admin/holidays", calendar, methods=["GET", "POST"], name="holidays"),
    Route("/admin/holidays/remove", remove, methods=["POST"], name="holiday_remove"),
]
