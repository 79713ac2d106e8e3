from tortoise import fields, migrations
from tortoise.migrations import operations as ops

# The promises page's figures per scope and year, written by a worker (alliance/targets/promises.py):
# classifying a year of a city's requests takes minutes at ten million visits, too long for a request.


class Migration(migrations.Migration):
    dependencies = [("models", "0042_notification_partitions")]

    initial = False

    operations = [
        ops.CreateModel(
            name="PromiseSnapshot",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("region_code", fields.CharField(max_length=12)),
                ("year", fields.SmallIntField()),
                ("computed_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("duration_ms", fields.IntField(default=0)),
                ("figures", fields.JSONField(default=dict)),
            ],
            options={
                "table": "promise_snapshot",
                "app": "models",
                "unique_together": (("region_code", "year"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
