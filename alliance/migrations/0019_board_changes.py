from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0018_hardening')]

    initial = False

    operations = [
        ops.CreateModel(
            name='BoardChange',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner_id', fields.IntField(null=True)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'board_change', 'app': 'models', 'indexes': [Index(fields=['partner_id', 'id']), Index(fields=['at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
