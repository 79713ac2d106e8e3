from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0010_board_index")]

    initial = False

    # 0004 added IntakeRecord.phone_address with db_index=True, but adding a field does not create its
    # index: the possible-duplicate lookup (same phone and address) read the whole table.
    operations = [
        ops.RunSQL(
            'CREATE INDEX IF NOT EXISTS "idx_intake_reco_phone_a_76ed3e" ON "intake_record" ("phone_address")',
            reverse_sql='DROP INDEX IF EXISTS "idx_intake_reco_phone_a_76ed3e"',
        ),
    ]
