"""Issue 18: the working calendar of the response promises — public holidays and adjusted working days
kept by an admin (page, CLI), counted by the promise figures."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from alliance.core.access import principal_for
from alliance.core.errors import InvalidInput, PermissionDenied
from alliance.core.i18n import language
from alliance.core.models import AuditEntry
from alliance.matching.models import RequestTransition, ServiceRequest
from alliance.targets import holidays, promises
from alliance.targets.models import CalendarDay
from alliance.targets.scopes import scope_of_region
from tests.factories import build_two_sides, login, session_csrf
from web.cli import build_parser
from web.cli_holidays import holidays_command


def _utc(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 2, tzinfo=UTC)  # 10:00 in Shanghai


async def _claimed_request(side, created: datetime, claimed: datetime) -> ServiceRequest:
    made = await ServiceRequest.create(
        household=side.household, need_id="HOME_CARE", status="claimed", claimed_by_id=side.partner.id
    )
    await ServiceRequest.filter(id=made.id).update(created_at=created)
    step = await RequestTransition.create(
        request=made, from_status="open", to_status="claimed", partner_id=side.partner.id
    )
    await RequestTransition.filter(id=step.id).update(at=claimed)
    return made


async def _contact_states() -> dict[int, str]:
    report = await promises.promise_report(await scope_of_region("330300"), 2026, _utc(6, 1))
    late = {row.request_id: row.state for row in report.late if row.promise == "contact"}
    requests = await ServiceRequest.all().values_list("id", flat=True)
    return {request_id: late.get(request_id, promises.ON_TIME) for request_id in requests}


async def test_a_request_answered_on_the_fourth_calendar_day_over_a_holiday_is_on_time():
    left, _right, admin_user = await build_two_sides()
    await ServiceRequest.all().delete()
    admin = await principal_for(admin_user)
    # Monday 9 March, claimed Friday 13 March: four working days, one more than promised...
    request = await _claimed_request(left, _utc(3, 9), _utc(3, 13))
    assert (await _contact_states())[request.id] == promises.MET_LATE
    # ...until Tuesday 10 March is a holiday: Wednesday to Friday are three.
    await holidays.save_calendar_day(admin, "2026-03-10", "holiday", "Test holiday")
    assert (await _contact_states())[request.id] == promises.ON_TIME
    calendar = await holidays.working_calendar()
    assert promises.working_days_between(date(2026, 3, 9), date(2026, 3, 13), calendar) == 3
    report = await promises.promise_report(await scope_of_region("330300"), 2026, _utc(6, 1))
    assert report.total.contact.percent == 100
    assert await AuditEntry.filter(action="calendar_day.saved").count() == 1


async def test_an_adjusted_working_sunday_counts_as_a_working_day():
    left, _right, admin_user = await build_two_sides()
    await ServiceRequest.all().delete()
    admin = await principal_for(admin_user)
    # Thursday 5 March, claimed Tuesday 10 March: Friday, Monday, Tuesday — on time...
    request = await _claimed_request(left, _utc(3, 5), _utc(3, 10))
    assert (await _contact_states())[request.id] == promises.ON_TIME
    # ...but Sunday 8 March worked makes it four working days.
    sunday = await holidays.save_calendar_day(admin, "2026-03-08", "working_day", "Adjusted working day")
    assert sunday.shift == 1
    assert (await _contact_states())[request.id] == promises.MET_LATE
    calendar = await holidays.working_calendar()
    assert promises.working_days_between(date(2026, 3, 6), date(2026, 3, 9), calendar) == 2
    # A holiday on a Saturday changes nothing; removing the Sunday restores the count (audited).
    saturday = await holidays.save_calendar_day(admin, "2026-03-14", "holiday", "Weekend holiday")
    assert saturday.shift == 0
    await holidays.remove_calendar_day(admin, sunday.id)
    assert (await _contact_states())[request.id] == promises.ON_TIME
    assert await AuditEntry.filter(action="calendar_day.removed", object_id=str(sunday.id)).count() == 1


async def test_bad_days_are_refused_with_the_field_named_in_both_languages():
    _left, _right, admin_user = await build_two_sides()
    admin = await principal_for(admin_user)
    with language("en"), pytest.raises(InvalidInput) as refused:
        await holidays.save_calendar_day(admin, "2026-02-30", "holiday", "")
    assert set(refused.value.errors) == {"day", "name"}
    assert refused.value.errors["day"].startswith("Day:")
    with pytest.raises(InvalidInput) as weekday:
        await holidays.save_calendar_day(admin, "2026-03-09", "working_day", "Monday")
    assert set(weekday.value.errors) == {"kind"}
    await holidays.save_calendar_day(admin, "2026-03-10", "holiday", "One")
    with language("zh_CN"), pytest.raises(InvalidInput) as twice:
        await holidays.save_calendar_day(admin, "2026-03-10", "holiday", "Two")
    assert twice.value.errors["day"].startswith("日期")
    assert await CalendarDay.all().count() == 1


async def test_only_admins_keep_the_calendar(client):
    left, _right, admin_user = await build_two_sides()
    coordinator = await principal_for(left.users["coordinator"])
    with pytest.raises(PermissionDenied):
        await holidays.save_calendar_day(coordinator, "2026-03-10", "holiday", "Mine")
    await login(client, left.users["coordinator"].username)
    assert (await client.get("/admin/holidays")).status_code == 403
    await client.post("/logout", data={"csrf_token": session_csrf(client)})
    client.cookies.clear()
    await login(client, admin_user.username)
    page = await client.get("/admin/holidays?year=2026")
    assert page.status_code == 200 and 'href="/admin/holidays"' in page.text
    refused = await client.post(
        "/admin/holidays?year=2026",
        data={"day": "2026-13-01", "kind": "holiday", "name": "x", "csrf_token": session_csrf(client)},
    )
    assert refused.status_code == 422 and 'id="day-error"' in refused.text and "Day:" in refused.text
    saved = await client.post(
        "/admin/holidays?year=2026",
        data={"day": "2026-10-01", "kind": "holiday", "name": "国庆节", "csrf_token": session_csrf(client)},
    )
    assert saved.status_code == 303
    row = await CalendarDay.get(day=date(2026, 10, 1))
    changed = await client.post(
        "/admin/holidays?year=2026",
        data={
            "day": "2026-10-02",
            "kind": "holiday",
            "name": "国庆节",
            "day_id": str(row.id),
            "csrf_token": session_csrf(client),
        },
    )
    assert changed.status_code == 303
    listed = await client.get("/admin/holidays?year=2026")
    assert "2026-10-02" in listed.text and "2026-10-01" not in listed.text
    removed = await client.post(
        "/admin/holidays/remove", data={"day_id": str(row.id), "csrf_token": session_csrf(client)}
    )
    assert removed.status_code == 303 and await CalendarDay.all().count() == 0
    assert await AuditEntry.filter(object_type="calendar_day").count() == 3


async def test_the_cli_lists_adds_and_removes_days(capsys):
    await build_two_sides()
    parser = build_parser()

    async def alliance(*words: str) -> tuple[int, str, str]:
        status = await holidays_command(parser.parse_args(["holidays", *words]))
        out, err = capsys.readouterr()
        return status, out, err

    status, _out, err = await alliance("add", "2026-10-01", "--name", "National Day")
    assert status == 0
    status, _out, err = await alliance("add", "2026-10-05", "--kind", "working_day", "--name", "x")
    assert status == 2 and err.startswith("kind: Kind: 2026-10-05 is a weekday")
    status, _out, err = await alliance("add", "2026-10-32", "--name", "x")
    assert status == 2 and err.startswith("day: Day:")
    status, out, _err = await alliance("add", "2026-10-01", "--name", "国庆节")  # changes the name
    status, out, _err = await alliance("list", "--year", "2026", "--json")
    assert json.loads(out) == {"days": [{"day": "2026-10-01", "kind": "holiday", "name": "国庆节"}]}
    assert (await alliance("remove", "2026-10-01"))[0] == 0
    assert (await alliance("remove", "2026-10-01"))[0] == 2
    assert await AuditEntry.filter(object_type="calendar_day").count() == 3


async def test_the_demo_city_brings_chinas_2026_calendar():
    from fixtures.demo_city import build_demo_city

    await build_demo_city(households=30)
    calendar = await holidays.working_calendar()
    # Spring Festival: Friday 13 → Tuesday 24 February is one working day (Saturday 14 is worked).
    assert promises.working_days_between(date(2026, 2, 13), date(2026, 2, 24), calendar) == 2
    assert await AuditEntry.filter(action="calendar_day.saved").count() == len(holidays.CHINA_2026)
