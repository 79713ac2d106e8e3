"""The audit trail for administrators (everything) and coordinators (their region): who did, saw or
was refused what, filtered by person, household, action and date, a page at a time or as CSV."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core import audit
from alliance.core.access import Action, require
from alliance.core.i18n import gettext as _
from alliance.core.timeutil import LOCAL_TZ
from web.auth import require_principal
from web.params import bounded_int, page_param
from web.routes.exports import start_export
from web.templating import render


def _day(text: str, field: str, errors: dict[str, str]) -> datetime | None:
    """The start of a local (Asia/Shanghai) day, as an aware time."""
    if not text:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), time(), tzinfo=LOCAL_TZ)
    except ValueError:
        errors[field] = _("Write a date as YYYY-MM-DD, e.g. 2026-03-01.")
        return None


def _filters(request: Request) -> tuple[audit.AuditFilter, dict[str, str], dict[str, str]]:
    """The filters asked for, the errors to show beside their fields, and the values as typed."""
    params = request.query_params
    typed = {
        name: params.get(name, "").strip() for name in ("actor", "household", "action", "since", "until")
    }
    errors: dict[str, str] = {}
    household = typed["household"].lstrip("#")
    if household and bounded_int(household) is None:
        errors["household"] = _("A household number, e.g. 1024 (shown on the household's page).")
    since = _day(typed["since"], "since", errors)
    until = _day(typed["until"], "until", errors)
    if since and until and until < since:
        errors["until"] = _("The end date is before the start date.")
    wanted = audit.AuditFilter(
        actor=typed["actor"][:64],
        household_id=bounded_int(household) if not errors.get("household") else None,
        action=typed["action"][:64],
        since=since,
        # The end date is included: up to the start of the next day.
        until=until + timedelta(days=1) if until else None,
        page=page_param(params),
    )
    return wanted, errors, typed


async def audit_log(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.VIEW_AUDIT)
    wanted, errors, typed = _filters(request)
    result = await audit.audit_page(principal, wanted) if not errors else None
    query = urlencode({name: value for name, value in typed.items() if value})
    return render(
        request,
        "audit/log.html",
        {"result": result, "errors": errors, "typed": typed, "query": query, "areas": audit.ACTION_AREAS},
        block="results",
        status_code=422 if errors else 200,
    )


async def audit_export(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.VIEW_AUDIT)
    wanted, errors, _typed = _filters(request)
    if errors:
        return render(
            request,
            "audit/log.html",
            {"result": None, "errors": errors, "typed": _typed, "query": "", "areas": audit.ACTION_AREAS},
            status_code=422,
        )
    params = {
        "actor": wanted.actor,
        "household_id": wanted.household_id,
        "action": wanted.action,
        "since": wanted.since.isoformat() if wanted.since else None,
        "until": wanted.until.isoformat() if wanted.until else None,
    }
    # The whole trail may be millions of entries: a worker writes the file (alliance/core/exports.py).
    return await start_export(request, principal, "audit_csv", params)


routes = [
    Route("/audit", audit_log, methods=["GET"], name="audit"),
    Route("/audit/export.csv", audit_export, methods=["GET", "POST"], name="audit_export"),
]
