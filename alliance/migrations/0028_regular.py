from tortoise import migrations
from tortoise.migrations import operations as ops
from alliance.core.codes import CheckInMethod, RiskAspect, RiskLevel
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0027_casework')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RegularDue',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('worker', fields.ForeignKeyField('models.User', source_field='worker_id', db_constraint=True, to_field='id', related_name='regular_dues', on_delete=OnDelete.CASCADE)),
                ('household', fields.ForeignKeyField('models.Household', source_field='household_id', db_constraint=True, to_field='id', related_name='regular_dues', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=16)),
                ('interval_days', fields.SmallIntField()),
                ('last_visit_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('due_on', fields.DateField()),
                ('refreshed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'regular_due', 'app': 'models', 'unique_together': (('worker', 'household'),), 'indexes': [Index(fields=['worker_id', 'due_on'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RegularVisit',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('household', fields.ForeignKeyField('models.Household', source_field='household_id', db_constraint=True, to_field='id', related_name='regular_visits', on_delete=OnDelete.CASCADE)),
                ('worker', fields.ForeignKeyField('models.User', source_field='worker_id', db_constraint=True, to_field='id', related_name='regular_visits', on_delete=OnDelete.RESTRICT)),
                ('method', fields.CharEnumField(description='QR: qr\nGPS: gps\nON_BEHALF: on_behalf', enum_type=CheckInMethod, max_length=12)),
                ('lat', fields.FloatField(null=True)),
                ('lon', fields.FloatField(null=True)),
                ('distance_m', fields.FloatField(null=True)),
                ('needs_review', fields.BooleanField(default=False)),
                ('reason', fields.CharField(default='', max_length=255)),
                ('checked_in_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('checked_out_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('notes', fields.TextField(default='', unique=False)),
                ('persons_served', fields.SmallIntField(default=1)),
                ('client_key', fields.CharField(null=True, unique=True, max_length=64)),
            ],
            options={'table': 'regular_visit', 'app': 'models', 'indexes': [Index(fields=['household_id', 'checked_out_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RegularRisk',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('visit', fields.ForeignKeyField('models.RegularVisit', source_field='visit_id', db_constraint=True, to_field='id', related_name='risks', on_delete=OnDelete.CASCADE)),
                ('household', fields.ForeignKeyField('models.Household', source_field='household_id', db_constraint=True, to_field='id', related_name='regular_risks', on_delete=OnDelete.CASCADE)),
                ('aspect', fields.CharEnumField(description='ECONOMY: economy\nHEALTH: health\nEDUCATION: education\nHOUSING: housing\nEMPLOYMENT: employment\nCARE: care', enum_type=RiskAspect, max_length=12)),
                ('level', fields.CharEnumField(description='NONE: none\nLOW: low\nMEDIUM: medium\nHIGH: high', enum_type=RiskLevel, max_length=8)),
                ('note', fields.CharField(default='', max_length=255)),
                ('owner', fields.ForeignKeyField('models.User', source_field='owner_id', null=True, db_constraint=True, to_field='id', related_name='regular_follow_ups', on_delete=OnDelete.SET_NULL)),
                ('due_on', fields.DateField(null=True)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('resolved_by', fields.ForeignKeyField('models.RegularVisit', source_field='resolved_by_id', null=True, db_constraint=True, to_field='id', related_name='risks_resolved', on_delete=OnDelete.SET_NULL)),
                ('escalated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'regular_risk', 'app': 'models', 'unique_together': (('visit', 'aspect'),), 'indexes': [Index(fields=['household_id', 'aspect', 'resolved_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='VisitRhythm',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('region', fields.ForeignKeyField('models.Region', source_field='region_id', db_constraint=True, to_field='code', related_name='visit_rhythms', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=16)),
                ('interval_days', fields.SmallIntField()),
                ('updated_by', fields.ForeignKeyField('models.User', source_field='updated_by_id', null=True, db_constraint=True, to_field='id', related_name='visit_rhythms_set', on_delete=OnDelete.SET_NULL)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'visit_rhythm', 'app': 'models', 'unique_together': (('region', 'kind'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
