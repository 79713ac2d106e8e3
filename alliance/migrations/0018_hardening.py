from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from alliance.core.codes import ConflictStatus
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0017_audit')]

    initial = False

    operations = [
        ops.CreateModel(
            name='IntakeConflict',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('household', fields.ForeignKeyField('models.Household', source_field='household_id', db_constraint=True, to_field='id', related_name='intake_conflicts', on_delete=OnDelete.CASCADE)),
                ('batch', fields.ForeignKeyField('models.IntakeBatch', source_field='batch_id', db_constraint=True, to_field='id', related_name='conflicts', on_delete=OnDelete.CASCADE)),
                ('source', fields.ForeignKeyField('models.IntakeSource', source_field='source_id', null=True, db_constraint=True, to_field='id', related_name='conflicts', on_delete=OnDelete.SET_NULL)),
                ('row', fields.IntField()),
                ('external_id', fields.CharField(max_length=64)),
                ('record', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharEnumField(default=ConflictStatus.PENDING, description='PENDING: pending\nACCEPTED: accepted\nREJECTED: rejected', enum_type=ConflictStatus, max_length=8)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('resolved_by', fields.ForeignKeyField('models.User', source_field='resolved_by_id', null=True, db_constraint=True, to_field='id', related_name='intake_conflicts_resolved', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'intake_conflict', 'app': 'models', 'indexes': [Index(fields=['status', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Partner',
            name='claims_paused_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='RequestTransition',
            index=Index(fields=['partner_id', 'at']),
        ),
        ops.AddField(
            model_name='Volunteer',
            name='calendar_generation',
            field=fields.SmallIntField(default=0, db_default=0),
        ),
    ]
