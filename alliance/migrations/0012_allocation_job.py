from tortoise import migrations
from tortoise.migrations import operations as ops
from alliance.core.codes import ProposalState
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0011_phone_address_index')]

    initial = False

    operations = [
        ops.AddField(
            model_name='AllocationProposal',
            name='error',
            field=fields.CharField(default='', max_length=255),
        ),
        ops.AddField(
            model_name='AllocationProposal',
            name='finished_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='AllocationProposal',
            name='progress',
            field=fields.SmallIntField(default=100),
        ),
        ops.AddField(
            model_name='AllocationProposal',
            name='requests_considered',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='AllocationProposal',
            name='stage',
            field=fields.CharField(default='', max_length=16),
        ),
        ops.AddField(
            model_name='AllocationProposal',
            name='state',
            field=fields.CharEnumField(default=ProposalState.READY, description='QUEUED: queued\nCOMPUTING: computing\nREADY: ready\nFAILED: failed', enum_type=ProposalState, max_length=10),
        ),
    ]
