from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0006_check_in')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DeliveryParticipant',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=96)),
                ('year', fields.SmallIntField()),
                ('kind', fields.CharField(max_length=12)),
                ('ref_id', fields.IntField()),
                ('region', fields.ForeignKeyField('models.Region', source_field='region_id', db_constraint=True, to_field='code', related_name='participants', on_delete=OnDelete.RESTRICT)),
                ('region_path', fields.CharField(max_length=128)),
            ],
            options={'table': 'delivery_participant', 'app': 'models', 'indexes': [Index(fields=['year', 'kind', 'region_path'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DeliveryTally',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=96)),
                ('year', fields.SmallIntField()),
                ('month', fields.SmallIntField()),
                ('region', fields.ForeignKeyField('models.Region', source_field='region_id', db_constraint=True, to_field='code', related_name='tallies', on_delete=OnDelete.RESTRICT)),
                ('region_path', fields.CharField(max_length=128)),
                ('project', fields.ForeignKeyField('models.Project', source_field='project_id', null=True, db_constraint=True, to_field='id', related_name='tallies', on_delete=OnDelete.SET_NULL)),
                ('partner', fields.ForeignKeyField('models.Partner', source_field='partner_id', db_constraint=True, to_field='id', related_name='tallies', on_delete=OnDelete.CASCADE)),
                ('person_times', fields.IntField(default=0)),
                ('deliveries', fields.IntField(default=0)),
            ],
            options={'table': 'delivery_tally', 'app': 'models', 'indexes': [Index(fields=['year', 'region_path'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
