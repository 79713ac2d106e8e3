from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0021_webhooks')]

    initial = False

    operations = [
        ops.CreateModel(
            name='GrowthEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=64)),
                ('kind', fields.CharField(max_length=12)),
                ('ref_id', fields.IntField()),
                ('year', fields.SmallIntField()),
                ('region', fields.ForeignKeyField('models.Region', source_field='region_id', db_constraint=True, to_field='code', related_name='growth_entries', on_delete=OnDelete.RESTRICT)),
                ('region_path', fields.CharField(max_length=128)),
                ('project', fields.ForeignKeyField('models.Project', source_field='project_id', null=True, db_constraint=True, to_field='id', related_name='growth_entries', on_delete=OnDelete.CASCADE)),
                ('joined_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'growth_entry', 'app': 'models', 'indexes': [Index(fields=['year', 'kind', 'region_path'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StaffInvitation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('models.Partner', source_field='partner_id', db_constraint=True, to_field='id', related_name='invitations', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='staff_invitations', on_delete=OnDelete.CASCADE)),
                ('role', fields.CharField(max_length=24)),
                ('reset', fields.ForeignKeyField('models.PasswordReset', source_field='reset_id', null=True, db_constraint=True, to_field='id', related_name='staff_invitations', on_delete=OnDelete.SET_NULL)),
                ('invited_by', fields.ForeignKeyField('models.User', source_field='invited_by_id', null=True, db_constraint=True, to_field='id', related_name='staff_invitations_sent', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'staff_invitation', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Partner',
            name='approved_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Partner',
            name='changes_requested',
            field=fields.TextField(default='', db_default='', unique=False),
        ),
        ops.AddField(
            model_name='Partner',
            name='contact_email',
            field=fields.CharField(default='', db_default='', max_length=128),
        ),
        ops.AddField(
            model_name='Partner',
            name='credit_code',
            field=fields.CharField(null=True, unique=True, max_length=18),
        ),
        ops.AddField(
            model_name='Partner',
            name='offered_needs',
            field=fields.JSONField(default=list, db_default='[]', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Partner',
            name='service_regions',
            field=fields.ManyToManyField('models.Region', unique=True, db_constraint=True, through='partner_service_region', forward_key='region_id', backward_key='partner_id', related_name='partners_serving', on_delete=OnDelete.CASCADE),
        ),
        ops.AddField(
            model_name='Partner',
            name='submitted_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
