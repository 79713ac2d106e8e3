from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0008_events')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='ServiceRequest',
            index=Index(fields=['household_id', 'status']),
        ),
        ops.AddIndex(
            model_name='Visit',
            index=Index(fields=['request_id', 'status']),
        ),
    ]
