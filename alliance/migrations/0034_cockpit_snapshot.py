from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0033_calendar_days')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CockpitSnapshot',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('region_code', fields.CharField(max_length=12)),
                ('year', fields.SmallIntField()),
                ('days', fields.SmallIntField()),
                ('computed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('duration_ms', fields.IntField(default=0)),
                ('figures', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'cockpit_snapshot', 'app': 'models', 'unique_together': (('region_code', 'year', 'days'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
