from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0028_regular')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Region',
            name='transfer_auto_approve_hours',
            field=fields.SmallIntField(null=True),
        ),
        ops.AddField(
            model_name='Region',
            name='checkin_radius_m',
            field=fields.SmallIntField(null=True),
        ),
    ]
