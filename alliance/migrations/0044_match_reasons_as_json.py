from tortoise import migrations
from tortoise.migrations import operations as ops

from alliance.matching.models import TextJSONField

# request_match.reasons from jsonb to json on PostgreSQL (SQLite keeps JSON as text already): a full
# re-match of a province COPYs twenty million rows, and the server's parsing of each row's reasons
# into jsonb cost a third of its COPY time (docs/scale.md). The text is kept as written; nothing
# queries inside it.


async def to_json(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script(
            'ALTER TABLE "request_match" ALTER COLUMN "reasons" TYPE JSON USING "reasons"::json'
        )


async def to_jsonb(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script(
            'ALTER TABLE "request_match" ALTER COLUMN "reasons" TYPE JSONB USING "reasons"::jsonb'
        )


class AlterFieldState(ops.AlterField):
    # The column is changed by to_json above; only the migration state follows.
    async def database_forward(self, app_label, old_state, new_state, state_editor=None) -> None:
        return None

    async def database_backward(self, app_label, old_state, new_state, state_editor=None) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [("models", "0043_promise_snapshot")]

    initial = False

    operations = [
        ops.RunPython(to_json, to_jsonb),
        AlterFieldState(model_name="Match", name="reasons", field=TextJSONField(default=list)),
    ]
