"""arq job functions: each takes ids, calls one alliance service, and is safe to run twice."""

from __future__ import annotations

from typing import Any

from alliance import claims, geocoding, matching, notifications


async def deliver_notification(_ctx: dict[str, Any], notification_id: int) -> bool:
    return await notifications.deliver_notification(notification_id)


async def relay_pending_notifications(ctx: dict[str, Any]) -> int:
    """The outbox relay: pending rows whose enqueue was lost (Redis down) are enqueued again.
    The job id is per notification, so a row already queued is not queued twice."""
    ids = await notifications.pending_notification_ids()
    for notification_id in ids:
        await ctx["redis"].enqueue_job(
            "deliver_notification", notification_id, _job_id=notifications.delivery_job_id(notification_id)
        )
    return len(ids)


async def geocode_intake_batch(ctx: dict[str, Any], batch_id: int) -> int:
    """Geocode the addresses of one intake batch that still wait (households already sit at their
    region's centre meanwhile). Returns how many got a point from the geocoder."""
    placed = await geocoding.geocode_pending(batch_id)
    if placed:
        # Households moved from their region's centre to their address: match them again.
        await ctx["redis"].enqueue_job(
            "match_intake_batch", batch_id, _job_id=matching.match_job_id("batch-geocoded", batch_id)
        )
    return placed


async def relay_pending_geocoding(ctx: dict[str, Any]) -> int:
    """The sweep: batches whose geocoding job was never queued (Redis down, CLI without a worker)."""
    ids = await geocoding.batches_waiting_for_geocoding()
    for batch_id in ids:
        await ctx["redis"].enqueue_job(
            "geocode_intake_batch", batch_id, _job_id=geocoding.geocode_job_id(batch_id)
        )
    return len(ids)


async def _deliver(ctx: dict[str, Any], run: matching.MatchRun) -> dict[str, Any]:
    for notification_id in run.notification_ids:
        await ctx["redis"].enqueue_job(
            "deliver_notification", notification_id, _job_id=notifications.delivery_job_id(notification_id)
        )
    return run.as_json()


async def match_requests_job(ctx: dict[str, Any], request_ids: list[int]) -> dict[str, Any]:
    return await _deliver(ctx, await matching.match_requests(request_ids))


async def match_intake_batch(ctx: dict[str, Any], batch_id: int) -> dict[str, Any]:
    """The open requests of the households an intake batch brought or changed."""
    ids = await matching.open_request_ids_of_batch(batch_id)
    return await _deliver(ctx, await matching.match_requests(ids))


async def match_offering_job(ctx: dict[str, Any], offering_id: int) -> dict[str, Any]:
    """An offering was created or changed: the requests in its area (and those it served) again."""
    return await _deliver(ctx, await matching.match_offering(offering_id))


async def match_all_job(ctx: dict[str, Any]) -> dict[str, Any]:
    """The nightly full re-match: capacity came back with the month, partners changed status."""
    return await _deliver(ctx, await matching.match_all())


async def _deliver_notices(ctx: dict[str, Any], notification_ids: list[int]) -> None:
    for notification_id in notification_ids:
        await ctx["redis"].enqueue_job(
            "deliver_notification", notification_id, _job_id=notifications.delivery_job_id(notification_id)
        )


async def auto_approve_transfers(ctx: dict[str, Any]) -> dict[str, Any]:
    """Transfers the holder did not answer in time are approved (denied when they can no longer happen)."""
    sweep = await claims.auto_approve_due_transfers()
    await _deliver_notices(ctx, sweep.notification_ids)
    return {"approved": sweep.approved, "denied": sweep.denied}


async def release_unscheduled_claims(ctx: dict[str, Any]) -> dict[str, Any]:
    """Claims not scheduled in time: the holder is warned, later the request goes back to the pool,
    is matched again and the coordinators are told."""
    sweep = await claims.sweep_unscheduled_claims()
    await _deliver_notices(ctx, sweep.notification_ids)
    if sweep.released:
        await ctx["redis"].enqueue_job("match_requests_job", sweep.released)
    return {"warned": sweep.warned, "released": sweep.released}
