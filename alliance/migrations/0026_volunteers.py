from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from json import dumps, loads
import functools
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0025_exports')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Volunteer',
            name='languages',
            field=fields.JSONField(default=list, db_default='[]', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Volunteer',
            name='status',
            field=fields.CharField(default='approved', db_default='approved', max_length=10),
        ),
        ops.AddField(
            model_name='Volunteer',
            name='approved_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        # Volunteers stored before: approved, and joined when their row was made.
        ops.RunSQL(
            "UPDATE volunteer SET approved_at = created_at WHERE approved_at IS NULL AND status = 'approved'",
            reverse_sql="SELECT 1",
        ),
        ops.CreateModel(
            name='VolunteerTimeOff',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('volunteer', fields.ForeignKeyField('models.Volunteer', source_field='volunteer_id', db_constraint=True, to_field='id', related_name='time_off', on_delete=OnDelete.CASCADE)),
                ('first_day', fields.DateField()),
                ('last_day', fields.DateField()),
                ('reason', fields.CharField(default='', max_length=100)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'volunteer_time_off', 'app': 'models', 'indexes': [Index(fields=['volunteer_id', 'last_day'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='VolunteerSignupLink',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('models.Partner', source_field='partner_id', db_constraint=True, to_field='id', related_name='volunteer_links', on_delete=OnDelete.CASCADE)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='volunteer_links_created', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'volunteer_signup_link', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
