from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from alliance.core.codes import ExportState
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0024_encryption')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ExportJob',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('requested_by', fields.ForeignKeyField('models.User', source_field='requested_by_id', db_constraint=True, to_field='id', related_name='exports', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=32)),
                ('params', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('scope', fields.CharField(default='', max_length=255)),
                ('language', fields.CharField(default='', max_length=8)),
                ('state', fields.CharEnumField(default=ExportState.QUEUED, description='QUEUED: queued\nRUNNING: running\nREADY: ready\nFAILED: failed\nEXPIRED: expired', enum_type=ExportState, max_length=10)),
                ('progress', fields.SmallIntField(default=0)),
                ('row_count', fields.IntField(default=0)),
                ('file_path', fields.CharField(default='', max_length=500)),
                ('file_name', fields.CharField(default='', max_length=200)),
                ('error', fields.CharField(default='', max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'export_job', 'app': 'models', 'indexes': [Index(fields=['requested_by_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
