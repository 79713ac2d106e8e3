"""arq job functions: each takes ids, calls one alliance service, and is safe to run twice."""

from __future__ import annotations

import logging
from typing import Any

from arq import Retry

import alliance.visits.notices
import alliance.visits.regular
from alliance.core import exports, retention
from alliance.core.timeutil import utc_now
from alliance.events import invitations, notices, registrations

# The export kinds register themselves with alliance.core.exports as their modules load.
from alliance.households import (
    geocoding,
    intake_history,  # noqa: F401
)
from alliance.matching import allocation, match_storage, matching, transfers, unscheduled_claims
from alliance.notifications import delivery, escalation, notifications, outbox
from alliance.targets import cockpit, cockpit_snapshots, digest, promises, supervision  # noqa: F401  (their export kinds)

logger = logging.getLogger("workers.jobs")


async def deliver_notification(_ctx: dict[str, Any], notification_id: int) -> bool:
    return await notifications.deliver_notification(notification_id)


async def relay_pending_notifications(ctx: dict[str, Any]) -> int:
    """The outbox relay: pending rows whose enqueue was lost (Redis down) or whose delivery's lease
    ran out (its worker died) are queued again, a claim's worth per job (alliance/notifications/
    delivery.py). The job id is per set of rows, so a set already queued is not queued twice; a row
    in two sets is claimed by one of them only."""
    ids = await notifications.pending_notification_ids()
    for start in range(0, len(ids), delivery.CLAIM_BATCH):
        chunk = ids[start : start + delivery.CLAIM_BATCH]
        await ctx["redis"].enqueue_job(
            "deliver_notification_batch",
            chunk,
            _job_id=delivery.batch_job_id(chunk),
            **outbox.job_kwargs(),
        )
    return len(ids)


async def deliver_notification_batch(_ctx: dict[str, Any], notification_ids: list[int]) -> int:
    """The relay's rows, claimed and sent a batch at a time; how many were sent."""
    return await delivery.deliver_batch(notification_ids)


# A networked geocoder answers about once a second: a city's batch takes hours, so one job geocodes
# for this long, saves, and leaves the rest to the next (the sweep queues the batch again each minute).
GEOCODE_SLICE_SECONDS = 80


async def geocode_intake_batch(ctx: dict[str, Any], batch_id: int) -> int:
    """Geocode the addresses of one intake batch that still wait (households already sit at their
    region's centre meanwhile). Returns how many got a point from the geocoder."""
    placed = await geocoding.geocode_pending(batch_id, seconds=GEOCODE_SLICE_SECONDS)
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


async def _deliver(ctx: dict[str, Any], run: match_storage.MatchRun) -> dict[str, Any]:
    for notification_id in run.notification_ids:
        await ctx["redis"].enqueue_job(
            "deliver_notification",
            notification_id,
            _job_id=notifications.delivery_job_id(notification_id),
            **outbox.job_kwargs(),
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
            "deliver_notification",
            notification_id,
            _job_id=notifications.delivery_job_id(notification_id),
            **outbox.job_kwargs(),
        )


ALLOCATION_TRIES = 3


async def compute_allocation_job(_ctx: dict[str, Any], proposal_id: int) -> dict[str, Any]:
    """A coordinator's allocation proposal (alliance/matching/allocation.py); safe to run twice.
    An error is retried twice after a pause; then the proposal is marked failed for the page."""
    try:
        outcome = await allocation.compute_allocation(proposal_id)
    except Exception:
        tries = _ctx.get("job_try", 1)
        if tries < ALLOCATION_TRIES:
            raise Retry(defer=5 * tries) from None
        logger.exception("allocation proposal %s failed after %s tries", proposal_id, tries)
        await allocation.fail_allocation(proposal_id)
        return {"proposal": proposal_id, "computed": False}
    if outcome is None:
        return {"proposal": proposal_id, "computed": False}
    return {"proposal": proposal_id, "computed": True, "served": outcome.flow.served}


EXPORT_TRIES = 3


async def run_export_job(ctx: dict[str, Any], export_id: int) -> dict[str, Any]:
    """A user's export (alliance/core/exports.py), written to a temporary file and renamed at the end:
    safe to run twice, and a killed run leaves no half file. Errors are retried twice, then failed."""
    try:
        job = await exports.run_export(export_id)
    except Exception as error:
        tries = ctx.get("job_try", 1)
        if tries < EXPORT_TRIES:
            raise Retry(defer=5 * tries) from None
        logger.warning("export %s failed after %s tries: %s", export_id, tries, type(error).__name__)
        await exports.fail_export(export_id)
        return {"export": export_id, "written": False}
    return {"export": export_id, "written": job is not None, "rows": job.row_count if job else 0}


async def auto_approve_transfers(ctx: dict[str, Any]) -> dict[str, Any]:
    """Transfers the holder did not answer in time are approved (denied when they can no longer happen)."""
    sweep = await transfers.auto_approve_due_transfers()
    await _deliver_notices(ctx, sweep.notification_ids)
    return {"approved": sweep.approved, "denied": sweep.denied}


