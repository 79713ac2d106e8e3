"""How long each kind of data is kept, applied by a daily job and audited.

| data | kept | then |
|---|---|---|
| notification bodies (sent or failed) | ALLIANCE_RETAIN_NOTIFICATION_DAYS (365) | body, subject and recipient emptied; the row stays for the counts |
| login attempts | ALLIANCE_RETAIN_LOGIN_ATTEMPT_DAYS (90) | deleted |
| rejected intake rows' sent values | ALLIANCE_RETAIN_REJECTED_ROW_DAYS (365) | the values emptied; row number, external id and errors stay |
| relayed or done outbox jobs | ALLIANCE_RETAIN_OUTBOX_DAYS (90) | deleted |
| a closed case's personal data | ALLIANCE_RETAIN_CLOSED_CASE_YEARS (5) | name, ID number, phone, address and exact location removed |
| export files (alliance/core/exports.py) | ALLIANCE_RETAIN_EXPORT_DAYS (7) | the file deleted, the row marked expired |
| the audit trail | 10 years | never touched by the job (append-only; docs/operations.md) |

A case is closed when the household has no active flag and no active request, and nothing about it
(the household, its flags, its requests) changed within the period. Every run writes one audit
entry with what it changed; a run changes each row once (a second run finds nothing to do)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from alliance.core.audit import record
from alliance.core.codes import ACTIVE_REQUEST_STATUSES, LocationPrecision, NotificationStatus, OutboxStatus
from alliance.core.exports import expire_exports
from alliance.core.models import LoginAttempt
from alliance.core.timeutil import utc_now
from alliance.households.models import Flag, Household, IntakeBatch, IntakeRecord, IntakeRejectedRow
from alliance.matching.models import ServiceRequest
from alliance.notifications.models import Notification, OutboxJob

# What an anonymised household's name reads; also how a later run knows it is done.
ANONYMISED_NAME = "—"


@dataclass(frozen=True)
class RetentionPolicy:
    notification_days: int = 365
    login_attempt_days: int = 90
    rejected_row_days: int = 365
    outbox_days: int = 90
    closed_case_years: int = 5

    @classmethod
    def from_environment(cls) -> RetentionPolicy:
        def number(name: str, default: int) -> int:
            value = int(os.environ.get(name) or default)
            if value < 1:
                raise ValueError(f"{name} must be at least 1")
            return value

        return cls(
            notification_days=number("ALLIANCE_RETAIN_NOTIFICATION_DAYS", cls.notification_days),
            login_attempt_days=number("ALLIANCE_RETAIN_LOGIN_ATTEMPT_DAYS", cls.login_attempt_days),
            rejected_row_days=number("ALLIANCE_RETAIN_REJECTED_ROW_DAYS", cls.rejected_row_days),
            outbox_days=number("ALLIANCE_RETAIN_OUTBOX_DAYS", cls.outbox_days),
            closed_case_years=number("ALLIANCE_RETAIN_CLOSED_CASE_YEARS", cls.closed_case_years),
        )


@dataclass
class RetentionRun:
    notification_bodies_removed: int = 0
    login_attempts_deleted: int = 0
    rejected_rows_emptied: int = 0
    outbox_jobs_deleted: int = 0
    households_anonymised: int = 0
    export_files_deleted: int = 0


async def closed_case_ids(before: datetime) -> list[int]:
    """Households whose case closed before `before`: no active flag, no active request, nothing
    changed since, and not anonymised yet."""
    recent_flags = Flag.filter(Q(active=True) | Q(detected_at__gte=before) | Q(deactivated_at__gte=before))
    live_requests = ServiceRequest.filter(
        Q(status__in=list(ACTIVE_REQUEST_STATUSES)) | Q(updated_at__gte=before)
    )
    return await (
        Household.filter(updated_at__lt=before)
        .exclude(head_name=ANONYMISED_NAME)
        .exclude(id__in=Subquery(recent_flags.values("household_id")))
        .exclude(id__in=Subquery(live_requests.values("household_id")))
        .values_list("id", flat=True)
    )


async def anonymise_households(household_ids: list[int]) -> int:
    if not household_ids:
        return 0
    changed = await Household.filter(id__in=household_ids).update(
        head_name=ANONYMISED_NAME,
        id_number=None,
        id_number_index=None,
        phone=None,
        phone_index=None,
        address="",
        lat=None,
        lon=None,
        location_precision=LocationPrecision.REGION,
    )
    await IntakeRecord.filter(household_id__in=household_ids).update(phone_address=None)
    await Notification.filter(household_id__in=household_ids).update(body="", subject="", recipient="")
    return changed


async def apply_retention(policy: RetentionPolicy | None = None, now: datetime | None = None) -> RetentionRun:
    """One pass of the policy, in one transaction with its audit entry."""
    policy = policy or RetentionPolicy.from_environment()
    now = now or utc_now()
    run = RetentionRun()
    async with in_transaction():
        notices_before = now - timedelta(days=policy.notification_days)
        run.notification_bodies_removed = (
            await Notification.filter(
                created_at__lt=notices_before,
                status__in=[NotificationStatus.SENT, NotificationStatus.FAILED],
            )
            .filter(Q(body__not="") | Q(subject__not="") | Q(recipient__not=""))
            .update(body="", subject="", recipient="")
        )
        run.login_attempts_deleted = await LoginAttempt.filter(
            at__lt=now - timedelta(days=policy.login_attempt_days)
        ).delete()
        old_batches = IntakeBatch.filter(started_at__lt=now - timedelta(days=policy.rejected_row_days))
        run.rejected_rows_emptied = (
            await IntakeRejectedRow.filter(batch_id__in=Subquery(old_batches.values("id")))
            .exclude(record={})
            .update(record={})
        )
        run.outbox_jobs_deleted = await OutboxJob.filter(
            status__in=[OutboxStatus.ENQUEUED, OutboxStatus.DONE],
            created_at__lt=now - timedelta(days=policy.outbox_days),
        ).delete()
        closed = await closed_case_ids(now - timedelta(days=365 * policy.closed_case_years))
        run.households_anonymised = await anonymise_households(closed)
        run.export_files_deleted = await expire_exports(now)
        await record(
            None, "retention.applied", "retention", now.date().isoformat(), {**asdict(run), **asdict(policy)}
        )
    return run
