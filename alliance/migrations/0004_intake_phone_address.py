from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_matching')]

    initial = False

    operations = [
        ops.AddField(
            model_name='IntakeRecord',
            name='phone_address',
            field=fields.CharField(null=True, db_index=True, max_length=300),
        ),
    ]
