"""The volunteer's calendar feed as a calendar program reads it (RFC 5545): parsed by a real
iCalendar parser, every event has a UID, a DTSTAMP in UTC and times in UTC or a time zone the feed
defines; a moved visit keeps its UID with a higher SEQUENCE; a cancelled one stays as
STATUS:CANCELLED so the phone removes it."""

from __future__ import annotations

import httpx
import pytest
from icalendar import Calendar

from alliance.visits.links import calendar_token
from alliance.visits.scheduling import cancel_visit, reschedule_visit, schedule_visit
from alliance.visits.volunteer_calendar import visit_uid
from tests.conftest import TEST_SECRET
from tests.visits_support import add_volunteer, build_visit_world, days_ahead, more_claimed_requests, window


@pytest.fixture
async def world(app):
    return await build_visit_world()


async def _feed(app, volunteer_id: int) -> tuple[bytes, Calendar]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        response = await client.get(f"/calendar/{calendar_token(TEST_SECRET, volunteer_id)}.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    return response.content, Calendar.from_ical(response.content)


def _assert_rfc5545_essentials(raw: bytes, calendar: Calendar) -> None:
    # Content lines end in CRLF and are folded at 75 octets (RFC 5545 3.1).
    lines = raw.split(b"\r\n")
    assert lines[-1] == b"" and all(b"\n" not in line for line in lines)
    assert all(len(line) <= 75 for line in lines), max(lines, key=len)
    assert lines[0] == b"BEGIN:VCALENDAR" and lines[-2] == b"END:VCALENDAR"
    assert str(calendar["version"]) == "2.0" and str(calendar["prodid"])
    assert not calendar.errors and all(not component.errors for component in calendar.walk())
    zones = {str(zone["tzid"]) for zone in calendar.walk("VTIMEZONE")}
    for event in calendar.walk("VEVENT"):
        assert str(event["uid"]).endswith("@alliance.invalid") and not event.errors
        # DTSTAMP must be UTC; DTSTART/DTEND in UTC or in a VTIMEZONE the feed carries.
        assert event["dtstamp"].to_ical().endswith(b"Z") and event["last-modified"].to_ical().endswith(b"Z")
        for name in ("dtstart", "dtend"):
            value = event[name]
            assert value.to_ical().endswith(b"Z") or value.params.get("TZID") in zones, (
                name,
                value.to_ical(),
            )
            assert event.decoded(name).tzinfo is not None
        assert event.decoded("dtend") > event.decoded("dtstart")
        assert int(event["sequence"]) >= 1 and str(event["status"]) in ("CONFIRMED", "CANCELLED")


async def test_a_moved_and_a_cancelled_visit_read_by_a_real_parser(app, world):
    ann = await add_volunteer(world.partner, "安志愿")
    moved = (await schedule_visit(world.dispatcher, world.request.id, *window(1, 9), [ann.id])).visit
    [other] = await more_claimed_requests(world, 1)
    cancelled = (await schedule_visit(world.dispatcher, other.id, *window(2, 14), [ann.id])).visit

    raw, calendar = await _feed(app, ann.id)
    _assert_rfc5545_essentials(raw, calendar)
    before = {str(event["uid"]): event for event in calendar.walk("VEVENT")}
    assert {int(event["sequence"]) for event in before.values()} == {1}

    await reschedule_visit(world.dispatcher, moved.id, *window(1, 15))
    await cancel_visit(world.dispatcher, cancelled.id, "户主住院")
    raw, calendar = await _feed(app, ann.id)
    _assert_rfc5545_essentials(raw, calendar)
    after = {str(event["uid"]): event for event in calendar.walk("VEVENT")}
    assert set(after) == set(before) == {visit_uid(moved.id), visit_uid(cancelled.id)}
    now_moved, now_cancelled = after[visit_uid(moved.id)], after[visit_uid(cancelled.id)]
    # Same UID, a higher SEQUENCE and a later DTSTAMP: the phone updates the event in place.
    assert int(now_moved["sequence"]) == 2 and now_moved.decoded("dtstart") == days_ahead(1, 15)
    assert now_moved.decoded("last-modified") >= before[visit_uid(moved.id)].decoded("last-modified")
    assert str(now_moved["status"]) == "CONFIRMED"
    assert str(now_cancelled["status"]) == "CANCELLED" and int(now_cancelled["sequence"]) == 2