async def release_unscheduled_claims(ctx: dict[str, Any]) -> dict[str, Any]:
    """Claims not scheduled in time: the holder is warned, later the request goes back to the pool,
    is matched again and the coordinators are told."""
    sweep = await unscheduled_claims.sweep_unscheduled_claims()
    await _deliver_notices(ctx, sweep.notification_ids)
    if sweep.released:
        await ctx["redis"].enqueue_job("match_requests_job", sweep.released)
    return {"warned": sweep.warned, "released": sweep.released}


# --- visits: reminders, the job outbox, escalation, missed visits, the digest -----------------------


# arq retries a job only when it raises Retry (or its worker died); any other error fails it for
# good, and the outbox row, already marked enqueued, would never be queued again. The jobs the
# outbox queues are safe to rerun, so a passing failure (a database busy or restarting) is retried
# with a growing pause instead.
OUTBOX_JOB_TRIES = 12


async def _retrying(ctx: dict[str, Any], work: Any) -> Any:
    try:
        return await work
    except Exception as error:
        tries = ctx.get("job_try", 1)
        if tries >= OUTBOX_JOB_TRIES:
            raise
        # The error's type only: a database's message may quote a row's values (personal data).
        logger.warning("%s failed (try %s), retrying: %s", ctx.get("job_id"), tries, type(error).__name__)
        raise Retry(defer=min(2**tries, 60)) from error


async def deliver_notifications(ctx: dict[str, Any], notification_ids: list[int]) -> int:
    """The notices of one change; each row is claimed before it is sent, so a rerun sends none twice."""
    return await _retrying(ctx, notifications.deliver_all(notification_ids))


async def send_visit_reminder(ctx: dict[str, Any], visit_id: int, version: int, kind: str) -> dict[str, Any]:
    """One visit's reminder, as planned before the reminders went out in batches (jobs still queued
    from then); new reminders wait in the outbox for `send_due_reminders`."""
    outcome = await _retrying(ctx, alliance.visits.notices.send_visit_reminder(visit_id, version, kind))
    return outcome.as_json()


async def send_due_reminders(_ctx: dict[str, Any]) -> dict[str, int]:
    """The reminder sweep (cron, every few seconds): the visit reminders whose time has come, written
    and delivered in batches. Runs on several workers at once take different batches; a run that
    fails or is killed leaves its work to the next."""
    return (await alliance.visits.notices.send_due_reminders()).as_json()


# One relay run moves at most this many jobs (in batches), so a backlog drains without one run
# holding the cron for long.
RELAY_BATCH, RELAY_MAX_BATCHES = 500, 40


async def relay_outbox(ctx: dict[str, Any]) -> dict[str, int]:
    """The transactional-outbox relay: jobs written with their change (and not yet queued, e.g.
    Redis was down at the commit) go to arq under their own job ids, deferred as planned."""

    async def enqueue(name: str, args: list[Any], job_id: str, defer_until: Any) -> None:
        await ctx["redis"].enqueue_job(
            name, *args, _job_id=job_id, _defer_until=defer_until, **outbox.job_kwargs()
        )

    await _requeue_if_the_queue_lost_its_data(ctx)
    total = outbox.RelayResult()
    for _batch in range(RELAY_MAX_BATCHES):
        result = await outbox.relay(enqueue, limit=RELAY_BATCH)
        total.enqueued += result.enqueued
        total.failed += result.failed
        if result.failed or result.enqueued < RELAY_BATCH:
            break
    return total.as_json()


async def _requeue_if_the_queue_lost_its_data(ctx: dict[str, Any]) -> None:
    try:
        intact = await ctx["redis"].exists(outbox.QUEUE_MARKER)
    except Exception:
        return  # Redis is down: the relay below fails and records it
    if not intact:
        # A fresh or emptied Redis: what was queued before may be gone (see alliance/notifications/outbox.py).
        requeued = await outbox.requeue_after_queue_loss()
        await ctx["redis"].set(outbox.QUEUE_MARKER, utc_now().isoformat())
        if requeued:
            logger.warning("outbox: the queue lost its data; %s jobs are queued again", requeued)


async def escalate_unclaimed_requests(ctx: dict[str, Any]) -> dict[str, int]:
    sweep = await escalation.escalate_unclaimed_requests()
    await _deliver_notices(ctx, sweep.notification_ids)
    return sweep.as_json()


async def refresh_regular_visits(ctx: dict[str, Any]) -> dict[str, int]:
    # The community workers' worklists of regular visits, and their overdue warnings.
    sweep = await alliance.visits.regular.refresh_worklists()
    await _deliver_notices(ctx, sweep.notification_ids)
    return sweep.as_json()


async def refresh_supervision(ctx: dict[str, Any], region_code: str | None = None) -> dict[str, int]:
    # The supervision page's figures (alliance/targets/supervision.py): every scope looked at, or one
    # ("" for the whole alliance) when a first viewer found no snapshot yet.
    return await supervision.refresh_snapshots(region_code)


