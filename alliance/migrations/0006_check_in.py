from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_scheduling')]

    initial = False

    operations = [
        ops.AddField(
            model_name='CheckIn',
            name='reviewed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='CheckIn',
            name='reviewed_by',
            field=fields.ForeignKeyField('models.User', source_field='reviewed_by_id', null=True, db_constraint=True, to_field='id', related_name='check_ins_reviewed', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Household',
            name='card_serial',
            field=fields.SmallIntField(default=1),
        ),
        ops.AddField(
            model_name='RiskCheck',
            name='follow_up_request',
            field=fields.ForeignKeyField('models.ServiceRequest', source_field='follow_up_request_id', null=True, db_constraint=True, to_field='id', related_name='risk_checks', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='RiskCheck',
            name='follow_up_visit',
            field=fields.ForeignKeyField('models.Visit', source_field='follow_up_visit_id', null=True, db_constraint=True, to_field='id', related_name='follow_up_for', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='RiskCheck',
            name='household',
            field=fields.ForeignKeyField('models.Household', source_field='household_id', null=True, db_constraint=True, to_field='id', related_name='risk_checks', on_delete=OnDelete.CASCADE),
        ),
        ops.AddField(
            model_name='RiskCheck',
            name='resolved_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='RiskCheck',
            name='resolved_by',
            field=fields.ForeignKeyField('models.RiskCheck', source_field='resolved_by_id', null=True, db_constraint=True, to_field='id', related_name='resolves', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddIndex(
            model_name='RiskCheck',
            index=Index(fields=['household_id', 'aspect', 'resolved_at']),
        ),
        ops.AddField(
            model_name='ServiceRecord',
            name='client_key',
            field=fields.CharField(null=True, unique=True, max_length=64),
        ),
        ops.AddField(
            model_name='ServiceRecord',
            name='confirmed_by',
            field=fields.ForeignKeyField('models.User', source_field='confirmed_by_id', null=True, db_constraint=True, to_field='id', related_name='records_confirmed', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='ServiceRecord',
            name='rated_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='ServiceRecord',
            name='recorded_by',
            field=fields.ForeignKeyField('models.User', source_field='recorded_by_id', null=True, db_constraint=True, to_field='id', related_name='records_written', on_delete=OnDelete.SET_NULL),
        ),
    ]
