from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from alliance.core.codes import ConsentMethod, ConsentStatus, TaskKind, TaskState
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0022_onboard')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ConsentRecord',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('household', fields.ForeignKeyField('models.Household', source_field='household_id', db_constraint=True, to_field='id', related_name='consent_records', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharEnumField(description='SYSTEM: system\nGIVEN: given\nWITHDRAWN: withdrawn\nEXPIRED: expired', enum_type=ConsentStatus, max_length=12)),
                ('scope', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('method', fields.CharField(default='', max_length=20)),
                ('witness', fields.CharField(default='', max_length=64)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('recorded_by', fields.ForeignKeyField('models.User', source_field='recorded_by_id', null=True, db_constraint=True, to_field='id', related_name='consent_records', on_delete=OnDelete.SET_NULL)),
                ('by_household', fields.BooleanField(default=False)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'consent_record', 'app': 'models', 'indexes': [Index(fields=['household_id', 'at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Task',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('owner', fields.ForeignKeyField('models.User', source_field='owner_id', db_constraint=True, to_field='id', related_name='tasks', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='VERIFY_HOUSEHOLD: verify_household\nCONSENT_EXPIRES: consent_expires\nCALL_HOUSEHOLD: call_household', enum_type=TaskKind, max_length=24)),
                ('subject_type', fields.CharField(max_length=24)),
                ('subject_id', fields.CharField(max_length=32)),
                ('params', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('state', fields.CharEnumField(default=TaskState.OPEN, description='OPEN: open\nOVERDUE: overdue\nDONE: done', enum_type=TaskState, max_length=8)),
                ('open_key', fields.CharField(null=True, unique=True, max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_by', fields.ForeignKeyField('models.User', source_field='closed_by_id', null=True, db_constraint=True, to_field='id', related_name='tasks_closed', on_delete=OnDelete.SET_NULL)),
                ('close_note', fields.CharField(default='', max_length=64)),
            ],
            options={'table': 'task', 'app': 'models', 'indexes': [Index(fields=['owner_id', 'state', 'due_at']), Index(fields=['kind', 'subject_type', 'subject_id']), Index(fields=['state', 'due_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Household',
            name='consent_expires_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Household',
            name='consent_method',
            field=fields.CharField(default=ConsentMethod.ASSISTANCE_SYSTEM, db_default='assistance_system', max_length=20),
        ),
        ops.AddField(
            model_name='Household',
            name='consent_scope',
            field=fields.JSONField(null=True, default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Household',
            name='consent_status',
            field=fields.CharEnumField(default=ConsentStatus.SYSTEM, description='SYSTEM: system\nGIVEN: given\nWITHDRAWN: withdrawn\nEXPIRED: expired', db_default='system', enum_type=ConsentStatus, max_length=12),
        ),
        ops.AddField(
            model_name='Household',
            name='matchable',
            field=fields.BooleanField(default=True, db_default=True),
        ),
        ops.AddField(
            model_name='Household',
            name='verification_method',
            field=fields.CharField(default='', db_default='', max_length=16),
        ),
        ops.AddField(
            model_name='Household',
            name='verified_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Household',
            name='verified_by_id',
            field=fields.IntField(null=True),
        ),
        ops.AddIndex(
            model_name='Household',
            index=Index(fields=['consent_status', 'consent_expires_at']),
        ),
        ops.AddIndex(
            model_name='Notification',
            index=Index(fields=['user_id', 'channel', 'read_at']),
        ),
        ops.AddField(
            model_name='Region',
            name='verification_required',
            field=fields.BooleanField(null=True),
        ),
    ]
