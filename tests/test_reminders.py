"""Visit notices and reminders (alliance/visits/notices.py): each person told in their channel and
language, and each reminder sent exactly once — planned twice, after a move, run twice, and when a
real worker process is killed in the middle of the job."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from alliance.core.accounts import create_user
from alliance.core.codes import NotificationChannel, NotificationStatus, OutboxStatus, Role
from alliance.core.models import User
from alliance.core.timeutil import utc_now
from alliance.households.models import Household
from alliance.notifications import outbox
from alliance.notifications.models import Notification, OutboxJob, Task
from alliance.notifications.notifications import idempotency_key
from alliance.notifications.providers import journal_deliveries
from alliance.notifications.speech import spoken_datetime
from alliance.partners.models import Volunteer
from alliance.visits.household_responses import respond_by_link
from alliance.visits.links import response_token
from alliance.visits.models import Visit, VolunteerBooking
from alliance.visits.notices import (
    _household_message,
    _volunteer_message,
    plan_reminders,
    reminder_due,
    reminder_job_id,
    send_due_reminders,
    send_visit_reminder,
    to_household,
    to_volunteer,
    visit_context,
)
from alliance.visits.scheduling import cancel_visit, change_volunteers, reschedule_visit, schedule_visit
from tests.conftest import BACKEND, TEST_SECRET
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


async def test_reminders_wait_in_the_outbox_and_sweeps_side_by_side_send_them_once_through_the_worker(
    arq_worker, servers, monkeypatch
):
    monkeypatch.setenv("ALLIANCE_REMINDER_TIME_SCALE", TEST_TIME_SCALE)
    scheduled = await scheduled_visit(soon=6)
    visit_id = scheduled.visit.id
    await plan_reminders(scheduled.visit)  # planned again: nothing new
    # The reminders wait in the outbox for their time; the relay queues only the change's notices,
    # and a second relay (say, the cron racing the web process) finds nothing pending.
    assert (await relay_all(servers.redis_url)).enqueued == 1
    assert (await relay_all(servers.redis_url)).enqueued == 0
    planned = await OutboxJob.filter(job_name="send_visit_reminder").order_by("id")
    assert [(job.status, job.defer_until) for job in planned] == [
        (OutboxStatus.PLANNED, reminder_due(scheduled.visit.window_start, kind)) for kind in ("24h", "2h")
    ]
    assert (await send_due_reminders()).reminders == 0  # not due yet
    await OutboxJob.filter(job_name="send_visit_reminder").update(defer_until=utc_now())
    pool = await arq_pool(servers.redis_url)
    try:
        # Three sweeps at once (the cron's runs overlapping on several workers), and the job a
        # reminder was before the batches (one still queued from then): each message goes out once.
        for tick in range(3):
            await pool.enqueue_job("send_due_reminders", _job_id=f"cron:send_due_reminders:{tick}")
        await arq_worker.main()
        enqueue = enqueue_with(pool)
        for kind in ("24h", "2h"):
            await enqueue(
                "send_visit_reminder", [visit_id, 1, kind], reminder_job_id(visit_id, 1, kind), None
            )
        await arq_worker.main()
    finally:
        await pool.aclose()
    assert arq_worker.jobs_failed == 0
    for kind in ("24h", "2h"):
        rows = await reminder_rows(visit_id, kind)
        assert len(rows) == 2, kind
        assert all(row.status == NotificationStatus.SENT and row.attempts == 1 for row in rows)
    assert {job.status for job in await OutboxJob.filter(job_name="send_visit_reminder")} == {
        OutboxStatus.DONE
    }
    assert await Notification.filter(status=NotificationStatus.PENDING).count() == 0


async def test_a_reminder_that_cannot_be_written_waits_and_holds_up_none_of_the_others():
    scheduled = await scheduled_visit()
    await OutboxJob.filter(job_name="send_visit_reminder").update(defer_until=utc_now())
    # A planned row this release cannot read (say, planned by an older one), due before the others.
    broken = await outbox.plan_job(
        "send_visit_reminder",
        scheduled.visit.id,
        job_id="reminder:broken",
        due=utc_now() - timedelta(minutes=1),
    )
    sweep = await send_due_reminders()
    assert (sweep.reminders, sweep.sent) == (2, 4)  # both reminders, to the household and the volunteer
    for kind in ("24h", "2h"):
        assert {row.status for row in await reminder_rows(scheduled.visit.id, kind)} == {
            NotificationStatus.SENT
        }
    await broken.refresh_from_db()
    assert (broken.status, broken.attempts, broken.error) == (OutboxStatus.PLANNED, 1, "TypeError")
    assert broken.defer_until > utc_now()  # tried again after a pause
    assert (await send_due_reminders()).reminders == 0


async def _only_reminders_left() -> None:
    """The scheduling notices count as sent: the tests below watch the reminders alone."""
    await Notification.filter(status=NotificationStatus.PENDING).update(status=NotificationStatus.SENT)
    await OutboxJob.filter(job_name="deliver_notifications").update(status=OutboxStatus.ENQUEUED)


async def _wait_for(check, deadline: float, log: Path, process) -> None:
    while not await check():
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        assert process.poll() is None, log.read_text()[-3000:]
        await asyncio.sleep(0.2)


def _stop(process) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except Exception:
        process.kill()


@pytest.mark.parametrize(
    ("provider", "gateway_took_it"),
    [("StallBeforeGatewayProvider", False), ("StallOnceProvider", True)],
    ids=["killed-before-the-gateway-took-it", "killed-after-the-gateway-took-it"],
)
async def test_a_worker_killed_in_the_middle_of_a_reminder_loses_nothing_and_each_key_is_delivered_once(
    servers, redis, tmp_path, provider, gateway_took_it
):
    """A real worker process with the production WorkerSettings runs the reminder sweep: it writes the
    reminder's two messages, claims both under one lease and hands them to the gateway side by side.
    It is killed (SIGKILL) in the gateway call of the first: before the gateway got it, or right after
    it accepted it; the second was accepted meanwhile, and neither is marked sent. A new worker's
    sweep takes both again once the lease runs out (not a job lock of 70 s) and sends them under the
    same idempotency keys. The gateway (the journal, which honours the key) delivers every message
    exactly once: the one killed before is not lost, the attempts at those it had are dropped."""
    scheduled = await scheduled_visit()
    job_id = reminder_job_id(scheduled.visit.id, 1, "2h")
    await _only_reminders_left()
    await OutboxJob.filter(job_id=job_id).update(defer_until=utc_now())  # due now, for the test
    journal = tmp_path / "sent.jsonl"
    environment = {
        "ALLIANCE_NOTIFICATION_PROVIDERS": f"tests.stall_provider:{provider}",
        "ALLIANCE_NOTIFICATION_JOURNAL": str(journal),
        "ALLIANCE_DELIVERY_LEASE_SECONDS": "10",
    }
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log"]
    first = start_worker(servers.database_url, servers.redis_url, logs[0], **environment)
    try:

        async def stalled() -> bool:
            return os.path.exists(str(journal) + ".stalled")

        await _wait_for(stalled, time.monotonic() + 60, logs[0], first)
        await asyncio.sleep(0.3)  # the other message of the claim reaches the gateway meanwhile
        first.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    rows = await reminder_rows(scheduled.visit.id, "2h")
    assert len(rows) == 2 and {row.status for row in rows} == {NotificationStatus.SENDING}
    assert rows[0].lease_until == rows[1].lease_until is not None and not rows[0].sent_at
    # The messages were written and the reminder marked done in one transaction, before the gateway.
    assert (await OutboxJob.get(job_id=job_id)).status == OutboxStatus.DONE
    stalled_row, other = rows
    keys = [idempotency_key(row.id) for row in rows]
    accepted_before = journal_deliveries(str(journal))
    taken = keys if gateway_took_it else [idempotency_key(other.id)]
    assert accepted_before == dict.fromkeys(taken, 1)

    second = start_worker(servers.database_url, servers.redis_url, logs[1], **environment)
    try:

        async def all_sent() -> bool:
            statuses = {row.status for row in await reminder_rows(scheduled.visit.id, "2h")}
            return statuses == {NotificationStatus.SENT}

        await _wait_for(all_sent, killed_at + 90, logs[1], second)
        recovered_after = time.monotonic() - killed_at
    finally:
        _stop(second)
    delivered = journal_deliveries(str(journal))
    # Nothing lost, nothing twice (the visit's other notices may go out meanwhile too: once each).
    assert {key: delivered.get(key) for key in keys} == dict.fromkeys(keys, 1)
    assert set(delivered.values()) == {1}
    attempts = [json.loads(line) for line in journal.read_text().splitlines()]
    assert sorted(line["key"] for line in attempts if line["duplicate"]) == sorted(taken)
    assert await Notification.filter(visit_id=scheduled.visit.id, kind="reminder_2h").count() == 2
    for row in await reminder_rows(scheduled.visit.id, "2h"):
        assert row.status == NotificationStatus.SENT and row.lease_until is None and row.sent_at
    assert stalled_row.id != other.id
    # The lease (10 s here) and the next sweep (every 5 s), well before a killed job's lock would end.
    assert recovered_after < 60, recovered_after


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


async def _schedule_many(count: int, seed: int) -> list[int]:
    """`count` visits two days ahead, each with its own household and volunteer (the bench's world),
    their scheduling notices counted as sent and their reminders made due now."""
    from bench.bench_reminders import generate, make_due

    world = await generate(count, seed)
    visit_ids = []
    for request_id, volunteer_id in world["pairs"]:
        start, end = window(2, 9, minute=30)
        visit_ids.append(
            (await schedule_visit(world["principal"], request_id, start, end, [volunteer_id])).visit.id
        )
    await _only_reminders_left()
    assert await make_due(visit_ids) == 2 * len(visit_ids)
    return visit_ids


def _sent_once_each(journal: Path, visit_ids: list[int]) -> list[dict]:
    """The reminder messages the gateway delivered: each key once, each reminder to its household
    and its volunteer exactly once (none twice, none lost)."""
    from bench.bench_reminders import reminders_journalled

    sent = reminders_journalled(journal, set(visit_ids))
    keys = [line["key"] for line in sent]
    assert len(keys) == len(set(keys))  # none twice at the gateway
    per_recipient = [(line["visit"], line["kind"], line["recipient"]) for line in sent]
    assert len(per_recipient) == len(set(per_recipient))
    recipients: Counter = Counter((visit_id, kind) for visit_id, kind, _recipient in per_recipient)
    expected = {(visit_id, kind) for visit_id in visit_ids for kind in ("reminder_24h", "reminder_2h")}
    assert {key: recipients.get(key, 0) for key in expected} == dict.fromkeys(expected, 2)  # none lost
    return sent


def _jobs_run(logs: list[Path]) -> Counter:
    from bench.bench_reminders import jobs_run

    return jobs_run(logs)


async def test_the_sweep_writes_each_reminder_as_a_single_visits_reminder_reads():
    """The batch reads recipients in bulk; what each person gets (channel, language, text, voice for
    the blind, the worker's relay, no in-app message to a deactivated account) is what the rules of
    `to_household` and `to_volunteer` give for that one visit."""
    visit_ids = await _schedule_many(8, 5)
    visits = await Visit.filter(id__in=visit_ids).order_by("id").prefetch_related("request")
    households = [visit.request.household_id for visit in visits]
    await Household.filter(id=households[0]).update(accessibility=["BLIND"], contact_preference="SMS")
    await Household.filter(id=households[1]).update(contact_preference="COMMUNITY_WORKER")
    await Household.filter(id__in=households[2:4]).update(contact_preference="SMS", accessibility=[])
    english = await create_user("hh.english", PASSWORD, Role.HOUSEHOLD, household_id=households[2])
    await User.filter(id=english.id).update(language="en")
    volunteers = [
        (await VolunteerBooking.get(visit_id=visit.id)).volunteer_id  # type: ignore[attr-defined]
        for visit in visits
    ]
    for number, (volunteer_id, active) in enumerate([(volunteers[0], True), (volunteers[1], False)]):
        account = await create_user(f"vol.{number}", PASSWORD, Role.VOLUNTEER, volunteer_id=volunteer_id)
        await User.filter(id=account.id).update(language="en", is_active=active)

    assert (await send_due_reminders()).reminders == 2 * len(visit_ids)
    for visit in visits:
        context = await visit_context(await Visit.get(id=visit.id))
        for kind in ("24h", "2h"):
            expected = await to_household(context.household, _household_message(context, f"reminder_{kind}"))
            for volunteer in context.volunteers:
                expected += await to_volunteer(volunteer, _volunteer_message(context, f"reminder_{kind}"))
            rows = await reminder_rows(visit.id, kind)
            assert [(row.channel, row.language, row.recipient, row.body, row.user_id) for row in rows] == [
                (item.channel, item.language, item.recipient, item.body, item.user_id) for item in expected
            ]
    first = await reminder_rows(visits[0].id, "2h")
    assert first[0].channel == NotificationChannel.VOICE and "09:30" not in first[0].body
    relayed = await reminder_rows(visits[1].id, "2h")
    assert relayed[0].channel == NotificationChannel.IN_APP and relayed[0].recipient == "via bench.worker"
    assert await Task.filter(subject_type="visit", subject_id=str(visits[1].id)).count() == 1
    assert (await reminder_rows(visits[2].id, "2h"))[0].language == "en"
    assert [row.channel for row in await reminder_rows(visits[0].id, "2h")][1:] == ["in_app", "sms"]
    assert [row.channel for row in await reminder_rows(visits[1].id, "2h")][1:] == ["sms"]  # deactivated


async def test_many_due_reminders_go_out_in_batches_in_few_jobs_and_a_kill_mid_batch_loses_none(
    servers, redis, tmp_path
):
    """Sixty reminders (120 messages) due at once. A real worker process (production settings,
    batches of 25 reminders) writes and delivers them in batches — a few sweep runs, not a job per
    visit or message — and is killed (SIGKILL) in the middle of a batch's gateway calls, one message
    stalled before the gateway and the rest of its claim accepted but not yet marked sent. A second
    worker's sweep writes what was not taken yet and, once the lease runs out, hands the killed claim
    over again: every message reaches the gateway exactly once, none is lost, and the only attempts
    the gateway drops are those of the killed claim that it had already taken."""
    visit_ids = await _schedule_many(30, 11)
    journal = tmp_path / "sent.jsonl"
    environment = {
        "ALLIANCE_NOTIFICATION_PROVIDERS": "tests.stall_provider:StallMidBatchProvider",
        "ALLIANCE_NOTIFICATION_JOURNAL": str(journal),
        "ALLIANCE_DELIVERY_LEASE_SECONDS": "8",
        "ALLIANCE_REMINDER_BATCH": "25",
        # The 70th message: the 20th of the second batch (50 messages a batch, one claim each).
        "ALLIANCE_TEST_STALL_AT": "70",
    }
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log"]
    first = start_worker(servers.database_url, servers.redis_url, logs[0], **environment)
    try:

        async def stalled() -> bool:
            return os.path.exists(str(journal) + ".stalled")

        await _wait_for(stalled, time.monotonic() + 60, logs[0], first)
        await asyncio.sleep(0.3)  # the rest of the claim reaches the gateway meanwhile
        first.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    reminders = Notification.filter(kind__in=["reminder_24h", "reminder_2h"])
    sending = await reminders.filter(status=NotificationStatus.SENDING).order_by("id")
    # The killed claim: a batch's messages under one lease, all but the stalled one at the gateway.
    assert sending and len({row.lease_until for row in sending}) == 1
    killed_claim = {idempotency_key(row.id) for row in sending}
    accepted = set(journal_deliveries(str(journal)))
    [stalled] = killed_claim - accepted
    assert await reminders.filter(status=NotificationStatus.SENT).count() >= 50  # the first batch

    second = start_worker(servers.database_url, servers.redis_url, logs[1], **environment)
    try:

        async def all_sent() -> bool:
            return (
                await reminders.filter(status=NotificationStatus.SENT).count() == 120
                and not await OutboxJob.filter(status=OutboxStatus.PLANNED).exists()
            )

        await _wait_for(all_sent, killed_at + 90, logs[1], second)
    finally:
        _stop(second)
    sent = _sent_once_each(journal, visit_ids)
    assert len(sent) == 120
    attempts = [json.loads(line) for line in journal.read_text().splitlines()]
    dropped = {line["key"] for line in attempts if line["duplicate"]}
    assert dropped <= killed_claim and len(dropped) == 49
    ran = _jobs_run(logs)
    # A handful of jobs for 120 messages (the killed run logged nothing): sweeps, and the other crons.
    # The killed claim goes over whole, to the sweep or to the relay (one batch job), never a job a row.
    assert "send_visit_reminder" not in ran and "deliver_notification" not in ran
    assert ran["send_due_reminders"] >= 1 and sum(ran.values()) + 1 < len(sent) // 2, ran


@pytest.mark.skipif(
    BACKEND != "postgres",
    reason="two workers share the reminders on PostgreSQL (SQLite has one writer: they only queue "
    "behind each other; the single-worker kill tests above cover SQLite)",
)
async def test_two_workers_share_the_reminders_and_one_killed_loses_none_and_sends_none_twice(
    servers, redis, tmp_path
):
    """Reminders due at once for many visits and two real worker processes (production settings,
    small batches) sweeping side by side. The first to hand its 20th message to the gateway stalls
    there and is killed with SIGKILL, and a third is started: every reminder message reaches the
    gateway exactly once, and more than one worker delivered them (the killed one's claim was
    finished by the others)."""
    visit_ids = await _schedule_many(30, 7)
    journal = tmp_path / "sent.jsonl"
    marker = Path(str(journal) + ".stalled")
    environment = {
        "ALLIANCE_NOTIFICATION_PROVIDERS": "tests.stall_provider:StallMidBatchProvider",
        "ALLIANCE_NOTIFICATION_JOURNAL": str(journal),
        "ALLIANCE_DELIVERY_LEASE_SECONDS": "10",
        "ALLIANCE_REMINDER_BATCH": "4",
        "ALLIANCE_TEST_STALL_AT": "20",
    }
    logs = [tmp_path / f"worker{number}.log" for number in range(3)]
    workers = [
        start_worker(servers.database_url, servers.redis_url, logs[n], **environment) for n in range(2)
    ]
    try:

        async def stalled() -> bool:
            return marker.exists() and bool(marker.read_text())

        await _wait_for(stalled, time.monotonic() + 60, logs[0], workers[0])
        [victim] = [worker for worker in workers if worker.pid == int(marker.read_text())]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        workers.append(start_worker(servers.database_url, servers.redis_url, logs[2], **environment))
        reminders = Notification.filter(kind__in=["reminder_24h", "reminder_2h"])

        async def all_sent() -> bool:
            return await reminders.filter(status=NotificationStatus.SENT).count() == 4 * len(visit_ids)

        await _wait_for(all_sent, time.monotonic() + 120, logs[2], workers[-1])
    finally:
        for worker in workers:
            _stop(worker)
    sent = _sent_once_each(journal, visit_ids)
    assert len({line["pid"] for line in sent}) >= 2
    assert victim.pid in {line["pid"] for line in sent}
