from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from alliance.core.codes import HouseholdResponse, OutboxStatus
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_intake_phone_address')]

    initial = False

    operations = [
        ops.CreateModel(
            name='OutboxJob',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('job_name', fields.CharField(max_length=64)),
                ('args', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('job_id', fields.CharField(unique=True, max_length=160)),
                ('defer_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('status', fields.CharEnumField(default=OutboxStatus.PENDING, description='PENDING: pending\nENQUEUED: enqueued', enum_type=OutboxStatus, max_length=8)),
                ('attempts', fields.SmallIntField(default=0)),
                ('error', fields.CharField(default='', max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('enqueued_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'job_outbox', 'app': 'models', 'indexes': [Index(fields=['status', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Notification',
            name='kind',
            field=fields.CharField(default='', max_length=32),
        ),
        ops.AddField(
            model_name='Notification',
            name='recipient',
            field=fields.CharField(default='', max_length=64),
        ),
        ops.AddField(
            model_name='Notification',
            name='visit',
            field=fields.ForeignKeyField('models.Visit', source_field='visit_id', null=True, db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='ServiceRequest',
            name='escalated_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Visit',
            name='household_responded_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Visit',
            name='household_response',
            field=fields.CharEnumField(default=HouseholdResponse.PENDING, description='PENDING: pending\nCONFIRMED: confirmed\nRESCHEDULE_REQUESTED: reschedule\nDECLINED: declined', enum_type=HouseholdResponse, max_length=12),
        ),
        ops.AddField(
            model_name='Visit',
            name='household_response_note',
            field=fields.TextField(default='', unique=False),
        ),
        ops.AddField(
            model_name='Visit',
            name='notes',
            field=fields.TextField(default='', unique=False),
        ),
        ops.AddField(
            model_name='Visit',
            name='schedule_version',
            field=fields.IntField(default=1),
        ),
    ]
