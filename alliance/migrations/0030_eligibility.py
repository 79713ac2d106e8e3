from tortoise import migrations
from tortoise.migrations import operations as ops
from alliance.core.codes import EligibilityChannel, EligibilityResult
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0029_region_settings')]

    initial = False

    operations = [
        ops.CreateModel(
            name='EligibilityCheck',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('models.Partner', source_field='partner_id', db_constraint=True, to_field='id', related_name='eligibility_checks', on_delete=OnDelete.CASCADE)),
                ('offering', fields.ForeignKeyField('models.Offering', source_field='offering_id', null=True, db_constraint=True, to_field='id', related_name='eligibility_checks', on_delete=OnDelete.SET_NULL)),
                ('household', fields.ForeignKeyField('models.Household', source_field='household_id', null=True, db_constraint=True, to_field='id', related_name='eligibility_checks', on_delete=OnDelete.CASCADE)),
                ('checked_by', fields.ForeignKeyField('models.User', source_field='checked_by_id', null=True, db_constraint=True, to_field='id', related_name='eligibility_checks', on_delete=OnDelete.SET_NULL)),
                ('token_id', fields.IntField(null=True)),
                ('channel', fields.CharEnumField(description='API: api\nPAGE: staff_page\nQR: entitlement_qr', enum_type=EligibilityChannel, max_length=16)),
                ('result', fields.CharEnumField(description='ELIGIBLE: eligible\nNOT_ELIGIBLE: not_eligible\nNO_CONSENT: no_consent', enum_type=EligibilityResult, max_length=16)),
                ('condition', fields.CharField(default='', max_length=32)),
                ('valid_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'eligibility_check', 'app': 'models', 'indexes': [Index(fields=['household_id', 'at']), Index(fields=['partner_id', 'at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
