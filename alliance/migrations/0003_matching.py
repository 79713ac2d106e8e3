from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from alliance.core.codes import ProposalStatus, TransferStatus
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_intake')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AllocationProposal',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('region', fields.ForeignKeyField('models.Region', source_field='region_id', db_constraint=True, to_field='code', related_name='proposals', on_delete=OnDelete.CASCADE)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='proposals', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('requests_served', fields.IntField(default=0)),
                ('total_distance_km', fields.FloatField(default=0)),
                ('greedy_requests_served', fields.IntField(default=0)),
                ('greedy_total_distance_km', fields.FloatField(default=0)),
            ],
            options={'table': 'allocation_proposal', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Match',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('request', fields.ForeignKeyField('models.ServiceRequest', source_field='request_id', db_constraint=True, to_field='id', related_name='matches', on_delete=OnDelete.CASCADE)),
                ('offering', fields.ForeignKeyField('models.Offering', source_field='offering_id', db_constraint=True, to_field='id', related_name='matches', on_delete=OnDelete.CASCADE)),
                ('partner', fields.ForeignKeyField('models.Partner', source_field='partner_id', db_constraint=True, to_field='id', related_name='matches', on_delete=OnDelete.CASCADE)),
                ('score', fields.FloatField()),
                ('distance_km', fields.FloatField(null=True)),
                ('reasons', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('computed_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'request_match', 'app': 'models', 'unique_together': (('request', 'offering'),), 'indexes': [Index(fields=['partner_id', 'score']), Index(fields=['offering_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OfferingMonth',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('offering', fields.ForeignKeyField('models.Offering', source_field='offering_id', db_constraint=True, to_field='id', related_name='months', on_delete=OnDelete.CASCADE)),
                ('month', fields.CharField(max_length=7)),
                ('claimed', fields.IntField(default=0)),
            ],
            options={'table': 'offering_month', 'app': 'models', 'unique_together': (('offering', 'month'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PartnerToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('models.Partner', source_field='partner_id', db_constraint=True, to_field='id', related_name='tokens', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(default='', max_length=64)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('prefix', fields.CharField(max_length=12)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='tokens_created', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'partner_token', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProposalItem',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('proposal', fields.ForeignKeyField('models.AllocationProposal', source_field='proposal_id', db_constraint=True, to_field='id', related_name='items', on_delete=OnDelete.CASCADE)),
                ('request', fields.ForeignKeyField('models.ServiceRequest', source_field='request_id', db_constraint=True, to_field='id', related_name='proposal_items', on_delete=OnDelete.CASCADE)),
                ('offering', fields.ForeignKeyField('models.Offering', source_field='offering_id', db_constraint=True, to_field='id', related_name='proposal_items', on_delete=OnDelete.CASCADE)),
                ('partner', fields.ForeignKeyField('models.Partner', source_field='partner_id', db_constraint=True, to_field='id', related_name='proposal_items', on_delete=OnDelete.CASCADE)),
                ('distance_km', fields.FloatField(null=True)),
                ('status', fields.CharEnumField(default=ProposalStatus.PROPOSED, description='PROPOSED: proposed\nACCEPTED: accepted\nDECLINED: declined', enum_type=ProposalStatus, max_length=12)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'proposal_item', 'app': 'models', 'indexes': [Index(fields=['partner_id', 'status'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TransferRequest',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('request', fields.ForeignKeyField('models.ServiceRequest', source_field='request_id', db_constraint=True, to_field='id', related_name='transfers', on_delete=OnDelete.CASCADE)),
                ('from_partner', fields.ForeignKeyField('models.Partner', source_field='from_partner_id', db_constraint=True, to_field='id', related_name='transfers_out', on_delete=OnDelete.CASCADE)),
                ('to_partner', fields.ForeignKeyField('models.Partner', source_field='to_partner_id', db_constraint=True, to_field='id', related_name='transfers_in', on_delete=OnDelete.CASCADE)),
                ('to_offering', fields.ForeignKeyField('models.Offering', source_field='to_offering_id', null=True, db_constraint=True, to_field='id', related_name='transfers_in', on_delete=OnDelete.SET_NULL)),
                ('requested_by', fields.ForeignKeyField('models.User', source_field='requested_by_id', null=True, db_constraint=True, to_field='id', related_name='transfers_asked', on_delete=OnDelete.SET_NULL)),
                ('reason', fields.CharField(max_length=255)),
                ('status', fields.CharEnumField(default=TransferStatus.PENDING, description='PENDING: pending\nAPPROVED: approved\nDENIED: denied\nAUTO_APPROVED: auto_approved', enum_type=TransferStatus, max_length=16)),
                ('decided_by', fields.ForeignKeyField('models.User', source_field='decided_by_id', null=True, db_constraint=True, to_field='id', related_name='transfers_decided', on_delete=OnDelete.SET_NULL)),
                ('decision_note', fields.CharField(default='', max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'transfer_request', 'app': 'models', 'indexes': [Index(fields=['status', 'due_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Region',
            name='escalate_unclaimed_after_days',
            field=fields.SmallIntField(null=True),
        ),
        ops.AddField(
            model_name='Region',
            name='schedule_claim_within_days',
            field=fields.SmallIntField(null=True),
        ),
        ops.AddField(
            model_name='ServiceRequest',
            name='claim_warned_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='ServiceRequest',
            name='matched_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
