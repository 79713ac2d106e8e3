from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from alliance.core.codes import BatchStatus, IntakeChannel
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DuplicateDismissal',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('household', fields.ForeignKeyField('models.Household', source_field='household_id', db_constraint=True, to_field='id', related_name='dismissals', on_delete=OnDelete.CASCADE)),
                ('other', fields.ForeignKeyField('models.Household', source_field='other_id', db_constraint=True, to_field='id', related_name='dismissed_by_others', on_delete=OnDelete.CASCADE)),
                ('dismissed_by', fields.ForeignKeyField('models.User', source_field='dismissed_by_id', null=True, db_constraint=True, to_field='id', related_name='dismissals', on_delete=OnDelete.SET_NULL)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'duplicate_dismissal', 'app': 'models', 'unique_together': (('household', 'other'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='HouseholdMerge',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('external_id', fields.CharField(unique=True, max_length=64)),
                ('kept', fields.ForeignKeyField('models.Household', source_field='kept_id', db_constraint=True, to_field='id', related_name='merged_from', on_delete=OnDelete.CASCADE)),
                ('merged_by', fields.ForeignKeyField('models.User', source_field='merged_by_id', null=True, db_constraint=True, to_field='id', related_name='merges', on_delete=OnDelete.SET_NULL)),
                ('snapshot', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'household_merge', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IntakeSource',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=64)),
                ('secret', fields.CharField(max_length=128)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'intake_source', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IntakeBatch',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('source', fields.ForeignKeyField('models.IntakeSource', source_field='source_id', null=True, db_constraint=True, to_field='id', related_name='batches', on_delete=OnDelete.SET_NULL)),
                ('channel', fields.CharEnumField(description='FILE: file\nAPI: api', enum_type=IntakeChannel, max_length=8)),
                ('filename', fields.CharField(default='', max_length=255)),
                ('status', fields.CharEnumField(default=BatchStatus.RUNNING, description='RUNNING: running\nFINISHED: finished\nFAILED: failed', enum_type=BatchStatus, max_length=12)),
                ('started_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('total_rows', fields.IntField(default=0)),
                ('created', fields.IntField(default=0)),
                ('updated', fields.IntField(default=0)),
                ('unchanged', fields.IntField(default=0)),
                ('rejected', fields.IntField(default=0)),
                ('requests_created', fields.IntField(default=0)),
                ('error', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'intake_batch', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IntakeBatchRegion',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('batch', fields.ForeignKeyField('models.IntakeBatch', source_field='batch_id', db_constraint=True, to_field='id', related_name='slices', on_delete=OnDelete.CASCADE)),
                ('region', fields.ForeignKeyField('models.Region', source_field='region_id', null=True, db_constraint=True, to_field='code', related_name='intake_slices', on_delete=OnDelete.RESTRICT)),
                ('created', fields.IntField(default=0)),
                ('updated', fields.IntField(default=0)),
                ('unchanged', fields.IntField(default=0)),
                ('rejected', fields.IntField(default=0)),
                ('requests_created', fields.IntField(default=0)),
            ],
            options={'table': 'intake_batch_region', 'app': 'models', 'indexes': [Index(fields=['batch_id', 'region_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IntakeRecord',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('household', fields.OneToOneField('models.Household', source_field='household_id', db_constraint=True, to_field='id', related_name='intake_record', on_delete=OnDelete.CASCADE)),
                ('source', fields.ForeignKeyField('models.IntakeSource', source_field='source_id', null=True, db_constraint=True, to_field='id', related_name='records', on_delete=OnDelete.SET_NULL)),
                ('last_batch', fields.ForeignKeyField('models.IntakeBatch', source_field='last_batch_id', null=True, db_constraint=True, to_field='id', related_name='records', on_delete=OnDelete.SET_NULL)),
                ('explicit_needs', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('geocode_pending', fields.BooleanField(default=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'intake_record', 'app': 'models', 'indexes': [Index(fields=['geocode_pending', 'last_batch_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IntakeRejectedRow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('batch', fields.ForeignKeyField('models.IntakeBatch', source_field='batch_id', db_constraint=True, to_field='id', related_name='rejected_rows', on_delete=OnDelete.CASCADE)),
                ('slice', fields.ForeignKeyField('models.IntakeBatchRegion', source_field='slice_id', db_constraint=True, to_field='id', related_name='rejected_rows', on_delete=OnDelete.CASCADE)),
                ('row', fields.IntField()),
                ('external_id', fields.CharField(default='', max_length=64)),
                ('errors', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('record', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'intake_rejected_row', 'app': 'models', 'indexes': [Index(fields=['batch_id', 'row'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IntakeSignature',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('signature', fields.CharField(unique=True, max_length=64)),
                ('source', fields.ForeignKeyField('models.IntakeSource', source_field='source_id', db_constraint=True, to_field='id', related_name='signatures', on_delete=OnDelete.CASCADE)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'intake_signature', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
