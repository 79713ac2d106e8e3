"""Delivery under a lease (alliance/notifications/notifications.py): a notification is `sending`
while its gateway call runs and `sent` only once the gateway accepted it; a lease left by a worker
that died is delivered again by the relay under the same idempotency key, so nothing is lost and a
gateway that honours the key delivers it once. (The kill tests with real worker processes are in
tests/test_reminders.py.)"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from arq import create_pool
from arq.connections import RedisSettings

from alliance.core.codes import NotificationChannel, NotificationStatus
from alliance.core.timeutil import utc_now
from alliance.notifications import providers
from alliance.notifications.models import Notification
from alliance.notifications.notifications import (
    claim_for_delivery,
    deliver_notification,
    idempotency_key,
    pending_notification_ids,
)
from alliance.notifications.providers import JournalProvider, journal_deliveries
from tests.factories import build_two_sides
from workers.jobs import relay_pending_notifications


@pytest.fixture
def journal(tmp_path, monkeypatch):
    """Every channel's gateway is a journal that honours the idempotency key."""
    path = tmp_path / "gateway.jsonl"
    gateway = JournalProvider(str(path))
    monkeypatch.setattr(providers, "_providers", dict.fromkeys(NotificationChannel, gateway))
    return path


async def _notice() -> Notification:
    left, _right, _admin = await build_two_sides()
    return await Notification.create(
        household_id=left.household.id, channel="sms", kind="visit_scheduled", body="明天上午上门"
    )


async def test_the_gateway_gets_the_notification_id_as_its_idempotency_key_and_the_row_is_sent_after(journal):
    notice = await _notice()
    assert await deliver_notification(notice.id) is True
    [line] = [json.loads(line) for line in journal.read_text().splitlines()]
    assert line["key"] == idempotency_key(notice.id) == f"notification:{notice.id}"
    assert line["duplicate"] is False
    await notice.refresh_from_db()
    assert notice.status == NotificationStatus.SENT and notice.lease_until is None and notice.attempts == 1


async def test_a_claimed_row_is_sending_under_a_lease_and_no_other_delivery_takes_it_meanwhile(journal):
    notice = await _notice()
    claimed = await claim_for_delivery(notice.id)  # a worker that then dies in the gateway call
    assert claimed is not None and claimed.status == NotificationStatus.SENDING
    assert claimed.lease_until > utc_now() + timedelta(seconds=60)
    assert await deliver_notification(notice.id) is False  # the lease holds
    assert notice.id not in await pending_notification_ids(older_than=timedelta(0))
    assert not journal.exists()


async def test_an_expired_lease_is_delivered_again_by_the_relay_under_the_same_key(
    journal, arq_worker, settings
):
    notice = await _notice()
    await claim_for_delivery(notice.id, now=utc_now() - timedelta(minutes=10))  # its worker died
    assert notice.id in await pending_notification_ids()

    pool = await create_pool(RedisSettings.from_dsn(settings.redis_url))
    try:
        assert await relay_pending_notifications({"redis": pool}) == 1
    finally:
        await pool.aclose()
    await arq_worker.main()
    assert arq_worker.jobs_complete == 1 and arq_worker.jobs_failed == 0
    assert journal_deliveries(str(journal)) == {idempotency_key(notice.id): 1}
    await notice.refresh_from_db()
    assert notice.status == NotificationStatus.SENT and notice.attempts == 2 and notice.lease_until is None


async def test_a_message_the_gateway_took_before_the_worker_died_is_resent_and_dropped_as_a_duplicate(
    journal,
):
    notice = await _notice()
    # The dead worker's attempt reached the gateway: the journal holds its key.
    await claim_for_delivery(notice.id, now=utc_now() - timedelta(minutes=10))
    await providers.provider_for(NotificationChannel.SMS).send(notice, idempotency_key(notice.id))
    assert await deliver_notification(notice.id) is True
    attempts = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [attempt["duplicate"] for attempt in attempts] == [False, True]
    assert journal_deliveries(str(journal)) == {idempotency_key(notice.id): 1}


async def test_a_gateway_refusal_puts_the_row_back_to_pending_with_the_error(journal, monkeypatch):
    class Refusing:
        async def send(self, notification, idempotency_key):
            raise ConnectionError("gateway down")

    monkeypatch.setattr(providers, "_providers", dict.fromkeys(NotificationChannel, Refusing()))
    notice = await _notice()
    assert await deliver_notification(notice.id) is False
    await notice.refresh_from_db()
    assert notice.status == NotificationStatus.PENDING and notice.lease_until is None
    assert notice.error == "ConnectionError: gateway down" and notice.attempts == 1


async def test_a_delivery_that_outlived_its_lease_leaves_the_new_holders_row_alone(journal, monkeypatch):
    notice = await _notice()

    class SlowThenOvertaken:
        async def send(self, notification, idempotency_key):
            # While this call runs its lease runs out and another delivery takes the row.
            await Notification.filter(id=notification.id).update(lease_until=utc_now() - timedelta(seconds=1))
            assert await claim_for_delivery(notification.id) is not None
            raise TimeoutError("no answer")

    monkeypatch.setattr(providers, "_providers", dict.fromkeys(NotificationChannel, SlowThenOvertaken()))
    assert await deliver_notification(notice.id) is False
    await notice.refresh_from_db()
    assert notice.status == NotificationStatus.SENDING and notice.error == ""  # the new holder's
