from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from alliance.core.codes import PartnerStatus


class StateOnlyAlterField(ops.AlterField):
    # PartnerStatus gained CLOSED: the column (varchar 12) already holds it and only the field's
    # description changes. SQLite would rebuild the partner table for that and lose its status index,
    # so the database is left as it is and only the migration state moves on.
    async def database_forward(self, app_label, old_state, new_state, state_editor=None) -> None:
        return None

    async def database_backward(self, app_label, old_state, new_state, state_editor=None) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [("models", "0012_allocation_job")]

    initial = False

    operations = [
        StateOnlyAlterField(
            model_name="Partner",
            name="status",
            field=fields.CharEnumField(
                default=PartnerStatus.PENDING,
                db_index=True,
                description="PENDING: pending\nAPPROVED: approved\nSUSPENDED: suspended\nCLOSED: closed",
                enum_type=PartnerStatus,
                max_length=12,
            ),
        ),
    ]
