"""Issue 18: regular visits counted as person-times (once, in the check-out's transaction, shown by the
report and the cockpit), and response promises: working days, on time or late, inherited per region."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook

from alliance.core.access import principal_for
from alliance.core.codes import TargetMetric
from alliance.core.errors import InvalidInput
from alliance.core.i18n import gettext as _
from alliance.core.models import AuditEntry
from alliance.core.timeutil import LOCAL_TZ
from alliance.households.models import Household
from alliance.matching.claims import InvalidTransition
from alliance.matching.models import RequestTransition, ServiceRequest
from alliance.notifications.models import OutboxJob
from alliance.targets import promises
from alliance.targets.cockpit import cockpit, report_json
from alliance.targets.models import DeliveryTally, PromiseSnapshot
from alliance.targets.scopes import scope_of_region
from alliance.targets.tallies import REGULAR_VISIT_PROJECT, recount
from alliance.visits import regular
from alliance.visits.cards import card_token
from tests.factories import build_two_sides, download_export, login, session_csrf

SECRET = "test-secret-key"
NONE = {
    aspect: ("none", "") for aspect in ("economy", "health", "education", "housing", "employment", "care")
}


async def test_a_regular_check_out_is_one_person_time_counted_once_in_report_and_cockpit():
    left, _right, _admin = await build_two_sides()
    worker = await principal_for(left.users["community_worker"])
    household = left.household
    token = card_token(SECRET, household.id, household.card_serial)
    visit = await regular.check_in_by_card(worker, household.id, SECRET, token=token)
    await regular.check_out(worker, visit.id, notes="", risks=dict(NONE))
    with pytest.raises(InvalidTransition):
        await regular.check_out(worker, visit.id, notes="", risks=dict(NONE))
    tallies = await DeliveryTally.all().prefetch_related("project")
    assert [(t.partner_id, t.project.code, t.person_times, t.deliveries) for t in tallies] == [
        (None, REGULAR_VISIT_PROJECT, 1, 1)
    ]
    counted = await recount()
    assert {key: value[6:] for key, value in counted.tallies.items()} == {t.key: (1, 1) for t in tallies}
    await visit.refresh_from_db()
    year = visit.checked_out_at.astimezone(LOCAL_TZ).year
    for region in (None, left.district):
        report = await cockpit(await scope_of_region(region), year)
        assert report.figure(TargetMetric.PERSON_TIMES).actual == 1
        assert [(row.key, row.name, row.person_times) for row in report.partners] == [
            ("", _("Community workers"), 1)
        ]
        printed = report_json(report)
        assert [row["person_times"] for row in printed["by_project"] if row["name"] == "常态化走访"] == [1]


def test_working_days_skip_the_weekend():
    friday, saturday = date(2026, 3, 6), date(2026, 3, 7)
    assert promises.working_days_between(friday, date(2026, 3, 11)) == 3  # Wednesday
    assert promises.working_days_between(friday, date(2026, 3, 12)) == 4  # Thursday
    assert promises.working_days_between(saturday, date(2026, 3, 11)) == 3
    assert promises.working_days_between(friday, date(2026, 3, 8)) == 0  # Sunday


def _utc(day: int, hour: int = 2, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)  # 02:00 UTC = 10:00 in Shanghai


async def _request(
    household: Household, need: str, created: datetime, partner_id: int | None = None, **moments
):
    made = await ServiceRequest.create(
        household=household, need_id=need, status="open", claimed_by_id=partner_id
    )
    await ServiceRequest.filter(id=made.id).update(created_at=created)
    for status, at in moments.items():
        step = await RequestTransition.create(
            request=made, from_status="open", to_status=status, partner_id=partner_id
        )
        await RequestTransition.filter(id=step.id).update(at=at)
    return made


async def test_promises_kept_or_late_across_a_weekend_and_inherited_from_the_district():
    left, right, _admin = await build_two_sides()
    await ServiceRequest.all().delete()  # only this test's requests
    friday = _utc(6)
    # Friday 23:30 in Shanghai is still Friday.
    on_time = await _request(
        left.household, "HOME_CARE", _utc(6, 15), left.partner.id, claimed=_utc(11), completed=_utc(24)
    )
    late = await _request(
        left.household, "HOME_CARE", friday, left.partner.id, claimed=_utc(12), completed=_utc(30)
    )
    open_late = await _request(right.household, "HOME_CARE", friday)
    await _request(left.household, "HOME_REPAIR", _utc(1, 1, 4))  # created today: nothing due yet
    now = _utc(1, 4, 4)  # Wednesday 1 April
    report = await promises.promise_report(await scope_of_region("330300"), 2026, now)
    assert (report.total.contact.on_time, report.total.contact.met_late, report.total.contact.open_late) == (
        1,
        1,
        1,
    )
    assert report.total.contact.pending == 1 and report.total.contact.percent == 33
    assert (report.total.service.on_time, report.total.service.met_late, report.total.service.open_late) == (
        1,
        1,
        1,
    )
    late_rows = {(row.request_id, row.promise, row.state, row.working_days) for row in report.late}
    assert late_rows == {
        (late.id, "contact", promises.MET_LATE, 4),
        (late.id, "service", promises.MET_LATE, 16),
        (open_late.id, "contact", promises.OPEN_LATE, 18),
        (open_late.id, "service", promises.OPEN_LATE, 18),
    }
    assert on_time.id not in {row.request_id for row in report.late}
    by_need = {row.key: row for row in report.by_need}
    assert by_need["HOME_CARE"].contact.due == 3 and by_need["HOME_REPAIR"].contact.pending == 1
    by_partner = {row.name: row for row in report.by_partner}
    assert (
        by_partner[left.partner.name].contact.on_time == 1
        and by_partner[_("Not claimed")].contact.open_late == 1
    )
    by_region = {row.key: row for row in report.by_region}
    assert by_region[left.district].contact.percent == 50 and by_region[right.district].contact.percent == 0

    # The left district promises 5 and 20 working days for home care; its community inherits them.
    coordinator = await principal_for(left.users["coordinator"])
    with pytest.raises(InvalidInput) as refused:
        await promises.set_region_promises(coordinator, {"HOME_CARE_contact": "0", "HOME_CARE_service": "x"})
    assert set(refused.value.errors) == {"HOME_CARE_contact", "HOME_CARE_service"}
    await promises.set_region_promises(coordinator, {"HOME_CARE_contact": "5", "HOME_CARE_service": "20"})
    assert await AuditEntry.filter(action="response_promise.set").count() == 1
    household_path = (await left.household.region).path
    inherited = await promises.promises_for([household_path])
    assert inherited[household_path]["HOME_CARE"] == promises.Promise(5, 20)
    assert inherited[household_path]["HOME_REPAIR"] == promises.Promise(3, 15)
    again = await promises.promise_report(await scope_of_region("330300"), 2026, now)
    regions = {row.key: row for row in again.by_region}
    assert regions[left.district].contact.on_time == 2 and regions[left.district].service.on_time == 2
    assert regions[right.district].contact.open_late == 1  # the other district keeps the default
    assert {(row.request_id, row.promise) for row in again.late} == {
        (open_late.id, "contact"),
        (open_late.id, "service"),
    }
    # The export's rows (the breakdowns without the late list) are the page's.
    breakdowns = await promises.promise_breakdowns(await scope_of_region("330300"), 2026, now)
    assert promises.promise_export_rows(breakdowns) == promises.promise_export_rows(again)
    # The page reads what the worker kept: the same breakdowns and late rows as the direct report.
    city = await scope_of_region("330300")
    snapshot = await promises.write_snapshot(city, 2026, now)
    kept = await promises.report_from_snapshot(city, 2026, await promises.snapshot_of(city, 2026))
    assert snapshot.figures["today"] and promises.promise_export_rows(kept) == promises.promise_export_rows(
        again
    )
    assert kept.late == again.late and kept.more_late == again.more_late


async def test_the_pages_show_the_promises_and_save_the_region_settings(client, arq_worker):
    left, _right, _admin = await build_two_sides()
    await _request(left.household, "HOME_CARE", _utc(6), left.partner.id, claimed=_utc(12))
    await login(client, left.users["coordinator"].username)
    cockpit_page = await client.get("/cockpit")
    assert "/cockpit/promises" in cockpit_page.text
    # No request classifies a year of requests: the first viewer asks a worker, once.
    first = await client.get("/cockpit/promises?year=2026")
    assert first.status_code == 200 and "being prepared" in first.text and "Late requests" not in first.text
    await client.get("/cockpit/promises?year=2026")
    assert await OutboxJob.filter(job_name="refresh_promises").count() == 1
    await arq_worker.main()  # the real worker writes the snapshot
    assert arq_worker.jobs_failed == 0
    page = await client.get("/cockpit/promises?year=2026")
    assert page.status_code == 200 and "Late requests" in page.text and "/requests/" in page.text
    assert "Figures as of" in page.text
    # A stale snapshot is shown with its time and asked for again.
    await PromiseSnapshot.all().update(computed_at=datetime(2026, 1, 1, tzinfo=UTC))
    await OutboxJob.filter(job_name="refresh_promises").delete()  # the first job's row, done
    stale = await client.get("/cockpit/promises?year=2026")
    assert "Late requests" in stale.text and "2026-01-01" in stale.text
    assert await OutboxJob.filter(job_name="refresh_promises").count() == 1
    refused = await client.post(
        "/cockpit/promises/settings", data={"HOME_CARE_contact": "300", "csrf_token": session_csrf(client)}
    )
    assert refused.status_code == 422 and 'aria-invalid="true"' in refused.text
    saved = await client.post(
        "/cockpit/promises/settings", data={"HOME_CARE_contact": "4", "csrf_token": session_csrf(client)}
    )
    assert saved.status_code == 303
    settings = await client.get("/cockpit/promises/settings")
    assert settings.status_code == 200 and 'value="4"' in settings.text
    exported = await client.post(
        "/cockpit/promises/export.csv?year=2026", data={"csrf_token": session_csrf(client)}
    )
    assert exported.status_code == 303 and exported.headers["location"].startswith("/exports/")


async def test_the_promises_export_as_a_workbook_beside_the_csv(client):
    left, _right, _admin = await build_two_sides()
    await ServiceRequest.all().delete()
    await _request(left.household, "HOME_CARE", _utc(6), left.partner.id, claimed=_utc(11))
    await login(client, left.users["coordinator"].username)
    page = await client.get("/cockpit/promises?year=2026")
    assert "/cockpit/promises/export.xlsx" in page.text
    response = await download_export(client, "/cockpit/promises/export.xlsx?year=2026")
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    workbook = load_workbook(io.BytesIO(response.content))
    assert len(workbook.sheetnames) == 4
    total, _by_region, by_partner, by_need = workbook.worksheets
    totals = [[cell.value for cell in row] for row in total.iter_rows()]
    assert totals[1][2:7] == [1, 0, 0, 0, 100]  # first contact: on time, met late, open late, pending, %
    partners = [[cell.value for cell in row] for row in by_partner.iter_rows()]
    assert [row[1] for row in partners[1:]] == [left.partner.name]
    assert [row[0] for row in list(by_need.iter_rows(values_only=True))[1:]] == ["HOME_CARE"]
