from tortoise import migrations
from tortoise.migrations import operations as ops

from alliance.matching.models import StoredReasons, TextJSONField

# request_match.reasons in the short form of StoredReasons (alliance/matching/models.py:
# "d5-10;c43/43" instead of the JSON list): a province's twenty million matches are rewritten every
# night and the JSON was more than half of each row (docs/scale.md). The column stays text; rows
# written before are read as they are (JSON) until the next re-match writes them again. Only the
# field's state changes.


class AlterFieldState(ops.AlterField):
    async def database_forward(self, app_label, old_state, new_state, state_editor=None) -> None:
        return None

    async def database_backward(self, app_label, old_state, new_state, state_editor=None) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [("models", "0046_match_reasons_as_text")]

    initial = False

    operations = [
        AlterFieldState(
            model_name="Match", name="reasons", field=TextJSONField(default=list, encoder=StoredReasons.encode, decoder=StoredReasons.decode)
        ),
    ]
