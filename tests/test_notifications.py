"""The notification outbox, delivered by a real arq worker on a real Redis: once, and never lost."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from alliance.codes import NotificationStatus, PartnerStatus
from alliance.models import Notification, Partner, User
from alliance.notifications import deliver_notification
from alliance.timeutil import utc_now
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
        # A second relay before the worker ran queues nothing new: one job id per notification.
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
    assert (await Partner.get(id=left.partner.id)).status == PartnerStatus.APPROVED
    assert await Notification.filter(status=NotificationStatus.PENDING).count() == 2
    assert health.status_code == 503
    assert health.json()["database"]["ok"] is True and health.json()["redis"]["ok"] is False
