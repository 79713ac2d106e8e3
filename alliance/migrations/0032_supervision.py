from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0031_promises')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SupervisionSnapshot',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('region_code', fields.CharField(unique=True, max_length=12)),
                ('computed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('duration_ms', fields.IntField(default=0)),
                ('figures', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'supervision_snapshot', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
