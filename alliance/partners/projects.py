"""The alliance's projects of a year: created, edited, given partners and need categories, retired.

A project (Wenzhou's plan has ten a year) gathers the offerings whose person-times count towards it.
Its need categories say which offerings may name it (none: any need); its partners, when it has
any, are the only ones whose offerings may name it. A retired project keeps its figures, targets
and history, but no offering may newly name it. Administrators configure projects; everything is
audited (alliance/core/audit.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tortoise.transactions import in_transaction

from alliance.core.access import Action, Principal, get_visible, require
from alliance.core.audit import record
from alliance.core.codes import NeedCode
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.partners.models import Partner, Project, ProjectPartner

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")


def project_needs(project: Project) -> list[str]:
    return project.needs.split() if project.needs else []


async def project_partner_ids(project_id: int) -> set[int]:
    return set(await ProjectPartner.filter(project_id=project_id).values_list("partner_id", flat=True))


async def project_refuses(project: Project, partner_id: int | None, need: str | None) -> str | None:
    """Why an offering of this partner for this need may not name the project (None: it may)."""
    if not project.active:
        return _("This project is retired: choose another one.")
    needs = project_needs(project)
    if need is not None and needs and need not in needs:
        return _("This project does not take offerings for this need.")
    partners = await project_partner_ids(project.id)
    if partners and partner_id not in partners:
        return _("Your organisation is not one of this project's partners.")
    return None


@dataclass
class ProjectForm:
    """Raw strings from the form (the command line passes the same)."""

    year: str
    code: str
    name: str
    name_en: str = ""
    target_person_times: str = "0"
    needs: tuple[str, ...] = ()
    partner_ids: tuple[str, ...] = ()


async def _checked(form: ProjectForm, project_id: int | None) -> tuple[dict, list[int]]:
    errors: dict[str, str] = {}
    year_text = form.year.strip()
    year = int(year_text) if year_text.isdigit() else 0
    if not 2000 <= year <= 2100:
        errors["year"] = _("Choose a year between 2000 and 2100.")
    code = form.code.strip().upper()
    if not _CODE.match(code):
        errors["code"] = _("A code of 1 to 32 letters, digits, '-' or '_', e.g. TELECOM.")
    elif year and await Project.filter(year=year, code=code).exclude(id=project_id or 0).exists():
        errors["code"] = _("The year {year} already has a project {code}.").format(year=year, code=code)
    name, name_en = form.name.strip(), form.name_en.strip()
    if not name:
        errors["name"] = _("Give the project a name.")
    if len(name) > 128 or len(name_en) > 128:
        errors["name" if len(name) > 128 else "name_en"] = _("At most 128 characters.")
    target_text = form.target_person_times.strip().replace(",", "") or "0"
    if not target_text.isdigit() or len(target_text) > 9:
        errors["target_person_times"] = _("Enter a whole number, 0 or more.")
    known = {need.value for need in NeedCode}
    unknown = sorted(set(form.needs) - known)
    if unknown:
        errors["needs"] = _("Unknown need category: {codes}").format(codes=", ".join(unknown))
    ids = sorted({int(value) for value in form.partner_ids if str(value).isdigit()})
    if len(ids) != len(set(form.partner_ids)) or len(ids) != await Partner.filter(id__in=ids).count():
        errors["partner_ids"] = _("Choose partners from the list.")
    if errors:
        raise InvalidInput(errors)
    values = {
        "year": year,
        "code": code,
        "name": name,
        "name_en": name_en,
        "target_person_times": int(target_text),
        "needs": " ".join(need for need in NeedCode if need.value in set(form.needs)),
    }
    return values, ids


async def save_project(principal: Principal, form: ProjectForm, project_id: int | None = None) -> Project:
    """Create (project_id None) or edit a project with its partners, all or nothing."""
    require(principal, Action.EDIT_PROJECTS)
    project = (
        await get_visible(principal, Action.EDIT_PROJECTS, project_id) if project_id is not None else None
    )
    values, partner_ids = await _checked(form, project_id)
    async with in_transaction():
        if project is None:
            project = await Project.create(**values)
            before: set[int] = set()
        else:
            for name, value in values.items():
                setattr(project, name, value)
            await project.save()
            before = await project_partner_ids(project.id)
        wanted = set(partner_ids)
        await ProjectPartner.filter(project_id=project.id, partner_id__in=sorted(before - wanted)).delete()
        for partner_id in sorted(wanted - before):
            await ProjectPartner.create(project_id=project.id, partner_id=partner_id)
        await record(
            principal,
            "project.save",
            "project",
            project.id,
            {
                "code": project.code,
                "year": project.year,
                "needs": values["needs"],
                "partners_added": sorted(wanted - before),
                "partners_removed": sorted(before - wanted),
            },
        )
    return project


async def set_project_active(principal: Principal, project_id: int, active: bool) -> Project:
    """Retire a project (no new offering may name it; its figures stay) or take it back."""
    require(principal, Action.EDIT_PROJECTS)
    project = await get_visible(principal, Action.EDIT_PROJECTS, project_id)
    if project.active != active:
        async with in_transaction():
            await Project.filter(id=project.id).update(active=active)
            await record(
                principal, "project.retire" if not active else "project.reinstate", "project", project.id, {}
            )
        project.active = active
    return project


async def projects_of_year(principal: Principal, year: int) -> list[tuple[Project, list[str], list[str]]]:
    """The year's projects with their need codes and partner names (retired ones last)."""
    require(principal, Action.EDIT_PROJECTS)
    projects = await Project.filter(year=year).order_by("-active", "code")
    links = await ProjectPartner.filter(project_id__in=[project.id for project in projects]).values_list(
        "project_id", "partner__name"
    )
    names: dict[int, list[str]] = {}
    for project_id, partner_name in links:
        names.setdefault(project_id, []).append(partner_name)
    return [(project, project_needs(project), sorted(names.get(project.id, []))) for project in projects]
