from tortoise import migrations
from tortoise.migrations import operations as ops

from alliance.matching.models import TextJSONField

# request_match.reasons from json to text on PostgreSQL (SQLite keeps JSON as text already): a full
# re-match of a province COPYs twenty million rows, and checking each row's reasons as JSON cost the
# server about 0.4 µs a row (some 8 s of CPU a night, on the core the search needs; docs/scale.md).
# Matching writes the text itself and nothing queries inside it.


async def to_text(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script('ALTER TABLE "request_match" ALTER COLUMN "reasons" TYPE TEXT')


async def to_json(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script(
            'ALTER TABLE "request_match" ALTER COLUMN "reasons" TYPE JSON USING "reasons"::json'
        )


class AlterFieldState(ops.AlterField):
    # The column is changed by to_text above; only the migration state follows.
    async def database_forward(self, app_label, old_state, new_state, state_editor=None) -> None:
        return None

    async def database_backward(self, app_label, old_state, new_state, state_editor=None) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [("models", "0045_match_without_offering_index")]

    initial = False

    operations = [
        ops.RunPython(to_text, to_json),
        AlterFieldState(model_name="Match", name="reasons", field=TextJSONField(default=list)),
    ]
