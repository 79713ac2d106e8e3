from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from alliance.core.codes import NotificationStatus


class DescribeField(ops.AlterField):
    # The status gained a code (`sending`): only the field's description changes, and nothing in the
    # database checks the codes, so the schema stays as it is (on SQLite an ALTER would rebuild the
    # table and drop its indexes).
    async def database_forward(self, *args, **kwargs) -> None:
        return None

    async def database_backward(self, *args, **kwargs) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [("models", "0015_sessions")]

    initial = False

    operations = [
        DescribeField(
            model_name="Notification",
            name="status",
            field=fields.CharEnumField(
                default=NotificationStatus.PENDING,
                description="PENDING: pending\nSENDING: sending\nSENT: sent\nFAILED: failed",
                enum_type=NotificationStatus,
                max_length=8,
            ),
        ),
        ops.AddField(
            model_name="Notification",
            name="lease_until",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="OutboxJob",
            name="request_id",
            field=fields.CharField(default="", db_default="", max_length=32),
        ),
    ]
