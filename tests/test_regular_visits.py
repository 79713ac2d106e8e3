"""Regular visits: the rhythm from flags and risks (per region, inherited), the stored worklist and
its warnings (idempotent, through the real arq worker), and the community worker's own visit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from arq import create_pool
from arq.connections import RedisSettings

from alliance.core.access import principal_for
from alliance.core.errors import InvalidInput, NotFound
from alliance.core.models import AuditEntry
from alliance.core.timeutil import utc_now
from alliance.households.models import Flag, Household
from alliance.notifications.models import Notification
from alliance.visits import regular
from alliance.visits.cards import card_token, short_code
from alliance.visits.models import RegularDue, RegularRisk, RegularVisit, VisitRhythm
from tests.conftest import TEST_SECRET
from tests.factories import build_two_sides, login, session_csrf

SECRET = "test-secret-key"
NONE = {
    aspect: ("none", "") for aspect in ("economy", "health", "education", "housing", "employment", "care")
}


def _risks(**found: str) -> dict[str, tuple[str, str]]:
    risks = dict(NONE)
    for aspect, note in found.items():
        risks[aspect] = ("high", note)
    return risks


async def test_the_rhythm_comes_from_flags_and_region_settings_inherited_down_the_tree():
    left, _right, _admin = await build_two_sides()
    other = await Household.create(
        external_id="EXT-O",
        head_name="李四",
        id_number="330302195001011235",
        phone="13812345679",
        address="某路2号",
        region_id=left.community,
        member_count=1,
    )
    hardship = await Household.create(
        external_id="EXT-H",
        head_name="王五",
        id_number="330302195001011236",
        phone="13812345670",
        address="某路3号",
        region_id=left.community,
        member_count=1,
    )
    await Flag.create(household=hardship, code="SPECIAL_HARDSHIP", detected_at=utc_now(), source="test")
    coordinator = await principal_for(left.users["coordinator"])
    # The district sets quarterly to 60 days; the community inherits it.
    await regular.set_region_rhythm(coordinator, {"other": "60"})
    with pytest.raises(InvalidInput) as refused:
        await regular.set_region_rhythm(coordinator, {"other": "0", "hardship": "x"})
    assert set(refused.value.errors) == {"other", "hardship"}
    assert await VisitRhythm.filter(kind="other").values_list("interval_days", flat=True) == [60]
    now = utc_now()
    await regular.refresh_worklists(now)
    worker = left.users["community_worker"]
    dues = {due.household_id: due for due in await RegularDue.filter(worker_id=worker.id)}
    assert (dues[left.household.id].kind, dues[left.household.id].interval_days) == ("elderly_alone", 14)
    assert (dues[hardship.id].kind, dues[hardship.id].interval_days) == ("hardship", 30)
    assert (dues[other.id].kind, dues[other.id].interval_days) == ("other", 60)
    assert await AuditEntry.filter(action="visit_rhythm.set").count() == 1


async def test_a_visit_opens_a_follow_up_a_later_one_escalates_or_closes_it():
    left, right, _admin = await build_two_sides()
    worker = await principal_for(left.users["community_worker"])
    household = left.household
    await Household.filter(id=household.id).update(location_precision="address")
    # Another community's household is out of reach.
    with pytest.raises(NotFound):
        await regular.check_in_by_gps(worker, right.household.id, 27.787, 120.091)
    token = card_token(SECRET, household.id, household.card_serial)
    visit = await regular.check_in_by_card(worker, household.id, SECRET, token=token, client_key="k1")
    assert (
        await regular.check_in_by_card(worker, household.id, SECRET, token=token, client_key="k1")
    ).id == visit.id
    with pytest.raises(InvalidInput) as refused:
        await regular.check_out(worker, visit.id, notes="", risks=_risks(health=""))
    assert "risk_health_note" in refused.value.errors
    assert (await RegularVisit.get(id=visit.id)).checked_out_at is None
    first = await regular.check_out(worker, visit.id, notes="ok", risks=_risks(health="咳嗽"))
    follow_up = await RegularRisk.get(id=first.opened[0])
    assert follow_up.owner_id == worker.user_id and follow_up.due_on is not None
    # The open health risk makes the household fortnightly (it is elderly alone anyway).
    # Second visit: still there, escalated to the coordinators.
    again = await regular.check_in_by_gps(worker, household.id, household.lat, household.lon)
    assert not again.needs_review
    second = await regular.check_out(worker, again.id, notes="", risks=_risks(health="还在咳"))
    assert second.escalated and not second.resolved
    escalated = await Notification.filter(kind="regular_follow_up_escalated").prefetch_related("user")
    assert [notice.user.username for notice in escalated] == ["coordA"]
    # Third visit, from far away (flagged): the risk is gone and closed.
    third_visit = await regular.check_in_by_gps(worker, household.id, household.lat + 0.05, household.lon)
    assert third_visit.needs_review
    third = await regular.check_out(worker, third_visit.id, notes="", risks=dict(NONE))
    assert (
        third.resolved
        and not await RegularRisk.filter(
            household_id=household.id, resolved_at__isnull=True, level__in=["medium", "high"]
        ).exists()
    )


async def test_overdue_visits_and_follow_ups_warn_the_worker_then_the_coordinators_once(arq_worker, servers):
    left, _right, _admin = await build_two_sides()
    worker = await principal_for(left.users["community_worker"])
    household = left.household
    visit = await regular.check_in_by_gps(worker, household.id, household.lat, household.lon)
    long_ago = utc_now() - timedelta(days=20)
    await regular.check_out(worker, visit.id, notes="", risks=_risks(care="没人照顾"), now=long_ago)
    # Elderly alone: due 14 days after the visit, so 6 days overdue; the follow-up 13 days late.
    pool = await create_pool(RedisSettings.from_dsn(servers.redis_url))
    try:
        await pool.enqueue_job("refresh_regular_visits", _job_id="regular-test-1")
        await arq_worker.main()
        await pool.enqueue_job("refresh_regular_visits", _job_id="regular-test-2")
        await arq_worker.main()
    finally:
        await pool.aclose()
    assert arq_worker.jobs_failed == 0
    kinds = {
        kind: sorted(users)
        for kind in (
            "regular_visit_overdue",
            "regular_visit_escalated",
            "regular_follow_up_overdue",
            "regular_follow_up_escalated",
        )
        for users in [await Notification.filter(kind=kind).values_list("user__username", flat=True)]
    }
    assert kinds == {
        "regular_visit_overdue": ["workerA"],
        "regular_visit_escalated": ["coordA"],
        "regular_follow_up_overdue": ["workerA"],
        "regular_follow_up_escalated": ["coordA"],
    }
    listed = await regular.my_regular_visits(worker)
    assert [row.household_id for row in listed.rows] == [household.id]
    assert listed.rows[0].overdue


async def test_the_worker_sees_the_list_checks_in_with_the_code_and_checks_out_on_the_pages(client):
    left, _right, _admin = await build_two_sides()
    household = left.household
    await login(client, left.users["community_worker"].username)
    listed = await client.get("/regular-visits")
    assert listed.status_code == 200 and household.head_name in listed.text and "Due today" in listed.text
    page = await client.get(f"/regular-visits/households/{household.id}")
    assert page.status_code == 200 and 'for="code"' in page.text
    code = short_code(TEST_SECRET, household.id, household.card_serial)
    wrong = await client.post(
        f"/regular-visits/households/{household.id}/check-in",
        data={"method": "card", "code": "AAAA-AAAA", "client_key": "p1", "csrf_token": session_csrf(client)},
    )
    assert wrong.status_code == 422 and not await RegularVisit.exists()
    done = await client.post(
        f"/regular-visits/households/{household.id}/check-in",
        data={"method": "card", "code": code, "client_key": "p2", "csrf_token": session_csrf(client)},
    )
    assert done.status_code == 303
    form = {f"risk_{aspect}": "none" for aspect in NONE} | {"csrf_token": session_csrf(client)}
    missing = await client.post(
        f"/regular-visits/households/{household.id}/check-out",
        data=form | {"risk_housing": "high"},
    )
    assert missing.status_code == 422 and "needs a note" in missing.text
    saved = await client.post(
        f"/regular-visits/households/{household.id}/check-out",
        data=form | {"risk_housing": "high", "risk_housing_note": "屋顶漏水", "notes": "ok"},
    )
    assert saved.status_code == 303
    follow = await client.get(saved.headers["location"])
    assert "1 follow-ups opened" in follow.text
    assert household.head_name not in follow.text  # seen: no longer due today
    # The coordinator's rhythm page.
    await client.post("/logout", data={"csrf_token": session_csrf(client)})
    await login(client, left.users["coordinator"].username)
    assert "Visiting rhythm" in (await client.get("/regular-visits/rhythm")).text
    bad = await client.post(
        "/regular-visits/rhythm", data={"other": "999", "csrf_token": session_csrf(client)}
    )
    assert bad.status_code == 422 and "from 1 to 366" in bad.text
    good = await client.post(
        "/regular-visits/rhythm", data={"other": "45", "csrf_token": session_csrf(client)}
    )
    assert good.status_code == 303
    assert await VisitRhythm.filter(region_id=left.district, kind="other").values_list(
        "interval_days", flat=True
    ) == [45]


async def test_the_offline_queue_replays_check_in_and_check_out_once(client):
    left, _right, _admin = await build_two_sides()
    household = left.household
    await login(client, left.users["community_worker"].username)
    await client.get(f"/regular-visits/households/{household.id}")
    tapped = (utc_now() - timedelta(minutes=20)).isoformat()
    json = {"Accept": "application/json"}
    fields = {
        "method": "gps",
        "lat": str(household.lat),
        "lon": str(household.lon),
        "client_key": "offline-1",
        "at": tapped,
        "csrf_token": session_csrf(client),
    }
    for _attempt in range(2):
        sent = await client.post(
            f"/regular-visits/households/{household.id}/check-in", data=fields, headers=json
        )
        assert sent.status_code == 200 and sent.json()["ok"]
    visits = await RegularVisit.all()
    assert len(visits) == 1 and visits[0].checked_in_at.isoformat()[:16] == tapped[:16]
    out = {f"risk_{aspect}": "none" for aspect in NONE} | {"csrf_token": session_csrf(client)}
    done = await client.post(f"/regular-visits/households/{household.id}/check-out", data=out, headers=json)
    assert done.status_code == 200 and done.json()["ok"]
    again = await client.post(f"/regular-visits/households/{household.id}/check-out", data=out, headers=json)
    assert again.status_code == 409 and not again.json()["ok"]
