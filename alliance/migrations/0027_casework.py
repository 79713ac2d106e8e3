from tortoise import migrations
from tortoise.migrations import operations as ops
from alliance.core.codes import AssessmentOutcome, CaseNoteKind, ChangeKind, InboundOutcome, NeedCode, ReferralSource
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0026_volunteers')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CaseNote',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('household', fields.ForeignKeyField('models.Household', source_field='household_id', db_constraint=True, to_field='id', related_name='case_notes', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='NOTE: note\nCALL: call\nVISIT: visit', enum_type=CaseNoteKind, max_length=8)),
                ('text', fields.TextField(unique=False)),
                ('author', fields.ForeignKeyField('models.User', source_field='author_id', null=True, db_constraint=True, to_field='id', related_name='case_notes', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'case_note', 'app': 'models', 'indexes': [Index(fields=['household_id', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='HouseholdChange',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('household', fields.ForeignKeyField('models.Household', source_field='household_id', db_constraint=True, to_field='id', related_name='changes', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='NEW_DIFFICULTY: new_difficulty\nMOVED: moved\nPHONE_CHANGED: phone_changed', enum_type=ChangeKind, max_length=16)),
                ('details', fields.TextField(unique=False)),
                ('reported_by', fields.ForeignKeyField('models.User', source_field='reported_by_id', null=True, db_constraint=True, to_field='id', related_name='household_changes', on_delete=OnDelete.SET_NULL)),
                ('on_behalf', fields.BooleanField(default=False)),
                ('verified_by', fields.ForeignKeyField('models.User', source_field='verified_by_id', null=True, db_constraint=True, to_field='id', related_name='verified_changes', on_delete=OnDelete.SET_NULL)),
                ('verified_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'household_change', 'app': 'models', 'indexes': [Index(fields=['household_id', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='InboundReply',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('gateway', fields.ForeignKeyField('models.IntakeSource', source_field='gateway_id', db_constraint=True, to_field='id', related_name='inbound_replies', on_delete=OnDelete.CASCADE)),
                ('message_id', fields.CharField(max_length=64)),
                ('channel', fields.CharField(max_length=8)),
                ('sender', fields.CharField(max_length=32)),
                ('text', fields.CharField(default='', max_length=500)),
                ('household', fields.ForeignKeyField('models.Household', source_field='household_id', null=True, db_constraint=True, to_field='id', related_name='inbound_replies', on_delete=OnDelete.SET_NULL)),
                ('visit', fields.ForeignKeyField('models.Visit', source_field='visit_id', null=True, db_constraint=True, to_field='id', related_name='inbound_replies', on_delete=OnDelete.SET_NULL)),
                ('outcome', fields.CharEnumField(description='APPLIED: applied\nNOT_UNDERSTOOD: not_understood\nUNKNOWN_SENDER: unknown_sender\nNO_PENDING_VISIT: no_visit\nREFUSED: refused', enum_type=InboundOutcome, max_length=16)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'inbound_reply', 'app': 'models', 'unique_together': (('gateway', 'message_id'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='NeedsAssessment',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('household', fields.ForeignKeyField('models.Household', source_field='household_id', db_constraint=True, to_field='id', related_name='assessments', on_delete=OnDelete.CASCADE)),
                ('need', fields.CharEnumField(description='TELECOM_DISCOUNT: TELECOM_DISCOUNT\nHOME_CARE: HOME_CARE\nHOME_REPAIR: HOME_REPAIR\nHEALTH_SUPPORT: HEALTH_SUPPORT\nVOCATIONAL_TRAINING: VOCATIONAL_TRAINING\nJOB_PLACEMENT: JOB_PLACEMENT\nEDUCATION_SUPPORT: EDUCATION_SUPPORT\nPSYCHOLOGICAL_SUPPORT: PSYCHOLOGICAL_SUPPORT\nLEGAL_AID: LEGAL_AID\nBENEFITS_HELP: BENEFITS_HELP', enum_type=NeedCode, max_length=32)),
                ('description', fields.TextField(unique=False)),
                ('severity', fields.SmallIntField()),
                ('since', fields.DateField(null=True)),
                ('assessed_by', fields.ForeignKeyField('models.User', source_field='assessed_by_id', null=True, db_constraint=True, to_field='id', related_name='assessments', on_delete=OnDelete.SET_NULL)),
                ('outcome', fields.CharEnumField(description='OPENED: opened\nCLOSED: closed\nKEPT: kept', enum_type=AssessmentOutcome, max_length=12)),
                ('request', fields.ForeignKeyField('models.ServiceRequest', source_field='request_id', null=True, db_constraint=True, to_field='id', related_name='assessments', on_delete=OnDelete.SET_NULL)),
                ('close_note', fields.CharField(default='', max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'needs_assessment', 'app': 'models', 'indexes': [Index(fields=['household_id', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Referral',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('household', fields.OneToOneField('models.Household', source_field='household_id', db_constraint=True, to_field='id', related_name='referral', on_delete=OnDelete.CASCADE)),
                ('source', fields.CharEnumField(description='HOTLINE: hotline\nWALK_IN: walk_in\nDOOR_KNOCK: door_knock\nAGENCY: agency', enum_type=ReferralSource, max_length=16)),
                ('referrer_name', fields.CharField(default='', max_length=64)),
                ('referrer_agency', fields.CharField(default='', max_length=128)),
                ('registered_by', fields.ForeignKeyField('models.User', source_field='registered_by_id', null=True, db_constraint=True, to_field='id', related_name='referrals', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'referral', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
