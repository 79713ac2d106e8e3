"""The coordinator's cockpit (home page): targets, pace, breakdowns, operational figures, the unserved
list; its exports and printable monthly report; the admin's target editing page."""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from alliance.core import audit
from alliance.core.access import Action, Principal, allows, require
from alliance.core.codes import TargetMetric
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.labels import label
from alliance.core.timeutil import LOCAL_TZ, aware, utc_now
from alliance.events import outcomes
from alliance.notifications.outbox import add_job
from alliance.partners.models import Project
from alliance.targets import cockpit, cockpit_snapshots, progress, scopes, targets
from alliance.targets.models import Target, TargetChange
from alliance.targets.unserved import DEFAULT_UNSERVED_DAYS, escalate_household
from web.auth import client_address, require_principal
from web.charts import Bar, bar_chart, line_chart
from web.htmx_hooks import is_htmx
from web.jobs import relay_outbox
from web.params import int_param
from web.redirects import safe_referer
from web.routes.exports import start_export
from web.templating import render

MAX_UNSERVED_SHOWN = cockpit_snapshots.UNSERVED_KEPT


def _year(request: Request) -> int:
    this_year = utc_now().astimezone(LOCAL_TZ).year
    return int_param(request.query_params, "year", this_year, minimum=2000, maximum=2100)


def _days(request: Request) -> int:
    return int_param(request.query_params, "days", DEFAULT_UNSERVED_DAYS, maximum=3650)


async def _scope(request: Request, principal: Principal) -> scopes.Scope:
    code = request.query_params.get("region", "").strip()[:12]
    return await scopes.scope_for(principal, code or None)


def _summary(report: cockpit.Cockpit) -> str:
    person_times = report.figure(TargetMetric.PERSON_TIMES)
    if person_times.target is None:
        return _("{actual} person-times delivered in {year}; no target is set for this area.").format(
            actual=f"{person_times.actual:,}", year=report.year
        )
    return _(
        "{actual} person-times delivered in {year}, target {target} ({percent}%); "
        "{expected} expected by today ({status}); forecast for the year: {forecast}."
    ).format(
        actual=f"{person_times.actual:,}",
        year=report.year,
        percent=person_times.percent_of_target,
        target=f"{person_times.target:,}",
        expected=f"{person_times.expected_by_today:,}",
        status=label(person_times.status),
        forecast=f"{person_times.forecast:,}",
    )


def _charts(report: cockpit.Cockpit) -> dict[str, object]:
    figures = [
        Bar(
            label(figure.metric),
            figure.percent_of_target or 0,
            100 * figure.expected_by_today // figure.target,
        )
        if figure.target
        else Bar(label(figure.metric), 0)
        for figure in report.figures
    ]
    months = [f"{month}" for month in range(1, 13)]
    actual = [row.cumulative for row in report.months]
    expected = [row.expected_cumulative for row in report.months]
    series = [(_("Person-times so far"), actual, "actual")]
    if any(value is not None for value in expected):
        series.append((_("Planned pace"), expected, "expected"))
    top_projects = report.projects[:10]
    top_regions = report.regions[:12]
    return {
        "targets_chart": bar_chart(
            _("Share of each yearly target reached (%)"),
            _("Each bar is the share of the year's target reached; the tick is the share expected by today."),
            figures,
            marker_name=_("Expected by today (%)"),
        ),
        "months_chart": line_chart(_("Person-times through the year"), _summary(report), months, series),
        "projects_chart": bar_chart(
            _("Person-times by project"),
            _("{count} projects; the largest: {name}.").format(
                count=len(report.projects), name=top_projects[0].name if top_projects else "—"
            ),
            [Bar(row.name, row.person_times, row.target) for row in top_projects],
            marker_name=_("Target"),
        ),
        "regions_chart": bar_chart(
            _("Person-times by region"),
            _("{count} regions one level below {region}.").format(
                count=len(report.regions), region=report.scope.region_name
            ),
            [Bar(row.name, row.person_times) for row in top_regions],
        ),
    }


