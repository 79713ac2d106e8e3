from tortoise import fields
from tortoise.models import Model

from alliance.codes import NotificationChannel, NotificationStatus


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
    language = fields.CharField(max_length=8, default="zh_CN")
    subject = fields.CharField(max_length=255, default="")
    body = fields.TextField()
    status = fields.CharEnumField(NotificationStatus, max_length=8, default=NotificationStatus.PENDING)
    dedupe_key = fields.CharField(max_length=128, null=True, unique=True)
    attempts = fields.SmallIntField(default=0)
    error = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)
    read_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notification"
        indexes = (("status", "created_at"), ("user_id", "created_at"))
