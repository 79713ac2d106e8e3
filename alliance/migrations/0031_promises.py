from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

# Regular visits as person-times (a tally without a partner) and response promises (issue 18).
class Migration(migrations.Migration):
    dependencies = [('models', '0030_eligibility')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ResponsePromise',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('region', fields.ForeignKeyField('models.Region', source_field='region_id', db_constraint=True, to_field='code', related_name='response_promises', on_delete=OnDelete.CASCADE)),
                ('need', fields.CharField(max_length=32)),
                ('first_contact_days', fields.SmallIntField(null=True)),
                ('service_days', fields.SmallIntField(null=True)),
                ('updated_by', fields.ForeignKeyField('models.User', source_field='updated_by_id', null=True, db_constraint=True, to_field='id', related_name='response_promises_set', on_delete=OnDelete.SET_NULL)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'response_promise', 'app': 'models', 'unique_together': (('region', 'need'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='DeliveryTally',
            name='partner',
            field=fields.ForeignKeyField('models.Partner', source_field='partner_id', null=True, db_constraint=True, to_field='id', related_name='tallies', on_delete=OnDelete.CASCADE),
        ),
        # SQLite makes a column nullable by rebuilding the table, which drops its index: make it again.
        ops.RunSQL(
            'CREATE INDEX IF NOT EXISTS "idx_delivery_ta_year_b17fe8" ON "delivery_tally" ("year", "region_path")',
            reverse_sql=ops.RunSQL.noop,
        ),
    ]
