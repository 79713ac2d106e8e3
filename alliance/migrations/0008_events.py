from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0007_tallies')]

    initial = False

    operations = [
        ops.CreateModel(
            name='EmploymentOutcome',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('event', fields.ForeignKeyField('models.Event', source_field='event_id', db_constraint=True, to_field='id', related_name='outcomes', on_delete=OnDelete.CASCADE)),
                ('registration', fields.ForeignKeyField('models.Registration', source_field='registration_id', null=True, db_constraint=True, to_field='id', related_name='outcomes', on_delete=OnDelete.SET_NULL)),
                ('household', fields.ForeignKeyField('models.Household', source_field='household_id', db_constraint=True, to_field='id', related_name='outcomes', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=12)),
                ('employer', fields.CharField(default='', max_length=128)),
                ('job', fields.CharField(default='', max_length=128)),
                ('note', fields.CharField(default='', max_length=255)),
                ('recorded_by', fields.ForeignKeyField('models.User', source_field='recorded_by_id', null=True, db_constraint=True, to_field='id', related_name='outcomes_recorded', on_delete=OnDelete.SET_NULL)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'employment_outcome', 'app': 'models', 'indexes': [Index(fields=['event_id', 'kind']), Index(fields=['household_id', 'kind'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EventInvitation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('event', fields.ForeignKeyField('models.Event', source_field='event_id', db_constraint=True, to_field='id', related_name='invitations', on_delete=OnDelete.CASCADE)),
                ('household', fields.ForeignKeyField('models.Household', source_field='household_id', db_constraint=True, to_field='id', related_name='invitations', on_delete=OnDelete.CASCADE)),
                ('request', fields.ForeignKeyField('models.ServiceRequest', source_field='request_id', null=True, db_constraint=True, to_field='id', related_name='invitations', on_delete=OnDelete.SET_NULL)),
                ('rank', fields.IntField()),
                ('score', fields.FloatField(default=0)),
                ('distance_km', fields.FloatField(null=True)),
                ('reasons', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('notified_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'event_invitation', 'app': 'models', 'unique_together': (('event', 'household'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Attendance',
            name='method',
            field=fields.CharField(default='list', max_length=8),
        ),
        ops.AddField(
            model_name='Attendance',
            name='recorded_by',
            field=fields.ForeignKeyField('models.User', source_field='recorded_by_id', null=True, db_constraint=True, to_field='id', related_name='attendances_recorded', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Event',
            name='created_by',
            field=fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='events_created', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Event',
            name='description',
            field=fields.TextField(default='', unique=False),
        ),
        ops.AddField(
            model_name='Event',
            name='seats_taken',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='Event',
            name='status',
            field=fields.CharField(default='published', max_length=12),
        ),
        ops.AddField(
            model_name='Event',
            name='updated_at',
            field=fields.DatetimeField(auto_now=True, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Event',
            name='waitlist_margin',
            field=fields.IntField(default=5),
        ),
        ops.AddIndex(
            model_name='Event',
            index=Index(fields=['partner_id', 'status']),
        ),
        ops.AddField(
            model_name='Registration',
            name='cancel_reason',
            field=fields.CharField(default='', max_length=255),
        ),
        ops.AddField(
            model_name='Registration',
            name='cancelled_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Registration',
            name='request',
            field=fields.ForeignKeyField('models.ServiceRequest', source_field='request_id', null=True, db_constraint=True, to_field='id', related_name='registrations', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Registration',
            name='updated_at',
            field=fields.DatetimeField(auto_now=True, auto_now_add=False),
        ),
    ]
