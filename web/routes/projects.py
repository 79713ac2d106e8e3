"""The alliance's configuration pages: projects (administrators) and the yearly targets of a
coordinator's regions."""

from __future__ import annotations

from datetime import date

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alliance.core.access import Action, get_visible, require
from alliance.core.codes import NeedCode, PartnerStatus
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.partners.models import Partner
from alliance.partners.projects import (
    ProjectForm,
    project_needs,
    project_partner_ids,
    projects_of_year,
    save_project,
    set_project_active,
)
from alliance.targets import targets
from web.auth import require_principal
from web.flash import go, take_flash
from web.templating import render


def _year(request: Request) -> int:
    text = request.query_params.get("year", "")
    return int(text) if text.isdigit() and 2000 <= int(text) <= 2100 else date.today().year


async def _partners() -> list[Partner]:
    return await Partner.filter(status__in=[PartnerStatus.APPROVED, PartnerStatus.PENDING]).order_by("name")


def _form_of(form) -> ProjectForm:  # noqa: ANN001 - starlette's FormData
    return ProjectForm(
        year=str(form.get("year", "")),
        code=str(form.get("code", "")),
        name=str(form.get("name", "")),
        name_en=str(form.get("name_en", "")),
        target_person_times=str(form.get("target_person_times", "0")),
        needs=tuple(str(value) for value in form.getlist("needs")),
        partner_ids=tuple(str(value) for value in form.getlist("partner_ids")),
    )


async def projects(request: Request) -> Response:
    """The year's projects and the form that adds one."""
    principal = await require_principal(request)
    require(principal, Action.EDIT_PROJECTS)
    year = _year(request)
    errors: dict[str, str] = {}
    form = ProjectForm(year=str(year), code="", name="")
    status_code = 200
    if request.method == "POST":
        submitted = await request.form()
        form = _form_of(submitted)
        try:
            project = await save_project(principal, form)
        except InvalidInput as invalid:
            errors, status_code = invalid.errors, 422
        else:
            return go(
                request,
                f"/admin/projects?year={project.year}",
                _("Project {code} created.").format(code=project.code),
            )
    return render(
        request,
        "admin/projects.html",
        {
            "year": year,
            "rows": await projects_of_year(principal, year),
            "form": form,
            "errors": errors,
            "needs": list(NeedCode),
            "partners": await _partners(),
            "message": take_flash(request),
        },
        status_code=status_code,
    )


async def project_page(request: Request) -> Response:
    """Edit one project, its need categories and partners; retire it or take it back."""
    principal = await require_principal(request)
    require(principal, Action.EDIT_PROJECTS)
    project = await get_visible(principal, Action.EDIT_PROJECTS, request.path_params["project_id"])
    errors: dict[str, str] = {}
    status_code = 200
    form = ProjectForm(
        year=str(project.year),
        code=project.code,
        name=project.name,
        name_en=project.name_en,
        target_person_times=str(project.target_person_times),
        needs=tuple(project_needs(project)),
        partner_ids=tuple(str(partner_id) for partner_id in sorted(await project_partner_ids(project.id))),
    )
    if request.method == "POST":
        submitted = await request.form()
        action = str(submitted.get("action", "save"))
        if action in ("retire", "reinstate"):
            project = await set_project_active(principal, project.id, action == "reinstate")
            message = (
                _("Project {code} is retired: no offering may name it any more; its figures stay.")
                if action == "retire"
                else _("Project {code} takes offerings again.")
            )
            return go(request, f"/admin/projects/{project.id}", message.format(code=project.code))
        form = _form_of(submitted)
        try:
            project = await save_project(principal, form, project.id)
        except InvalidInput as invalid:
            errors, status_code = invalid.errors, 422
        else:
            return go(
                request, f"/admin/projects/{project.id}", _("Project {code} saved.").format(code=project.code)
            )
    return render(
        request,
        "admin/project.html",
        {
            "project": project,
            "form": form,
            "errors": errors,
            "needs": list(NeedCode),
            "partners": await _partners(),
            "message": take_flash(request),
        },
        status_code=status_code,
    )


async def region_targets(request: Request) -> Response:
    """A coordinator's yearly targets for their region and its sub-regions (an admin: the districts)."""
    principal = await require_principal(request)
    require(principal, Action.EDIT_REGION_TARGETS)
    year = _year(request)
    errors: dict[str, str] = {}
    status_code = 200
    if request.method == "POST":
        submitted = await request.form()
        rows = await targets.region_targets(principal, year)
        wanted = []
        for row in rows:
            for metric in targets.METRICS:
                value = str(submitted.get(f"{row.region.code}_{metric.value}", "")).strip()
                if value and value != str(row.values.get(metric.value)):
                    wanted.append((row.region.code, metric, value))
        try:
            # Checked all first: a form with one bad number changes nothing.
            for code, metric, value in wanted:
                targets.whole_number(value, f"{code}_{metric.value}")
            for code, metric, value in wanted:
                await targets.set_region_target(principal, year, metric, value, code)
        except InvalidInput as invalid:
            errors, status_code = invalid.errors, 422
        else:
            return go(
                request,
                f"/targets/regions?year={year}",
                _("{count} targets saved.").format(count=len(wanted)),
            )
    return render(
        request,
        "cockpit/region_targets.html",
        {
            "year": year,
            "rows": await targets.region_targets(principal, year),
            "metrics": targets.METRICS,
            "errors": errors,
            "message": take_flash(request),
        },
        status_code=status_code,
    )


routes = [
    Route("/admin/projects", projects, methods=["GET", "POST"], name="admin_projects"),
    Route("/admin/projects/{project_id:int}", project_page, methods=["GET", "POST"], name="admin_project"),
    Route("/targets/regions", region_targets, methods=["GET", "POST"], name="region_targets"),
]