async def cockpit_page(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.VIEW_TARGETS)
    scope = await _scope(request, principal)
    year = _year(request)
    days = _days(request)
    report = await cockpit.cockpit(scope, year, unserved_days=days, unserved_limit=10, cache=_cache(request))
    await _ask_for_figures(request, report.refresh_due, scope, year, days)
    context = {
        "report": report,
        "figures_as_of": _as_of(report.figures_as_of),
        "summary": _summary(report),
        "trail": await scopes.region_breadcrumb(principal, scope),
        "query": _query(scope, year),
        "year": year,
        "can_assign": principal.role in ("admin", "coordinator"),
        # Jobs found at job fairs by flagged households of the coordinator's region (issue 8).
        "hires": await outcomes.hires_in_region(principal, year)
        if allows(principal, Action.VIEW_EVENT_HIRES)
        else None,
        **_charts(report),
    }
    await audit.viewed(
        principal,
        "cockpit.view",
        households=[
            *(row.id for row in (report.unserved.rows if report.unserved else [])),
            *(row.household_id for row in (context["hires"].rows if context["hires"] else [])),
        ],
        address=client_address(request),
    )
    return render(request, "cockpit/cockpit.html", context, block="body")


async def _ask_for_figures(request: Request, due: bool, scope: scopes.Scope, year: int, days: int) -> None:
    """No snapshot of the scope yet, or a stale one: a worker is asked for one (once per ten minutes:
    the job id is the scope's), and the page says the figures are being prepared or how old they are."""
    if not due:
        return
    job_id = cockpit_snapshots.snapshot_job_id(scope.region_code, year, days)
    await add_job("refresh_cockpit", scope.region_code or "", year, days, job_id=job_id)
    await relay_outbox(request.app, [job_id])


def _as_of(moment: datetime | None) -> datetime | None:
    return aware(moment).astimezone(LOCAL_TZ) if moment is not None else None


def _cache(request: Request) -> cockpit.FigureCache:
    # One per app (so per web process); created on first use.
    if not hasattr(request.app.state, "cockpit_cache"):
        request.app.state.cockpit_cache = cockpit.FigureCache()
    return request.app.state.cockpit_cache


def _query(scope: scopes.Scope, year: int) -> str:
    return f"year={year}" + (f"&region={scope.region_code}" if scope.region_code else "")


async def unserved_page(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.VIEW_TARGETS)
    scope = await _scope(request, principal)
    days = _days(request)
    year = _year(request)
    kept = await cockpit_snapshots.snapshot_figures(scope, year, days, MAX_UNSERVED_SHOWN)
    await _ask_for_figures(request, kept is None or kept.stale, scope, year, days)
    unserved = kept.unserved if kept else None
    await audit.viewed(
        principal,
        "unserved.list_view",
        households=[row.id for row in (unserved.rows if unserved else [])],
        address=client_address(request),
    )
    return render(
        request,
        "cockpit/unserved.html",
        {
            "scope": scope,
            "unserved": unserved,
            "days": days,
            "query": _query(scope, year),
            "figures_as_of": _as_of(kept.computed_at if kept else None),
        },
    )


async def escalate(request: Request) -> Response:
    principal = await require_principal(request)
    household_id = request.path_params["household_id"]
    count = await escalate_household(principal, household_id)
    _cache(request).clear()
    message = (
        _("Escalated {count} request(s).").format(count=count)
        if count
        else _("Nothing to escalate: no active request that is not escalated already.")
    )
    if is_htmx(request):
        return render(request, "cockpit/_escalated.html", {"message": message, "household_id": household_id})
    request.session["flash"] = message
    return RedirectResponse(safe_referer(request, "/cockpit"), status_code=303)


async def _export(request: Request, kind: str) -> Response:
    """A whole city's figures take a while: a worker writes the file (alliance/core/exports.py) and
    the user follows it on the export's page. The old download URLs answer the same way."""
    principal = await require_principal(request)
    require(principal, Action.VIEW_TARGETS)
    scope = await _scope(request, principal)
    return await start_export(request, principal, kind, {"year": _year(request), "region": scope.region_code})


async def export_csv(request: Request) -> Response:
    return await _export(request, "cockpit_csv")


