from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from alliance.core.codes import OutboxStatus


class DescribeField(ops.AlterField):
    # The status gained two codes (`planned`, `done`): only the field's description changes, and
    # nothing in the database checks the codes, so the schema stays as it is (on SQLite an ALTER
    # would rebuild the table and drop its indexes).
    async def database_forward(self, *args, **kwargs) -> None:
        return None

    async def database_backward(self, *args, **kwargs) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [("models", "0034_cockpit_snapshot")]

    initial = False

    operations = [
        DescribeField(
            model_name="OutboxJob",
            name="status",
            field=fields.CharEnumField(
                default=OutboxStatus.PENDING,
                description="PENDING: pending\nENQUEUED: enqueued\nPLANNED: planned\nDONE: done",
                enum_type=OutboxStatus,
                max_length=8,
            ),
        ),
        # The reminder sweep asks for the planned reminders whose time has come, every few seconds.
        ops.AddIndex(
            model_name="OutboxJob",
            index=Index(fields=["job_name", "status", "defer_until"]),
        ),
    ]
