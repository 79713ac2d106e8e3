"""Notifications on every channel and the transactional job outbox."""

from tortoise import fields
from tortoise.models import Model

from alliance.core.codes import NotificationChannel, NotificationStatus, OutboxStatus, TaskKind, TaskState
from alliance.core.crypto import EncryptedField


class Notification(Model):
    # The outbox: written in the same transaction as the change it announces, delivered by a worker.

    id = fields.BigIntField(primary_key=True)
    user = fields.ForeignKeyField(
        "models.User", null=True, related_name="notifications", on_delete=fields.CASCADE
    )
    household = fields.ForeignKeyField(
        "models.Household", null=True, related_name="notifications", on_delete=fields.CASCADE
    )
    channel = fields.CharEnumField(NotificationChannel, max_length=8)
    # What the message is about ("visit_scheduled", "reminder_24h", ...) and who gets it on the wire
    # (a phone number, or the community worker relaying it), for the coordinators' outbox page.
    kind = fields.CharField(max_length=32, default="")
    # Encrypted at rest (alliance/core/crypto.py): it is often a household's phone.
    recipient = EncryptedField("notification.recipient", default="")
    visit = fields.ForeignKeyField(
        "models.Visit", null=True, related_name="notifications", on_delete=fields.SET_NULL
    )
    language = fields.CharField(max_length=8, default="zh_CN")
    subject = fields.CharField(max_length=255, default="")
    body = fields.TextField()
    status = fields.CharEnumField(NotificationStatus, max_length=8, default=NotificationStatus.PENDING)
    dedupe_key = fields.CharField(max_length=128, null=True, unique=True)
    attempts = fields.SmallIntField(default=0)
    error = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    # While `sending`: the worker holding the row may call the gateway until then; after it, the
    # relay hands the row to another delivery, which sends it again under the same idempotency key.
    lease_until = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    read_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notification"
        indexes = (("status", "created_at"), ("user_id", "created_at"), ("user_id", "channel", "read_at"))


class NotificationKey(Model):
    # The dedupe keys of keyed notifications, unique across all time: a reminder or a daily notice is
    # written once, whatever the year. `notification.dedupe_key` cannot be unique on PostgreSQL, where
    # the notifications are partitioned by year (migration 0042): the writers claim the key here first
    # (alliance/notifications/notifications.py, `claim_keys`) and write the message only if they got it.

    key = fields.CharField(max_length=128, primary_key=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "notification_key"


class Task(Model):
    # Work for one person, in their inbox (alliance/notifications/tasks.py): about one object
    # (subject type + id), due at a time. The text is rendered at display from `kind` and `params`,
    # in the reader's language. `open_key` is "owner:kind:type:id" while open and NULL once done: the
    # unique column that makes open_task idempotent on every database.

    id = fields.BigIntField(primary_key=True)
    owner = fields.ForeignKeyField("models.User", related_name="tasks", on_delete=fields.CASCADE)
    kind = fields.CharEnumField(TaskKind, max_length=24)
    subject_type = fields.CharField(max_length=24)
    subject_id = fields.CharField(max_length=32)
    params = fields.JSONField(default=dict)
    due_at = fields.DatetimeField(null=True)
    state = fields.CharEnumField(TaskState, max_length=8, default=TaskState.OPEN)
    open_key = fields.CharField(max_length=128, null=True, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    closed_at = fields.DatetimeField(null=True)
    closed_by = fields.ForeignKeyField(
        "models.User", null=True, related_name="tasks_closed", on_delete=fields.SET_NULL
    )
    # How it was closed: "done" (by a person) or what closed it ("verified", "consent_recorded", ...).
    close_note = fields.CharField(max_length=64, default="")

    class Meta:
        table = "task"
        indexes = (
            ("owner_id", "state", "due_at"),
            ("kind", "subject_type", "subject_id"),
            ("state", "due_at"),
        )


class OutboxJob(Model):
    # A background job written in the same transaction as the change that needs it; the relay
    # moves pending rows to arq under `job_id`, so a row is queued at most once per id. A planned
    # row (the visit reminders) is not relayed: its owner takes it when `defer_until` comes.

    id = fields.BigIntField(primary_key=True)
    job_name = fields.CharField(max_length=64)
    args = fields.JSONField(default=list)
    job_id = fields.CharField(max_length=160, unique=True)
    defer_until = fields.DatetimeField(null=True)
    status = fields.CharEnumField(OutboxStatus, max_length=8, default=OutboxStatus.PENDING)
    attempts = fields.SmallIntField(default=0)
    error = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    enqueued_at = fields.DatetimeField(null=True)
    # The web request that planned the job (alliance/core/logs.py): the job's log lines carry it.
    request_id = fields.CharField(max_length=32, default="", db_default="")

    class Meta:
        table = "job_outbox"
        # The second: the planned jobs falling due (send_visit_reminder), taken in batches.
        indexes = (("status", "created_at"), ("job_name", "status", "defer_until"))
