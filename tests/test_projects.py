"""Coordinators and admins configure the alliance (issue 17, item 4): an administrator creates,
edits and retires the year's projects with their need categories and partners, which offerings then
obey; a coordinator sets the yearly targets of the regions of their subtree, which the cockpit uses."""

from __future__ import annotations

import pytest

from alliance.core.access import principal_for
from alliance.core.codes import TargetMetric
from alliance.core.errors import InvalidInput, NotFound, PermissionDenied
from alliance.core.i18n import gettext as _
from alliance.core.models import AuditEntry
from alliance.core.timeutil import LOCAL_TZ, utc_now
from alliance.partners.models import Offering, Project
from alliance.partners.offerings import OfferingForm, projects_for_year, save_offering
from alliance.partners.projects import ProjectForm, save_project, set_project_active
from alliance.targets import scopes, targets
from alliance.targets.models import Target
from tests.factories import build_two_sides, login, session_csrf


def this_year() -> int:
    return utc_now().astimezone(LOCAL_TZ).year


def offering_form(project_id: int, need: str = "HOME_CARE") -> OfferingForm:
    return OfferingForm(
        title="上门照护",
        need=need,
        project_id=str(project_id),
        region_codes=("330302",),
        monthly_capacity="5",
    )


async def test_a_project_takes_only_its_needs_and_partners_and_none_once_retired():
    left, right, admin = await build_two_sides()
    boss = await principal_for(admin)
    project = await save_project(
        boss,
        ProjectForm(
            year=str(this_year()),
            code="care",
            name="居家照护",
            name_en="Home care",
            target_person_times="2,000",
            needs=("HOME_CARE",),
            partner_ids=(str(left.partner.id),),
        ),
    )
    assert (project.code, project.target_person_times, project.needs) == ("CARE", 2000, "HOME_CARE")
    ours = await principal_for(left.users["partner_admin"])
    theirs = await principal_for(right.users["partner_admin"])

    assert [p.id for p in await projects_for_year(this_year(), left.partner.id)] == [project.id]
    assert await projects_for_year(this_year(), right.partner.id) == []
    offering = await save_offering(ours, offering_form(project.id))
    assert offering.project_id == project.id
    with pytest.raises(InvalidInput) as wrong_need:
        await save_offering(ours, offering_form(project.id, need="LEGAL_AID"))
    assert wrong_need.value.errors["project_id"] == _("This project does not take offerings for this need.")
    with pytest.raises(InvalidInput) as stranger:
        await save_offering(theirs, offering_form(project.id))
    assert stranger.value.errors["project_id"] == _(
        "Your organisation is not one of this project's partners."
    )

    await set_project_active(boss, project.id, False)
    with pytest.raises(InvalidInput) as retired:
        await save_offering(ours, offering_form(project.id))
    assert retired.value.errors["project_id"] == _("This project is retired: choose another one.")
    # The offering that already names it may still be edited, keeping it.
    kept = await save_offering(ours, offering_form(project.id), offering.id)
    assert kept.project_id == project.id
    assert await Offering.filter(project_id=project.id).count() == 1
    actions = set(await AuditEntry.filter(object_type="project").values_list("action", flat=True))
    assert {"project.save", "project.retire"} <= actions


async def test_bad_project_input_names_each_field_and_writes_nothing():
    _left, _right, admin = await build_two_sides()
    boss = await principal_for(admin)
    await save_project(boss, ProjectForm(year=str(this_year()), code="JOBS", name="就业帮扶"))
    with pytest.raises(InvalidInput) as invalid:
        await save_project(
            boss,
            ProjectForm(
                year="1999",
                code="bad code!",
                name="",
                target_person_times="-5",
                needs=("NOT_A_NEED",),
                partner_ids=("999999",),
            ),
        )
    assert set(invalid.value.errors) == {
        "year",
        "code",
        "name",
        "target_person_times",
        "needs",
        "partner_ids",
    }
    with pytest.raises(InvalidInput) as taken:
        await save_project(boss, ProjectForm(year=str(this_year()), code="jobs", name="又一个"))
    assert taken.value.errors["code"] == _("The year {year} already has a project {code}.").format(
        year=this_year(), code="JOBS"
    )
    assert await Project.all().count() == 1


async def test_only_administrators_configure_projects(client):
    left, _right, admin = await build_two_sides()
    coordinator = await principal_for(left.users["coordinator"])
    with pytest.raises(PermissionDenied):
        await save_project(coordinator, ProjectForm(year=str(this_year()), code="X", name="某项目"))
    await login(client, left.users["coordinator"].username)
    assert (await client.get("/admin/projects")).status_code == 403

    client.cookies.clear()
    await login(client, admin.username)
    page = await client.get("/admin/projects")
    assert page.status_code == 200 and 'name="code"' in page.text
    created = await client.post(
        "/admin/projects",
        data={
            "csrf_token": session_csrf(client),
            "year": str(this_year()),
            "code": "TELECOM",
            "name": "通信优惠",
            "name_en": "Telecom discounts",
            "needs": ["TELECOM_DISCOUNT"],
            "partner_ids": [str(left.partner.id)],
        },
    )
    assert created.status_code in (200, 303)
    project = await Project.get(code="TELECOM")
    listing = await client.get(f"/admin/projects?year={this_year()}")
    assert "TELECOM" in listing.text and left.partner.name in listing.text
    refused = await client.post(
        f"/admin/projects/{project.id}",
        data={
            "csrf_token": session_csrf(client),
            "action": "save",
            "year": "x",
            "code": "TELECOM",
            "name": "",
        },
    )
    assert refused.status_code == 422 and 'aria-invalid="true"' in refused.text
    retired = await client.post(
        f"/admin/projects/{project.id}", data={"csrf_token": session_csrf(client), "action": "retire"}
    )
    assert retired.status_code in (200, 303)
    assert not (await Project.get(id=project.id)).active


async def test_a_coordinator_sets_the_targets_of_their_regions_and_the_cockpit_reads_them(client):
    left, right, _admin = await build_two_sides()
    coordinator = await principal_for(left.users["coordinator"])
    rows = await targets.region_targets(coordinator, this_year())
    assert [row.region.code for row in rows][0] == "330302"
    assert all(row.region.code.startswith("330302") for row in rows)

    await targets.set_region_target(coordinator, this_year(), TargetMetric.PERSON_TIMES, "1200", "330302")
    with pytest.raises((NotFound, PermissionDenied)):
        await targets.set_region_target(coordinator, this_year(), TargetMetric.PERSON_TIMES, "5", "330328")
    worker = await principal_for(left.users["community_worker"])
    with pytest.raises(PermissionDenied):
        await targets.set_region_target(worker, this_year(), TargetMetric.PERSON_TIMES, "5", "330302")
    scope = await scopes.scope_for(coordinator, "330302")
    assert (await targets._targets_of(this_year(), scope))[TargetMetric.PERSON_TIMES] == 1200

    await login(client, left.users["coordinator"].username)
    page = await client.get("/targets/regions")
    assert page.status_code == 200 and 'value="1200"' in page.text
    town = rows[1].region.code
    bad = await client.post(
        "/targets/regions",
        data={"csrf_token": session_csrf(client), f"{town}_volunteers": "50", "330302_organisations": "lots"},
    )
    assert bad.status_code == 422
    assert not await Target.filter(scope_key=f"region:{town}").exists()  # nothing half-written
    good = await client.post(
        "/targets/regions", data={"csrf_token": session_csrf(client), f"{town}_volunteers": "50"}
    )
    assert good.status_code in (200, 303)
    assert (await Target.get(scope_key=f"region:{town}", metric="volunteers")).value == 50
