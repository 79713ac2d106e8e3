"""The retention policy (alliance/core/retention.py): each kind of data is kept for its period
and then removed or anonymised, once, with an audit entry; nothing younger or still open is touched."""

from __future__ import annotations

from datetime import timedelta

from alliance.core.codes import NotificationChannel, NotificationStatus, OutboxStatus, RequestStatus
from alliance.core.models import AuditEntry, LoginAttempt
from alliance.core.retention import ANONYMISED_NAME, RetentionPolicy, apply_retention
from alliance.core.timeutil import utc_now
from alliance.households.models import Flag, Household, IntakeRecord
from alliance.matching.models import ServiceRequest
from alliance.notifications.models import Notification, OutboxJob
from tests.factories import build_two_sides

POLICY = RetentionPolicy(
    notification_days=365, login_attempt_days=90, rejected_row_days=365, outbox_days=90, closed_case_years=5
)


async def _age(model, ids, field: str, days: int) -> None:
    await model.filter(id__in=ids).update(**{field: utc_now() - timedelta(days=days)})


async def test_old_notification_bodies_and_login_attempts_go_young_ones_stay():
    left, _right, _admin = await build_two_sides()
    old = await Notification.create(
        household=left.household,
        channel=NotificationChannel.SMS,
        recipient="13812345678",
        body="张A 您好，明天9点上门",
        status=NotificationStatus.SENT,
    )
    young = await Notification.create(
        household=left.household,
        channel=NotificationChannel.SMS,
        recipient="13812345678",
        body="张A 您好，后天上门",
        status=NotificationStatus.SENT,
    )
    waiting = await Notification.create(
        household=left.household,
        channel=NotificationChannel.SMS,
        recipient="13812345678",
        body="not yet sent",
        status=NotificationStatus.PENDING,
    )
    await _age(Notification, [old.id, waiting.id], "created_at", 400)
    attempt_old = await LoginAttempt.create(username="x", address="1.2.3.4", succeeded=False)
    attempt_new = await LoginAttempt.create(username="x", address="1.2.3.4", succeeded=False)
    await _age(LoginAttempt, [attempt_old.id], "at", 91)
    job_old = await OutboxJob.create(job_name="j", job_id="old", status=OutboxStatus.ENQUEUED)
    job_pending = await OutboxJob.create(job_name="j", job_id="pending", status=OutboxStatus.PENDING)
    await _age(OutboxJob, [job_old.id, job_pending.id], "created_at", 100)

    run = await apply_retention(POLICY)

    assert (run.notification_bodies_removed, run.login_attempts_deleted, run.outbox_jobs_deleted) == (1, 1, 1)
    await old.refresh_from_db()
    await young.refresh_from_db()
    await waiting.refresh_from_db()
    assert (old.body, old.recipient) == ("", "")
    assert young.body.startswith("张A") and waiting.body == "not yet sent", (
        "young or unsent messages are kept"
    )
    assert await LoginAttempt.filter(id=attempt_new.id).exists()
    assert not await LoginAttempt.filter(id=attempt_old.id).exists()
    assert await OutboxJob.filter(id=job_pending.id).exists(), "a job not yet relayed is never dropped"

    entry = await AuditEntry.get(action="retention.applied")
    assert entry.details["notification_bodies_removed"] == 1 and entry.details["notification_days"] == 365

    again = await apply_retention(POLICY)
    assert again.notification_bodies_removed == again.login_attempts_deleted == 0


async def test_a_case_closed_long_ago_is_anonymised_an_open_or_recent_one_is_not():
    left, right, _admin = await build_two_sides()
    closed, open_case = left.household, right.household
    await IntakeRecord.create(household=closed, phone_address="13812345678|某路1号", updated_at=utc_now())
    # The left household's case closed six years ago: its flag cleared, its request completed.
    await Flag.filter(household=closed).update(
        active=False, deactivated_at=utc_now() - timedelta(days=6 * 365)
    )
    await Flag.filter(household=closed).update(detected_at=utc_now() - timedelta(days=7 * 365))
    await ServiceRequest.filter(household=closed).update(
        status=RequestStatus.COMPLETED, active_key=None, updated_at=utc_now() - timedelta(days=6 * 365)
    )
    await _age(Household, [closed.id, open_case.id], "updated_at", 6 * 365)

    run = await apply_retention(POLICY)

    assert run.households_anonymised == 1
    gone = await Household.get(id=closed.id)
    assert (gone.head_name, gone.id_number, gone.phone, gone.address, gone.lat) == (
        ANONYMISED_NAME,
        None,
        None,
        "",
        None,
    )
    assert gone.region_id == left.community, "the counts by region still hold"
    assert (await IntakeRecord.get(household=closed)).phone_address is None
    kept = await Household.get(id=open_case.id)
    assert kept.head_name == "张B" and kept.phone == "13812345678", "an active flag keeps the case open"

    assert (await apply_retention(POLICY)).households_anonymised == 0