async def refresh_promises(
    ctx: dict[str, Any], region_code: str | None = None, year: int | None = None
) -> dict[str, int]:
    # The promises page's figures (alliance/targets/promises.py): this year's of every viewed scope,
    # or one scope and year ("" for the whole alliance) that a viewer found missing or stale.
    return await promises.refresh_snapshots(region_code, year)


async def refresh_cockpit(
    ctx: dict[str, Any], region_code: str | None = None, year: int | None = None, days: int | None = None
) -> dict[str, int]:
    # The cockpit's operational figures and unserved list (alliance/targets/cockpit_snapshots.py): every
    # viewed scope, or one ("" for the whole alliance) that a viewer found missing or stale.
    return await cockpit_snapshots.refresh_snapshots(region_code, year, days)


async def mark_missed_visits(ctx: dict[str, Any]) -> dict[str, int]:
    sweep = await escalation.mark_missed_visits()
    await _deliver_notices(ctx, sweep.notification_ids)
    return sweep.as_json()


async def send_daily_digest(ctx: dict[str, Any]) -> int:
    written = await digest.send_daily_digest()
    await _deliver_notices(ctx, written)
    return len(written)


async def casework_sweep(_ctx: dict[str, Any]) -> dict[str, int]:
    """Tasks past due become overdue; consents past their expiry stop sharing (off the boards, future
    visits called off: their notices wait in the job outbox, which the relay cron queues); consents
    about to expire become a task for the household's community worker. Safe to run twice."""
    from alliance.households import consent
    from alliance.notifications import tasks
    from alliance.visits import consent_effects

    overdue = await tasks.mark_overdue_tasks()
    expired = await consent_effects.expire_consents()
    warned = await consent.warn_expiring_consents()
    return {
        "overdue": overdue,
        "visits_cancelled": len(expired.cancelled_visit_ids),
        "consent_warnings": warned,
    }


async def apply_retention_job(_ctx: dict[str, Any]) -> dict[str, int]:
    """The retention policy (alliance/core/retention.py); a second run the same night finds nothing."""
    from dataclasses import asdict

    return asdict(await retention.apply_retention())


async def ensure_year_partitions(_ctx: dict[str, Any]) -> list[str]:
    """The partitions of the audit trail and the notifications for this and next year (PostgreSQL;
    alliance/core/partitions.py), so no row waits in a default partition; the partitions made now.
    SQLite has none to make."""
    from alliance.core import partitions

    try:
        return await partitions.ensure_all_ahead()
    except partitions.NotPartitioned:
        return []


async def deliver_webhook(_ctx: dict[str, Any], delivery_id: int) -> str | None:
    """One attempt at a partner's webhook delivery (alliance/partners/webhooks.py); a later attempt
    is planned in the outbox by the attempt itself."""
    from alliance.partners import webhooks

    attempt = await webhooks.deliver(delivery_id)
    return attempt.state if attempt else None


async def sweep_webhooks(_ctx: dict[str, Any]) -> int:
    """Deliveries a killed worker left leased, or whose planned retry went missing: planned again."""
    from alliance.partners import webhooks

    return await webhooks.sweep()


async def prune_board_changes(_ctx: dict[str, Any]) -> int:
    """The claim boards' change marks of more than an hour ago (alliance/matching/board_changes.py)."""
    from alliance.matching import board_changes

    return await board_changes.prune()


# --- events: invitations and session reminders ------------------------------------------------------


async def invite_event_households(ctx: dict[str, Any], event_id: int) -> dict[str, Any]:
    """Invite the households matching an event (large events: thousands of households) and deliver
    the invitations. Safe to run twice: nobody is invited or told twice."""
    from alliance.core.config import load_settings

    secret_key = ctx.get("secret_key") or load_settings().secret_key
    run = await invitations.invite_households(event_id, secret_key)
    await _deliver_notices(ctx, run.notification_ids)
    return run.as_json()


async def lapse_unconfirmed_registrations(ctx: dict[str, Any]) -> dict[str, int]:
    """Give up event registrations a partner made that the household did not confirm in time (the
    seat is handed on), and ask households whose older partner registration has no deadline yet."""
    from alliance.core.config import load_settings

    secret_key = ctx.get("secret_key") or load_settings().secret_key
    # The notices' delivery jobs wait in the outbox; the relay cron queues them within seconds.
    return (await registrations.lapse_unconfirmed_registrations(secret_key)).as_json()


async def send_session_reminder(
    _ctx: dict[str, Any], session_id: int, starts_at: int, kind: str
) -> dict[str, Any]:
    return (await notices.send_session_reminder(session_id, starts_at, kind)).as_json()


async def forget_old_login_records(_ctx: dict[str, Any]) -> dict[str, int]:
    """Daily: login-limit counters untouched for a day and sessions over for 90 days."""
    from alliance.core import login_limits, sessions

    return {
        "counters": await login_limits.forget_stale_counters(),
        "sessions": await sessions.forget_old_sessions(),
    }
