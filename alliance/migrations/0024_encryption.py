from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from alliance.core.crypto import EncryptedField, SealedJSONField
from alliance.core.encrypted_columns import convert_plaintext_columns


class AlterFieldState(ops.AlterField):
    # The database side is done by convert_plaintext_columns (new columns filled, old dropped);
    # this only tells the migration state what the model now says.

    async def database_forward(self, app_label, old_state, new_state, state_editor=None) -> None:
        return None

    async def database_backward(self, app_label, old_state, new_state, state_editor=None) -> None:
        return None


async def _encrypt_existing(apps, schema_editor) -> None:
    await convert_plaintext_columns(schema_editor.client)


class Migration(migrations.Migration):
    dependencies = [('models', '0023_inbox')]

    initial = False

    # ID numbers and phones encrypted at rest with blind indexes (docs/security.md, "Data at rest"):
    # every existing row is encrypted and indexed in batches, then the plaintext columns are dropped.
    operations = [
        ops.AddField(
            model_name='Household',
            name='id_number_index',
            field=fields.CharField(null=True, db_index=True, max_length=64),
        ),
        ops.AddField(
            model_name='Household',
            name='phone_index',
            field=fields.CharField(null=True, db_index=True, max_length=64),
        ),
        ops.RunPython(_encrypt_existing),
        AlterFieldState(
            model_name='Household',
            name='id_number',
            field=EncryptedField(source_field='id_number_enc', null=True, purpose='household.id_number', max_length=160),
        ),
        AlterFieldState(
            model_name='Household',
            name='phone',
            field=EncryptedField(source_field='phone_enc', null=True, purpose='household.phone', max_length=160),
        ),
        AlterFieldState(
            model_name='IntakeConflict',
            name='record',
            field=SealedJSONField(default=dict, purpose='intake_row'),
        ),
        AlterFieldState(
            model_name='IntakeRejectedRow',
            name='record',
            field=SealedJSONField(default=dict, purpose='intake_row'),
        ),
        AlterFieldState(
            model_name='Notification',
            name='recipient',
            field=EncryptedField(default='', purpose='notification.recipient', max_length=160),
        ),
        AlterFieldState(
            model_name='Volunteer',
            name='phone',
            field=EncryptedField(default='', purpose='volunteer.phone', max_length=160),
        ),
    ]