async def export_xlsx(request: Request) -> Response:
    return await _export(request, "cockpit_xlsx")


async def monthly_report(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.VIEW_TARGETS)
    scope = await _scope(request, principal)
    year = _year(request)
    now = utc_now().astimezone(LOCAL_TZ)
    default_month = now.month if now.year == year else 12
    month = int_param(request.query_params, "month", default_month, maximum=12)
    report = await cockpit.cockpit(scope, year, unserved_limit=20, cache=_cache(request))
    await _ask_for_figures(request, report.refresh_due, scope, year, DEFAULT_UNSERVED_DAYS)
    await audit.viewed(
        principal,
        "report.view",
        households=[row.id for row in (report.unserved.rows if report.unserved else [])],
        address=client_address(request),
    )
    return render(
        request,
        "cockpit/report.html",
        {
            "report": report,
            "figures_as_of": _as_of(report.figures_as_of),
            "month": month,
            "month_row": report.months[month - 1],
            "month_projects": await progress.by_project(scope, year, month),
            "month_partners": await progress.by_partner(scope, year, month),
            "month_regions": await progress.by_region(scope, year, month),
            "summary": _summary(report),
            "printed_at": datetime.now(LOCAL_TZ),
            "query": _query(scope, year),
        },
    )


async def edit_targets(request: Request) -> Response:
    principal = await require_principal(request)
    require(principal, Action.EDIT_TARGETS)
    year = _year(request)
    errors: dict[str, str] = {}
    saved = False
    if request.method == "POST":
        form = await request.form()
        try:
            # The plan first: a plan that does not add up refuses the whole form before any change.
            curve = [str(form.get(f"curve_{month}", "0")).strip() or "0" for month in range(1, 13)]
            await targets.set_monthly_curve(principal, year, curve)
            for metric in targets.METRICS:
                value = str(form.get(f"alliance_{metric.value}", "")).strip()
                if value:
                    await targets.set_target(principal, year, metric, value)
            for project_id in await Project.filter(year=year).values_list("id", flat=True):
                value = str(form.get(f"project_{project_id}", "")).strip()
                if value:
                    await targets.set_target(
                        principal, year, TargetMetric.PERSON_TIMES, value, f"project:{project_id}"
                    )
            saved = True
        except InvalidInput as invalid:
            errors = invalid.errors
    return render(request, "cockpit/targets.html", await _targets_context(year, saved, errors))


async def _targets_context(year: int, saved: bool, errors: dict[str, str]) -> dict[str, object]:
    alliance = dict(await Target.filter(year=year, scope_key="alliance").values_list("metric", "value"))
    projects = await Project.filter(year=year).order_by("code")
    project_targets = dict(
        await Target.filter(year=year, scope_key__startswith="project:").values_list("project_id", "value")
    )
    curve = await targets.monthly_curve(year) or [0] * 12
    history = (
        await TargetChange.filter(target__year=year)
        .order_by("-at", "-id")
        .limit(50)
        .prefetch_related("target", "changed_by")
    )
    return {
        "year": year,
        "metrics": targets.METRICS,
        "alliance": {str(metric): value for metric, value in alliance.items()},
        "projects": [
            (project, project_targets.get(project.id, project.target_person_times)) for project in projects
        ],
        "curve": curve,
        "history": history,
        "saved": saved,
        "errors": errors,
    }


routes = [
    Route("/cockpit", cockpit_page, methods=["GET"], name="cockpit"),
    Route("/cockpit/unserved", unserved_page, methods=["GET"], name="cockpit_unserved"),
    Route(
        "/cockpit/households/{household_id:int}/escalate",
        escalate,
        methods=["POST"],
        name="cockpit_escalate",
    ),
    Route("/cockpit/export.csv", export_csv, methods=["GET", "POST"], name="cockpit_export_csv"),
    Route("/cockpit/export.xlsx", export_xlsx, methods=["GET", "POST"], name="cockpit_export_xlsx"),
    Route("/cockpit/report", monthly_report, methods=["GET"], name="cockpit_report"),
    Route("/admin/targets", edit_targets, methods=["GET", "POST"], name="admin_targets"),
]
