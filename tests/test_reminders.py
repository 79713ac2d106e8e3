"""Visit notices and reminders (alliance/visits/notices.py): each person told in their channel and
language, and each reminder sent exactly once — planned twice, after a move, run twice, and when a
real worker process is killed in the middle of the job."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from datetime import timedelta

import pytest

from alliance.core.accounts import create_user
from alliance.core.codes import NotificationChannel, NotificationStatus, Role
from alliance.core.models import User
from alliance.core.timeutil import utc_now
from alliance.households.models import Household
from alliance.notifications.models import Notification, OutboxJob
from alliance.notifications.notifications import idempotency_key
from alliance.notifications.providers import journal_deliveries
from alliance.notifications.speech import spoken_datetime
from alliance.partners.models import Volunteer
from alliance.visits.household_responses import respond_by_link
from alliance.visits.links import response_token
from alliance.visits.models import Visit
from alliance.visits.notices import plan_reminders, reminder_due, reminder_job_id, send_visit_reminder
from alliance.visits.scheduling import cancel_visit, change_volunteers, reschedule_visit, schedule_visit
from tests.conftest import TEST_SECRET
from tests.factories import PASSWORD
from tests.reminders_support import (
    TEST_TIME_SCALE,
    arq_pool,
    enqueue_with,
    relay_all,
    reminder_rows,
    scheduled_visit,
    start_worker,
)
from tests.visits_support import MIDDLE, add_volunteer, build_visit_world, window


async def test_scheduling_tells_household_and_volunteer_and_plans_both_reminders():
    scheduled = await scheduled_visit()
    visit = scheduled.visit
    notices = await Notification.filter(visit_id=visit.id).order_by("id")
    by_kind = {(notice.kind, notice.channel) for notice in notices}
    # The left household prefers text messages; the volunteer has no account, only a phone.
    assert by_kind == {
        ("visit_scheduled", NotificationChannel.SMS),
        ("visit_booked", NotificationChannel.SMS),
    }
    household_notice = next(notice for notice in notices if notice.kind == "visit_scheduled")
    assert household_notice.recipient == "13812345678" and household_notice.language == "zh_CN"
    assert scheduled.world.partner.name in household_notice.body and "09:30" in household_notice.body

    planned = {job.job_id: job for job in await OutboxJob.filter(job_name="send_visit_reminder")}
    assert set(planned) == {reminder_job_id(visit.id, 1, "24h"), reminder_job_id(visit.id, 1, "2h")}
    assert planned[reminder_job_id(visit.id, 1, "24h")].defer_until == visit.window_start - timedelta(
        hours=24
    )
    assert planned[reminder_job_id(visit.id, 1, "2h")].defer_until == visit.window_start - timedelta(hours=2)
    assert planned[reminder_job_id(visit.id, 1, "2h")].args == [visit.id, 1, "2h"]
    # The change's notices go out through one delivery job written in the same transaction.
    assert set(scheduled.job_ids) == set(planned) | {
        job_id for job_id in scheduled.job_ids if job_id.startswith(f"notices:{visit.id}:")
    }


async def test_time_compression_scales_the_reminder_offsets(monkeypatch):
    start = utc_now() + timedelta(days=3)
    assert reminder_due(start, "24h") == start - timedelta(hours=24)
    monkeypatch.setenv("ALLIANCE_REMINDER_TIME_SCALE", "0.001")
    assert reminder_due(start, "24h") == start - timedelta(seconds=86.4)
    assert reminder_due(start, "2h") == start - timedelta(seconds=7.2)


async def test_planning_twice_plans_once_and_the_reminder_job_run_twice_sends_each_message_once():
    scheduled = await scheduled_visit()
    visit = scheduled.visit
    assert await plan_reminders(visit) == [
        reminder_job_id(visit.id, 1, "24h"),
        reminder_job_id(visit.id, 1, "2h"),
    ]
    assert await OutboxJob.filter(job_name="send_visit_reminder").count() == 2

    # Run the job three times at once, then once more: the household and the volunteer hear it once.
    outcomes = await asyncio.gather(*(send_visit_reminder(visit.id, 1, "24h") for _ in range(3)))
    again = await send_visit_reminder(visit.id, 1, "24h")
    rows = await reminder_rows(visit.id, "24h")
    assert [(row.channel, row.recipient) for row in rows] == [
        (NotificationChannel.SMS, "13812345678"),
        (NotificationChannel.SMS, "13900002222"),
    ]
    assert all(row.status == NotificationStatus.SENT and row.attempts == 1 for row in rows)
    assert sum(outcome.sent for outcome in outcomes) + again.sent == 2
    household_id = scheduled.world.request.household_id
    assert rows[0].dedupe_key == f"{reminder_job_id(visit.id, 1, '24h')}:hh{household_id}:sms"


async def test_a_moved_visit_makes_the_old_reminders_no_ops_and_plans_new_ones():
    scheduled = await scheduled_visit()
    start, end = window(3, 14)
    moved = await reschedule_visit(scheduled.world.dispatcher, scheduled.visit.id, start, end)
    assert moved.visit.schedule_version == 2
    assert reminder_job_id(moved.visit.id, 2, "24h") in moved.job_ids
    assert reminder_job_id(moved.visit.id, 2, "2h") in moved.job_ids

    old = await send_visit_reminder(moved.visit.id, 1, "24h")
    assert old.skipped == "moved" and await reminder_rows(moved.visit.id, "24h") == []
    new = await send_visit_reminder(moved.visit.id, 2, "24h")
    assert new.sent == 2
    rows = await reminder_rows(moved.visit.id, "24h")
    assert all("14:00" in row.body for row in rows)
    # The household and the volunteer were told of the move in their channel.
    moved_notices = await Notification.filter(visit_id=moved.visit.id, kind="visit_moved").count()
    assert moved_notices == 2


async def test_a_cancelled_visit_sends_no_reminder_and_tells_household_and_volunteer():
    scheduled = await scheduled_visit()
    outcome = await cancel_visit(scheduled.world.dispatcher, scheduled.visit.id, "志愿者生病")
    for version in (1, 2):
        assert (await send_visit_reminder(outcome.visit.id, version, "2h")).sent == 0
    assert await reminder_rows(outcome.visit.id, "2h") == []
    cancelled = await Notification.filter(visit_id=outcome.visit.id, kind="visit_cancelled")
    assert {row.recipient for row in cancelled} == {"13812345678", "13900002222"}


async def test_a_blind_household_gets_a_voice_call_with_the_time_in_words():
    world = await build_visit_world()
    await Household.filter(id=world.request.household_id).update(accessibility=["BLIND"])
    volunteer = await add_volunteer(world.partner, "安志愿")
    start, end = window(2, 9, minute=30)
    outcome = await schedule_visit(world.dispatcher, world.request.id, start, end, [volunteer.id])
    call = await Notification.get(visit_id=outcome.visit.id, kind="visit_scheduled")
    assert call.channel == NotificationChannel.VOICE and call.recipient == "13812345678"
    spoken = spoken_datetime(start, "zh_CN")
    assert spoken.endswith("上午九点半") and spoken in call.body
    assert "09:30" not in call.body  # read aloud: words, not digits


async def test_a_household_reached_through_its_community_worker_gets_a_relay_notice_in_the_workers_language():
    world = await build_visit_world()
    await Household.filter(id=world.request.household_id).update(contact_preference="COMMUNITY_WORKER")
    worker = world.claims.left.users["community_worker"]
    await User.filter(id=worker.id).update(language="en")
    volunteer = await add_volunteer(world.partner, "安志愿")
    start, end = window(2, 9, minute=30)
    outcome = await schedule_visit(world.dispatcher, world.request.id, start, end, [volunteer.id])
    relay = await Notification.get(visit_id=outcome.visit.id, kind="visit_scheduled")
    assert relay.channel == NotificationChannel.IN_APP and relay.user_id == worker.id
    assert relay.household_id == world.request.household_id and relay.language == "en"
    assert relay.body.startswith("Please pass this on to 张A")
    assert "will visit you" in relay.body


async def test_a_volunteer_with_an_account_hears_in_the_app_and_by_text_in_their_language():
    scheduled = await scheduled_visit()
    second = await add_volunteer(scheduled.world.partner, "薄志愿", home=MIDDLE)
    await Volunteer.filter(id=second.id).update(phone="13700003333")
    account = await create_user("vol.bo", PASSWORD, Role.VOLUNTEER, volunteer_id=second.id)
    await User.filter(id=account.id).update(language="en")
    outcome = await change_volunteers(
        scheduled.world.dispatcher, scheduled.visit.id, [scheduled.volunteer.id, second.id]
    )
    booked = await Notification.filter(visit_id=outcome.visit.id, kind="visit_booked").order_by("id")
    # The first volunteer was told when the visit was scheduled; only the new one hears now.
    newly = [row for row in booked if row.recipient != "13900002222"]
    assert {(row.channel, row.recipient) for row in newly} == {
        (NotificationChannel.IN_APP, "vol.bo"),
        (NotificationChannel.SMS, "13700003333"),
    }
    assert all(row.language == "en" and row.body.startswith("You are booked") for row in newly)
    # The team changed, so the visit has a new version and its reminders are planned again.
    assert reminder_job_id(outcome.visit.id, outcome.visit.schedule_version, "24h") in outcome.job_ids


async def test_the_households_answers_reach_the_partners_staff():
    scheduled = await scheduled_visit()
    visit = await Visit.get(id=scheduled.visit.id)
    token = response_token(TEST_SECRET, visit)
    await respond_by_link(TEST_SECRET, token, "reschedule", "周六不在家")
    notices = await Notification.filter(kind="household_reschedule").prefetch_related("user")
    assert {notice.user.username for notice in notices} == {"padminA", "dispatchA"}
    assert all("周六不在家" in notice.body for notice in notices)


async def test_reminders_planned_twice_and_relayed_twice_go_out_once_through_the_worker(
    arq_worker, servers, monkeypatch
):
    monkeypatch.setenv("ALLIANCE_REMINDER_TIME_SCALE", TEST_TIME_SCALE)
    scheduled = await scheduled_visit(soon=6)
    await plan_reminders(scheduled.visit)  # planned again: nothing new
    assert (await relay_all(servers.redis_url)).failed == 0
    # A second relay (say, the cron racing the web process) finds nothing pending; and queueing the
    # same job ids again by hand is refused by arq.
    assert (await relay_all(servers.redis_url)).enqueued == 0
    pool = await arq_pool(servers.redis_url)
    try:
        enqueue = enqueue_with(pool)
        for kind in ("24h", "2h"):
            job_id = reminder_job_id(scheduled.visit.id, 1, kind)
            await enqueue("send_visit_reminder", [scheduled.visit.id, 1, kind], job_id, None)
    finally:
        await pool.aclose()
    await arq_worker.main()
    assert arq_worker.jobs_failed == 0
    for kind in ("24h", "2h"):
        rows = await reminder_rows(scheduled.visit.id, kind)
        assert len(rows) == 2, kind
        assert all(row.status == NotificationStatus.SENT and row.attempts == 1 for row in rows)
    assert await Notification.filter(status=NotificationStatus.PENDING).count() == 0


@pytest.mark.parametrize(
    ("provider", "gateway_took_it"),
    [("StallBeforeGatewayProvider", False), ("StallOnceProvider", True)],
    ids=["killed-before-the-gateway-took-it", "killed-after-the-gateway-took-it"],
)
async def test_a_worker_killed_in_the_middle_of_a_reminder_loses_nothing_and_each_key_is_delivered_once(
    servers, redis, tmp_path, provider, gateway_took_it
):
    """A real worker process with the production WorkerSettings takes the reminder and is killed
    (SIGKILL) in the gateway call of its first message: before the gateway got the message, or right
    after it accepted it and before the row was marked sent. The row stays `sending` under its lease;
    a new worker retries the job within two minutes (its own lock, not arq's lock of the longest
    timeout, 30 minutes) and sends it again under the same idempotency key. The gateway (the journal,
    which honours the key) delivers every message exactly once: the one killed before is not lost,
    the one killed after is dropped as a duplicate attempt, never sent twice."""
    scheduled = await scheduled_visit()
    job_id = reminder_job_id(scheduled.visit.id, 1, "2h")
    # Due now, for the test: the job as the relay would queue it, under its own id.
    await OutboxJob.filter(job_id=job_id).update(defer_until=None)
    assert (await relay_all(servers.redis_url, [job_id])).enqueued == 1
    journal = tmp_path / "sent.jsonl"
    environment = {
        "ALLIANCE_NOTIFICATION_PROVIDERS": f"tests.stall_provider:{provider}",
        "ALLIANCE_NOTIFICATION_JOURNAL": str(journal),
        "ALLIANCE_DELIVERY_LEASE_SECONDS": "10",
    }
    first = start_worker(servers.database_url, servers.redis_url, tmp_path / "worker1.log", **environment)
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(str(journal) + ".stalled"):
            assert time.monotonic() < deadline, (tmp_path / "worker1.log").read_text()
            assert first.poll() is None, (tmp_path / "worker1.log").read_text()
            await asyncio.sleep(0.1)
        first.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    rows = await reminder_rows(scheduled.visit.id, "2h")
    assert len(rows) == 2 and sorted(row.status for row in rows) == ["pending", "sending"]
    stalled = next(row for row in rows if row.status == NotificationStatus.SENDING)
    assert stalled.lease_until is not None and stalled.sent_at is None
    accepted_before = journal_deliveries(str(journal)) if journal.exists() else {}
    assert accepted_before == ({idempotency_key(stalled.id): 1} if gateway_took_it else {})

    second = start_worker(servers.database_url, servers.redis_url, tmp_path / "worker2.log", **environment)
    try:
        deadline = killed_at + 120
        # Until the job ran again and finished (the expired lease may also be taken earlier by the
        # notification relay: either way under the same key).
        while f"← {job_id}:send_visit_reminder ●" not in (tmp_path / "worker2.log").read_text():
            assert time.monotonic() < deadline, (tmp_path / "worker2.log").read_text()
            assert second.poll() is None, (tmp_path / "worker2.log").read_text()
            await asyncio.sleep(0.25)
        retried_after = time.monotonic() - killed_at
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(timeout=15)
        except Exception:
            second.kill()
    delivered = journal_deliveries(str(journal))
    # Nothing lost, nothing twice (the visit's other notices may go out meanwhile too: once each).
    assert {key: delivered.get(key) for key in map(idempotency_key, [row.id for row in rows])} == {
        idempotency_key(row.id): 1 for row in rows
    }
    assert set(delivered.values()) == {1}
    attempts = [json.loads(line) for line in journal.read_text().splitlines()]
    duplicates = [line["key"] for line in attempts if line["duplicate"]]
    assert duplicates == ([idempotency_key(stalled.id)] if gateway_took_it else [])
    assert await Notification.filter(visit_id=scheduled.visit.id, kind="reminder_2h").count() == 2
    retried = f"{job_id}:send_visit_reminder({scheduled.visit.id}, 1, '2h') try=2"
    assert retried in (tmp_path / "worker2.log").read_text()
    for row in await reminder_rows(scheduled.visit.id, "2h"):
        assert row.status == NotificationStatus.SENT and row.lease_until is None and row.sent_at
    # Its own lock (60 s timeout + 10 s) ended, not the nightly re-match's 30 minutes.
    assert retried_after < 120, retried_after


@pytest.mark.parametrize(
    "language,expected", [("zh_CN", "十一月二十八日 上午九点半"), ("en", "half past nine")]
)
def test_spoken_times_are_words(language, expected):
    from datetime import datetime

    from alliance.core.timeutil import LOCAL_TZ

    moment = datetime(2026, 11, 28, 9, 30, tzinfo=LOCAL_TZ)
    assert expected in spoken_datetime(moment, language)
    if language == "en":
        assert spoken_datetime(moment, language) == "Saturday 28 November, half past nine in the morning"


async def test_a_late_reminder_still_goes_out_during_the_window_but_not_after_it():
    scheduled = await scheduled_visit()
    visit_id = scheduled.visit.id
    # The worker was down: the visit's window began an hour ago and ends in an hour.
    now = utc_now()
    await Visit.filter(id=visit_id).update(
        window_start=now - timedelta(hours=1), window_end=now + timedelta(hours=1)
    )
    assert (await send_visit_reminder(visit_id, 1, "2h")).sent == 2
    await Visit.filter(id=visit_id).update(window_end=now - timedelta(minutes=1))
    outcome = await send_visit_reminder(visit_id, 1, "24h")
    assert outcome.skipped == "over" and await reminder_rows(visit_id, "24h") == []
