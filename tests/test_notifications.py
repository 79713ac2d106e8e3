"""The notification outbox, delivered by a real arq worker on a real Redis: once, and never lost."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from alliance.core.codes import NotificationStatus, PartnerStatus
from alliance.core.models import User
from alliance.core.timeutil import utc_now
from alliance.notifications.models import Notification
from alliance.notifications.notifications import deliver_notification
from alliance.partners.models import Partner
from tests.factories import build_two_sides, login, session_csrf
from workers.jobs import relay_pending_notifications


async def _approve_pending_partner(client, left) -> Partner:
    await Partner.filter(id=left.partner.id).update(status=PartnerStatus.PENDING)
    await login(client, "admin")
    response = await client.post(
        f"/admin/partners/{left.partner.id}/status",
        data={"status": "approved"},
        headers={"X-CSRF-Token": session_csrf(client), "HX-Request": "true"},
    )
    assert response.status_code == 200
    return left.partner


async def test_approval_notice_is_delivered_once_by_the_worker_in_each_readers_language(client, arq_worker):
    left, _right, _admin = await build_two_sides()
    await User.filter(username="padminA").update(language="en")
    await _approve_pending_partner(client, left)

    notices = await Notification.all().order_by("id").prefetch_related("user")
    assert {notice.user.username for notice in notices} == {"padminA", "dispatchA"}
    assert all(notice.status == NotificationStatus.PENDING for notice in notices)
    by_user = {notice.user.username: notice for notice in notices}
    assert "approved" in by_user["padminA"].body  # English reader
    assert by_user["dispatchA"].language == "zh_CN"

    await arq_worker.main()
    assert arq_worker.jobs_complete == 2 and arq_worker.jobs_failed == 0
    delivered = await Notification.all()
    assert all(notice.status == NotificationStatus.SENT and notice.attempts == 1 for notice in delivered)


async def test_a_delivery_run_twice_or_concurrently_sends_once():
    left, _right, _admin = await build_two_sides()
    notice = await Notification.create(
        user_id=left.users["dispatcher"].id, channel="sms", body="明天上午上门"
    )
    results = await asyncio.gather(*(deliver_notification(notice.id) for _ in range(5)))
    assert results.count(True) == 1
    assert await deliver_notification(notice.id) is False
    await notice.refresh_from_db()
    assert notice.status == NotificationStatus.SENT and notice.attempts == 1


async def test_notice_written_while_redis_was_down_is_relayed_and_delivered(arq_worker, redis, settings):
    from arq import create_pool
    from arq.connections import RedisSettings

    left, _right, _admin = await build_two_sides()
    # The route's enqueue failed (Redis down): only the outbox row exists, nothing is queued.
    notice = await Notification.create(
        user_id=left.users["partner_admin"].id, channel="in_app", body="审核通过"
    )
    await Notification.filter(id=notice.id).update(created_at=utc_now() - timedelta(minutes=2))
    assert await redis.dbsize() == 0

    pool = await create_pool(RedisSettings.from_dsn(settings.redis_url))
    try:
        assert await relay_pending_notifications({"redis": pool}) == 1
        # A second relay before the worker ran queues nothing new: one job id per set of rows.
        await relay_pending_notifications({"redis": pool})
    finally:
        await pool.aclose()
    await arq_worker.main()
    assert arq_worker.jobs_complete == 1
    await notice.refresh_from_db()
    assert notice.status == NotificationStatus.SENT and notice.attempts == 1


async def test_with_redis_down_approval_still_works_and_the_notice_waits_in_the_outbox(settings):
    import dataclasses

    import httpx

    from web.app import create_app

    left, _right, _admin = await build_two_sides()
    down = dataclasses.replace(settings, redis_url="redis://127.0.0.1:1/0")
    app = create_app(down)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            await _approve_pending_partner(client, left)
            health = await client.get("/healthz")
            ready = await client.get("/readyz")
    assert (await Partner.get(id=left.partner.id)).status == PartnerStatus.APPROVED
    assert await Notification.filter(status=NotificationStatus.PENDING).count() == 2
    # Pages are still served (the load balancer keeps the process), but the service is not ready.
    assert health.status_code == 200 and health.json()["redis"]["ok"] is False
    assert ready.status_code == 503 and "redis" in ready.json()["failing"]
    assert ready.json()["database"]["ok"] is True and ready.json()["redis"]["ok"] is False


# --- channels, providers and the coordinators' outbox page ------------------------------------------


async def test_the_household_channel_follows_its_preference_and_needs():
    from alliance.core.codes import ContactPreference, NotificationChannel
    from alliance.notifications.notifications import household_channel

    left, _right, _admin = await build_two_sides()
    household = left.household
    assert household_channel(household) == NotificationChannel.SMS
    household.contact_preference = ContactPreference.VOICE
    assert household_channel(household) == NotificationChannel.VOICE
    household.contact_preference, household.accessibility = ContactPreference.SMS, ["BLIND"]
    assert household_channel(household) == NotificationChannel.VOICE  # blind: always a call
    household.phone = None
    assert household_channel(household) is None  # no phone: through the community worker
    household.phone, household.contact_preference = "13812345678", ContactPreference.COMMUNITY_WORKER
    assert household_channel(household) is None


async def test_providers_are_configured_per_channel_from_the_settings(tmp_path, monkeypatch):
    from alliance.core.codes import NotificationChannel
    from alliance.notifications import providers

    monkeypatch.setattr(providers, "_providers", {})
    monkeypatch.setenv("ALLIANCE_NOTIFICATION_JOURNAL", str(tmp_path / "sent.jsonl"))
    providers.configure_providers("sms=alliance.notifications.providers:JournalProvider")
    assert isinstance(providers.provider_for(NotificationChannel.SMS), providers.JournalProvider)
    assert isinstance(providers.provider_for(NotificationChannel.VOICE), providers.LogProvider)
    left, _right, _admin = await build_two_sides()
    notice = await Notification.create(
        household_id=left.household.id, channel="sms", body="明天上门", kind="test"
    )
    assert await deliver_notification(notice.id) is True
    assert f'"id": {notice.id}' in (tmp_path / "sent.jsonl").read_text()


async def test_the_outbox_page_shows_a_coordinator_their_regions_notices_and_an_admin_all(app):
    left, right, _admin = await build_two_sides()
    await Notification.create(
        household_id=left.household.id,
        channel="sms",
        kind="visit_scheduled",
        recipient="13812345678",
        body="左边的短信",
    )
    await Notification.create(
        household_id=right.household.id,
        channel="voice",
        kind="visit_scheduled",
        recipient="13800000000",
        body="右边的电话",
    )
    await Notification.create(
        user_id=right.users["coordinator"].id,
        channel="in_app",
        kind="daily_digest",
        body="右边的日报",
        status="sent",
    )

    async def page_for(username: str, query: str = "", **headers: str):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            await login(client, username)
            return await client.get("/outbox" + query, headers=headers)

    page = await page_for("coordA")
    assert page.status_code == 200
    assert "左边的短信" in page.text and "右边" not in page.text
    page = await page_for("coordB", "?status=sent")
    assert "右边的日报" in page.text and "右边的电话" not in page.text and "左边" not in page.text
    page = await page_for("admin", "?channel=voice", **{"HX-Request": "true"})
    assert "右边的电话" in page.text and "左边的短信" not in page.text and "<html" not in page.text
    for username in ("padminA", "volA", "houseA", "workerA"):
        assert (await page_for(username)).status_code == 403
